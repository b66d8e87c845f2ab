"""The on-device tagging pipeline in Python: what an app does with an exported tagger (.tflite
with metadata), step by step, and the reference its output is checked against.

1. Read `vocab.txt` and `labels.txt` packed in the .tflite (its TFLite Model Metadata).
2. Split the text into words with character offsets: runs of letters/digits, and every other
   non-space character on its own (BERT's basic tokenization); or take words already split.
3. WordPiece each word with the vocabulary (lowercased for uncased models); a word that yields
   nothing becomes `[UNK]`, so every word has a first sub-token.
4. Cut the sub-tokens into windows `[CLS] ... [SEP]` of at most L tokens that start at word
   starts and overlap by about half a window; each word is read from the window where it has the
   most context on both sides, at its first sub-token (`kbert.preprocessing.words`).
5. Run the model on each window (LiteRT's CompiledModel): `ids`, `mask` (1 on real tokens), `segment_ids` (0),
   int32 [1, L]; the output `logits` is [1, L, labels]. A dynamic-length file takes each window
   at its real length n instead (the inputs resized to [1, n], no padding); windows are still
   cut at the model's own window length, read from the file's `kbert.json`.
6. A word's label probabilities are the softmax of the logits at its first sub-token; its score
   their maximum.
7. Labels: for an IOB label set the most probable valid sequence of its scheme (Viterbi; IOB2:
   I-X only after B-X or I-X; IOB1: B-X only after B-X or I-X), otherwise each word's argmax.
8. Entities are the B-X I-X... runs (IOB1: an I-X after O opens one too), from the first word's
   start character to the last word's end (`kbert.tasks.tag_decoding`).

Steps 3-4 and 6-8 call the same functions the Keras model uses, so an app porting them has one
definition to follow and the comparison with Keras isolates the runtime and quantization.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from kbert.export.litert_runtime import LiteRtModel
from kbert.export.metadata import LABELS_FILE, SETTINGS_FILE, VOCAB_FILE, packed_files
from kbert.export.tflite import padded_inputs, stack_rows
from kbert.preprocessing import TextPreprocessor
from kbert.preprocessing.tokenizer import tokenizer_from_settings
from kbert.preprocessing.words import WordWindows, split_words, word_windows
from kbert.tasks.tag_decoding import Entity, decode_tags, entity_spans, resolve_scheme, softmax

class OnDeviceTagger:
    """An exported tagger run the way an app runs it (LiteRT CompiledModel, batch 1;
    `interpreter=True` for the classic Interpreter).

    Example:
    >>> tagger = OnDeviceTagger("out/ner/model.tflite")
    >>> tagger.tag([["Jeremy", "lives", "in", "Paris"]])
    [['B-PER', 'O', 'O', 'B-LOC']]
    >>> [(e.type, e.text, e.start) for e in tagger.entities("Jeremy lives in Paris.")]
    [('PER', 'Jeremy', 0), ('LOC', 'Paris', 16)]

    The labels and their scheme (IOB2, IOB1 or plain tags), casing, window length and window
    stride come from the file (labels.txt and kbert.json in its metadata); `lowercase` and
    `window_stride` override them (a file without kbert.json needs them, and is static).
    """

    def __init__(self, tflite_path: str | Path, *, lowercase: bool | None = None,
                 num_threads: int = 1, window_stride: int | None | str = "file",
                 interpreter: bool = False):
        files = packed_files(tflite_path)
        if VOCAB_FILE not in files or LABELS_FILE not in files:
            raise ValueError(f"{tflite_path} has no packed {VOCAB_FILE} and {LABELS_FILE}: write "
                             "its metadata with kbert.export.write_metadata.")
        stored = json.loads(files[SETTINGS_FILE]) if SETTINGS_FILE in files else {}
        vocabulary = files[VOCAB_FILE].decode("utf-8").splitlines()
        self.labels = files[LABELS_FILE].decode("utf-8").splitlines()
        settings = stored.get("settings", {})
        # Files written before schemes were recorded say only whether the labels are IOB.
        self.scheme = resolve_scheme(settings.get("scheme", settings.get("iob", "auto")),
                                     self.labels)
        self.iob = self.scheme is not None
        self._model = LiteRtModel(tflite_path, num_threads=num_threads, interpreter=interpreter)
        (self._output,) = self._model.output_names
        self.dynamic = self._model.dynamic
        if self.dynamic and "window_length" not in stored:
            raise ValueError(f"{tflite_path} takes any length but has no packed {SETTINGS_FILE} "
                             "saying its window length: write its metadata with "
                             "kbert.export.to_tflite or kbert.export.write_metadata.")
        # The window length: a static file's own; for a dynamic one, the model's windows.
        self.sequence_length = int(stored["window_length"] if self.dynamic
                                   else self._model.length)
        if lowercase is None:
            lowercase = bool(stored.get("lowercase", True))
        # The checkpoint's normalization as kbert.json records it (None: a file written before).
        tokenizer = tokenizer_from_settings(vocabulary, lowercase=lowercase,
                                            normalization=stored.get("normalization"))
        self.preprocessor = TextPreprocessor(tokenizer, self.sequence_length)
        self.window_stride = (stored.get("settings", {}).get("window_stride")
                              if window_stride == "file" else window_stride)

    def windows(self, sentences: Sequence[Sequence[str]]) -> WordWindows:
        """Steps 3-4: word lists to windows of sub-token ids."""
        return word_windows(self.preprocessor, sentences, stride=self.window_stride)

    def window_features(self, windows: WordWindows) -> list[dict[str, np.ndarray]]:
        """Step 5's inputs: one {ids, mask, segment_ids} int32 [1, L] dict per window ([1, n],
        its real length, for a dynamic file)."""
        return padded_inputs(windows.encoded.token_ids.to_list(), None, self.sequence_length,
                             self.preprocessor.pad_id, dynamic=self.dynamic)

    def run(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Step 5: one window through the model, logits [1, L, labels] ([1, n, labels] for a
        dynamic file; the inputs are resized to the window's length)."""
        return self._model(**features)[self._output]

    def word_scores(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Steps 3-6: per-word label probabilities, one (words, labels) array per sentence."""
        windows = self.windows(sentences)
        logits = stack_rows([self.run(f) for f in self.window_features(windows)],
                            self.sequence_length)
        return [softmax(s) for s in windows.word_outputs(logits)]

    def tags_from_scores(self, scores: list[np.ndarray]) -> list[list[str]]:
        """Step 7: labels from the probabilities; for entity label sets the most probable valid
        sequence of the scheme (`kbert.tasks.tag_decoding.decode_tags`, what the Keras tagger
        does)."""
        return [decode_tags(s, self.labels, self.scheme) for s in scores]

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One label per word of each sentence."""
        return self.tags_from_scores(self.word_scores(sentences))

    def entities(self, text: str) -> list[Entity]:
        """Steps 2-8 on a raw text: entities with character offsets into `text`."""
        words, _ = split_words(text, self.preprocessor.tokenizer)
        if not words:
            return []
        scores = self.word_scores([words])[0]
        return entity_spans(words, self.tags_from_scores([scores])[0], text,
                            scores=scores.max(-1))
