"""The on-device question-answering pipeline in Python: what an app does with an exported
question answerer (.tflite with metadata), step by step, and the reference its output is
checked against.

1. Read `vocab.txt` packed in the .tflite (its TFLite Model Metadata).
2. WordPiece the question (lowercased for uncased models), keeping at most `max_query_length`
   tokens.
3. Split the context into words with character spans (letter/digit runs; any other non-space
   character alone), WordPiece each word, and remember each sub-token's word.
4. Cut the context sub-tokens into windows `[CLS] question [SEP] context part [SEP]` of at most L
   tokens (segment ids 0 then 1) that start `doc_stride` tokens apart; a context token is decoded
   only from the window where it has the most context on both sides (`kbert.preprocessing.qa`).
5. Run the model on each window (LiteRT's CompiledModel): `ids`, `mask`, `segment_ids` int32 [1, L]; outputs
   `start_logits` and `end_logits` [1, L]. A dynamic-length file takes each window at its real
   length n ([1, n], no padding); windows are still cut at the model's window length.
6. Pair the 20 best start and end tokens of each window (end not before start, at most 30
   tokens); the best pair over all windows is the answer, its characters running from its first
   word's start to its last word's end; [CLS]'s start + end (lowest over windows) is the
   "no answer" score (`kbert.tasks.qa_decoding`).
7. A model trained with unanswerable questions answers "" when the no-answer score beats the best
   span by more than its null threshold.

Steps 2-4 and 6 call the same functions the Keras model uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from kbert.export.litert_runtime import LiteRtModel
from kbert.export.metadata import SETTINGS_FILE, VOCAB_FILE, file_settings, packed_files
from kbert.export.tflite import padded_inputs
from kbert.preprocessing import TextPreprocessor
from kbert.preprocessing.qa import QAWindows, qa_windows
from kbert.preprocessing.tokenizer import tokenizer_from_settings
from kbert.tasks.qa_decoding import Answer, decode_answers

FROM_FILE = "file"  # A setting read from the file's kbert.json.
# What a file without kbert.json is decoded with: QuestionAnswerer's own defaults.
_DEFAULTS = {"doc_stride": 128, "max_query_length": 64, "n_best": 20, "max_answer_length": 30,
             "version_2_with_negative": False, "null_threshold": 0.0}


class OnDeviceQuestionAnswerer:
    """An exported question answerer run the way an app runs it (LiteRT CompiledModel, batch 1;
    `interpreter=True` for the classic Interpreter).

    Example:
    >>> device = OnDeviceQuestionAnswerer("out/qa/model.tflite")
    >>> device.answer("Who lives in Paris?", "Jeremy lives in Paris.")
    {'text': 'Jeremy', 'score': 0.97, 'start': 0, 'end': 6}

    Every setting comes from the file itself (kbert.json in its metadata: casing, window
    length, question length, doc stride, n-best, maximum answer length, a v2.0 model's null
    threshold), however the pipeline is made; an argument given here overrides the file's
    (`null_threshold=None`: never abstain). A file without kbert.json falls back to kbert's
    defaults (doc stride 128, question 64 tokens, n-best 20, answers of 30 tokens, no null
    threshold). `from_model` takes them from the Keras model instead.
    """

    def __init__(self, tflite_path: str | Path, *, lowercase: bool | None = None,
                 num_threads: int = 1, doc_stride: int | None = None,
                 max_query_length: int | None = None, n_best: int | None = None,
                 max_answer_length: int | None = None,
                 null_threshold: float | None | str = FROM_FILE,
                 window_length: int | None = None, interpreter: bool = False):
        files = packed_files(tflite_path)
        if VOCAB_FILE not in files:
            raise ValueError(f"{tflite_path} has no packed {VOCAB_FILE}: write its metadata with "
                             "kbert.export.write_metadata.")
        stored = file_settings(tflite_path) if SETTINGS_FILE in files else {}
        settings = {**_DEFAULTS, **stored.get("settings", {})}
        self._model = LiteRtModel(tflite_path, num_threads=num_threads, interpreter=interpreter)
        self.dynamic = self._model.dynamic
        if self.dynamic and window_length is None:
            if "window_length" not in stored:
                raise ValueError(f"{tflite_path} takes any length but has no packed "
                                 f"{SETTINGS_FILE} saying its window length: pass window_length "
                                 "or write its metadata with kbert.export.to_tflite.")
            window_length = stored["window_length"]
        if lowercase is None:
            lowercase = bool(stored.get("lowercase", True))
        if null_threshold == FROM_FILE:  # Only a model trained to abstain (v2.0) has one.
            null_threshold = (float(settings["null_threshold"])
                              if settings.get("version_2_with_negative") else None)
        doc_stride, max_query_length, n_best, max_answer_length = (
            int(settings[name] if given is None else given) for name, given in (
                ("doc_stride", doc_stride), ("max_query_length", max_query_length),
                ("n_best", n_best), ("max_answer_length", max_answer_length)))
        # Windows are cut at the model's window length; a static file's is its own.
        self.sequence_length = int(window_length if self.dynamic else self._model.length)
        # The checkpoint's normalization as kbert.json records it (None: a file written before).
        tokenizer = tokenizer_from_settings(
            files[VOCAB_FILE].decode("utf-8").splitlines(), lowercase=lowercase,
            normalization=stored.get("normalization"))
        self.preprocessor = TextPreprocessor(tokenizer, self.sequence_length)
        self.doc_stride, self.max_query_length = doc_stride, max_query_length
        self.n_best, self.max_answer_length = n_best, max_answer_length
        self.null_threshold = null_threshold

    @classmethod
    def from_file(cls, tflite_path: str | Path, **kwargs) -> "OnDeviceQuestionAnswerer":
        """With the settings packed in the file by `kbert.export.to_tflite` (what the
        constructor does; kept for code that calls it): no Keras model needed, keyword
        arguments override them. Raises `ValueError` for a file without kbert.json.

        Example:
        >>> device = OnDeviceQuestionAnswerer.from_file("out/qa/model.tflite")
        >>> device.doc_stride, device.null_threshold
        (128, -1.25)
        """
        file_settings(tflite_path)  # A file without kbert.json is refused here, as before.
        return cls(tflite_path, **kwargs)

    @classmethod
    def from_model(cls, tflite_path: str | Path, model, **kwargs) -> "OnDeviceQuestionAnswerer":
        """With the decoding settings of the `kbert.QuestionAnswerer` that was exported."""
        return cls(tflite_path, lowercase=bool(model.preprocessor.tokenizer.lowercase),
                   doc_stride=model.doc_stride, max_query_length=model.max_query_length,
                   n_best=model.n_best, max_answer_length=model.max_answer_length,
                   null_threshold=model.null_threshold if model.version_2_with_negative else None,
                   **{"window_length": model.preprocessor.sequence_length, **kwargs})

    def windows(self, questions: Sequence[str], contexts: Sequence[str]) -> QAWindows:
        """Steps 2-4."""
        return qa_windows(self.preprocessor, questions, contexts, doc_stride=self.doc_stride,
                          max_query_length=self.max_query_length)

    def window_features(self, windows: QAWindows) -> list[dict[str, np.ndarray]]:
        """Step 5's inputs: one {ids, mask, segment_ids} int32 [1, L] dict per window ([1, n],
        its real length, for a dynamic file)."""
        return padded_inputs(windows.encoded.token_ids.to_list(),
                             windows.encoded.segment_ids.to_list(), self.sequence_length,
                             self.preprocessor.pad_id, dynamic=self.dynamic)

    def run(self, features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Step 5: one window through the model: (start_logits, end_logits), each [L]
        (padded with zeros past a dynamic file's real length n; decoding reads real tokens)."""
        outputs = self._model(**features)
        width = self.sequence_length
        return tuple(np.pad(outputs[n][0], (0, width - outputs[n].shape[1]))
                     for n in ("start_logits", "end_logits"))

    def best_spans(self, questions: Sequence[str], contexts: Sequence[str]) -> list[Answer]:
        """Steps 2-6: the best non-null span of each question."""
        windows = self.windows(questions, contexts)
        starts, ends = zip(*(self.run(f) for f in self.window_features(windows)))
        return decode_answers(windows, np.stack(starts), np.stack(ends), list(contexts),
                              n_best=self.n_best, max_answer_length=self.max_answer_length)

    def final_text(self, span: Answer) -> str:
        """Step 7."""
        if self.null_threshold is not None and span.null_score_diff > self.null_threshold:
            return ""
        return span.text

    def answer(self, question: str, context: str) -> dict:
        """The answer to one question: text ("" if none), score, character start and end."""
        span = self.best_spans([question], [context])[0]
        text = self.final_text(span)
        return {"text": text, "score": span.score if text else 0.0,
                "start": span.start if text else 0, "end": span.end if text else 0}
