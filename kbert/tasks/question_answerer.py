"""Extractive question answering (SQuAD v1.1 and v2.0): the answer is a span of the context."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from kbert.data.squad import QAExamples
from kbert.errors import KbertInputError
from kbert.preprocessing import features
from kbert.preprocessing.qa import qa_windows
from kbert.tasks import exports, heads
from kbert.tasks.qa_decoding import Answer, decode_answers
from kbert.tasks.task import Prepared, Task
from kbert.training import metrics


@keras.saving.register_keras_serializable(package="kbert")
def span_loss(y_true, y_pred):
    """Mean of the start and end cross-entropies; y_true [batch, 2] positions, y_pred
    [batch, length, 2] logits."""
    y_true = ops.cast(y_true, "int32")
    start = keras.losses.sparse_categorical_crossentropy(y_true[:, 0], y_pred[..., 0],
                                                         from_logits=True)
    end = keras.losses.sparse_categorical_crossentropy(y_true[:, 1], y_pred[..., 1],
                                                       from_logits=True)
    return (start + end) / 2.0


@keras.saving.register_keras_serializable(package="kbert")
class QuestionAnswerer(Task):
    """A BERT encoder with a span head: start and end logits for every token.

    Example:
    >>> qa = kbert.QuestionAnswerer.from_preset("minilm_l6_uncased", sequence_length=384,
    ...                                         doc_stride=128)
    >>> qa.fit(kbert.data.read_squad("train-v1.1.json"), epochs=2)
    >>> qa.answer(["Who lives in Paris?"], ["Jeremy lives in Paris."])
    [{'text': 'Jeremy', 'score': 0.93, 'start': 0, 'end': 6}]

    Training examples are `kbert.data.read_squad` output or SQuAD-style dicts {"question",
    "context", "answers": [{"text", "answer_start"}]} (an empty answer list: unanswerable).
    Long contexts are read in windows `doc_stride` tokens apart; a window without the answer
    points at [CLS]. Answers are decoded n-best (`n_best`, `max_answer_length` tokens) across
    all windows of a context. With `version_2_with_negative=True` a question gets "" when the
    [CLS] score beats the best span by more than `null_threshold`, which
    `fit_null_threshold` chooses on evaluation data (it is saved with the model).
    """

    decoding_settings = ("n_best", "max_answer_length", "null_threshold")

    fit_inputs = "SQuAD-style examples"
    streams = False
    default_sequence_length = 384  # SQuAD's usual windows (from_preset's default).

    def __init__(self, backbone, preprocessor, doc_stride: int = 128,
                 max_query_length: int = 64, n_best: int = 20, max_answer_length: int = 30,
                 version_2_with_negative: bool = False, null_threshold: float = 0.0,
                 dropout: float = 0.1, **kwargs):
        inputs = backbone.input
        sequence = backbone(inputs)["sequence_output"]
        hidden = keras.layers.Dropout(dropout, name="head_dropout")(sequence)
        logits = keras.layers.Dense(2, dtype="float32", name="span_logits",
                                    kernel_initializer=heads.head_initializer())(hidden)
        # Padding can never be a start or an end.
        padding = ops.expand_dims(1.0 - ops.cast(inputs["padding_mask"], "float32"), -1)
        logits = logits - 10000.0 * padding
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone,
                         preprocessor=preprocessor, **kwargs)
        self.doc_stride, self.max_query_length = int(doc_stride), int(max_query_length)
        self.n_best, self.max_answer_length = int(n_best), int(max_answer_length)
        self.version_2_with_negative = bool(version_2_with_negative)
        self.null_threshold = float(null_threshold)
        self.dropout = dropout

    def get_config(self):
        return {**super().get_config(), "doc_stride": self.doc_stride,
                "max_query_length": self.max_query_length, "n_best": self.n_best,
                "max_answer_length": self.max_answer_length,
                "version_2_with_negative": self.version_2_with_negative,
                "null_threshold": self.null_threshold, "dropout": self.dropout}

    def _default_loss(self):
        return span_loss

    def distillation_loss(self, teacher_outputs, student_outputs, *, temperature: float,
                          padding_mask=None):
        """What a student of this span head learns (`kbert.distill`): the teacher's start and
        end distributions over each window's positions, softened at `temperature` (KL
        divergence, times temperature², the mean of start and end). Padding already has
        -10000 logits in both models: no probability there.

        Example:
        >>> qa.distillation_loss(teacher_logits, student_logits, temperature=2.0)
        """
        from kbert.training import distill

        start = distill.soft_kl(teacher_outputs[..., 0], student_outputs[..., 0], temperature,
                                axis=1)
        end = distill.soft_kl(teacher_outputs[..., 1], student_outputs[..., 1], temperature,
                              axis=1)
        return (start + end) / 2.0

    def _target_spec(self) -> features.TargetSpec:
        # [start, end] token positions of the answer in the row ([CLS], 0, for no answer).
        return features.TargetSpec("answer start/end position", shapes=((2,),), low=0,
                                   high="length", integer=True)

    # ----------------------------------------------------------------------------- export
    def export_spec(self) -> exports.ExportSpec:
        """Exports `start_logits` and `end_logits` [batch, length] (the BERT QA convention
        Android apps follow). The raw-text SavedModel takes `question` and `context` and reads
        one window, [CLS] question [SEP] context [SEP] cut to the sequence length; longer contexts
        go through kbert's windows (`pack`, the token-id signature). MediaPipe Tasks has no
        extractive-QA task.

        Example:
        >>> qa.export_spec().output_names
        ('start_logits', 'end_logits')
        """
        def pack(x, sequence_length: int, name: str = "x") -> Prepared:
            examples = _as_qa_examples(x, name)
            windows = qa_windows(exports.at_length(self.preprocessor, sequence_length),
                                 examples.questions, examples.contexts, None,
                                 doc_stride=self.doc_stride, max_query_length=self.max_query_length)
            return Prepared(examples, windows.encoded, None, pairs=True, windows=windows)

        span = " over the [1, L] input tokens."
        return exports.ExportSpec(
            task="question_answerer",
            outputs=lambda outputs: {"start_logits": outputs[..., 0],
                                     "end_logits": outputs[..., 1]},
            output_names=("start_logits", "end_logits"),
            output_descriptions={"start_logits": "Per-token start logits" + span,
                                 "end_logits": "Per-token end logits" + span},
            description="Extractive question answerer (BERT QA convention): ids, mask and "
                        "segment_ids hold [CLS] question [SEP] context [SEP]; start_logits and "
                        "end_logits score each token as the answer's first and last. Exported "
                        "by kbert.",
            input_kind="squad", pack=pack, text_inputs=("question", "context"),
            raw_text=lambda examples: [list(examples.questions), list(examples.contexts)],
            verify="answers",
            mediapipe_note="MediaPipe Tasks has no extractive question-answering task; an app "
                           "runs the file with the LiteRT interpreter "
                           "(kbert.export.OnDeviceQuestionAnswerer shows the steps)",
            settings={"doc_stride": self.doc_stride, "max_query_length": self.max_query_length,
                      "n_best": self.n_best, "max_answer_length": self.max_answer_length,
                      "version_2_with_negative": self.version_2_with_negative,
                      "null_threshold": self.null_threshold})

    # ----------------------------------------------------------------------------- data
    def _prepare_text(self, x, y=None, *, name: str = "x") -> Prepared:
        """Checks questions, contexts (and answers) and tokenizes them into windows once.

        Example:
        >>> prepared = qa.prepare(kbert.data.read_squad("dev-v2.0.json"))
        """
        examples = _as_qa_examples(x, name)
        windows = qa_windows(self.preprocessor, examples.questions, examples.contexts,
                             examples.answers, doc_stride=self.doc_stride,
                             max_query_length=self.max_query_length)
        return Prepared(examples, windows.encoded, windows.targets, pairs=True, windows=windows)

    # ----------------------------------------------------------------------------- use
    def best_spans(self, x, batch_size: int = 32) -> tuple[Prepared, list[Answer]]:
        """The best non-null span of every question (before the null threshold)."""
        prepared = self._raw_inputs(x, what="best_spans")
        logits = self.window_outputs(prepared, batch_size)
        return prepared, self.decode(prepared, logits[..., 0], logits[..., 1])

    def decode(self, prepared: Prepared, start_logits: np.ndarray,
               end_logits: np.ndarray) -> list[Answer]:
        """n-best decoding of [windows, length] logits computed anywhere (Keras or LiteRT)."""
        return decode_answers(prepared.windows, start_logits, end_logits,
                              prepared.examples.contexts, n_best=self.n_best,
                              max_answer_length=self.max_answer_length)

    def final_text(self, answer: Answer) -> str:
        """The answer shown to a user: "" when the model abstains (v2.0)."""
        if self.version_2_with_negative and answer.null_score_diff > self.null_threshold:
            return ""
        return answer.text

    def answer(self, questions: Sequence[str], contexts: Sequence[str],
               batch_size: int = 32) -> list[dict]:
        """The answer to each question in its context: text, score, character start and end
        ("" with score 0 when a v2.0 model abstains).

        Example:
        >>> qa.answer(["Who lives in Paris?"], ["Jeremy lives in Paris."])[0]["text"]
        'Jeremy'
        """
        if len(questions) != len(contexts):
            raise KbertInputError(f"{len(questions)} questions but {len(contexts)} contexts",
                                  source="answer")
        records = [{"question": q, "context": c} for q, c in zip(questions, contexts)]
        _, spans = self.best_spans(records, batch_size)
        results = []
        for span in spans:
            text = self.final_text(span)
            results.append({"text": text, "score": span.score if text else 0.0,
                            "start": span.start if text else 0, "end": span.end if text else 0})
        return results

    def predict(self, x, batch_size: int = 32, **kwargs) -> dict[str, str]:
        """Official-format predictions: {question id: answer text} ("" for no answer); for
        pre-tokenized arrays, the start and end logits [rows, tokens, 2]."""
        if features.is_features(x):
            return Task.predict(self, x, batch_size, **kwargs)
        prepared, spans = self.best_spans(x, batch_size)
        return {qid: self.final_text(s) for qid, s in zip(prepared.examples.ids, spans)}

    def evaluate_metrics(self, x, y=None, batch_size: int = 64) -> dict[str, float]:
        """The official SQuAD scores (percent): exact_match and f1 for v1.1 data; for data with
        unanswerable questions (v2.0) exact, f1, HasAns_/NoAns_ exact and f1 at the model's
        null threshold, plus best_f1 and best_f1_thresh (the threshold that would be best here).
        """
        prepared, spans = self.best_spans(x, batch_size)
        return self.metrics_for(spans, prepared)

    def metrics_for(self, outputs: list[Answer], x, y=None) -> dict[str, float]:
        """The same report for answers decoded elsewhere (e.g. from the exported TFLite model)."""
        prepared = self._raw_inputs(x, what="metrics_for")
        examples = prepared.examples
        if examples.answers is None:
            raise KbertInputError("evaluation needs answers", source=examples.source)
        dataset = examples.official_dataset()
        if not (self.version_2_with_negative or examples.has_unanswerable):
            return metrics.squad_report(dataset, {qid: s.text for qid, s in zip(examples.ids, outputs)})
        report = metrics.squad_report(
            dataset, {qid: self.final_text(s) for qid, s in zip(examples.ids, outputs)},
            version_2=True)
        best_f1, threshold = metrics.best_null_threshold(
            dataset, {qid: s.text for qid, s in zip(examples.ids, outputs)},
            {qid: s.null_score_diff for qid, s in zip(examples.ids, outputs)})
        return {**report, "best_f1": best_f1, "best_f1_thresh": threshold}

    def fit_null_threshold(self, x, batch_size: int = 64) -> dict[str, float]:
        """Chooses (and keeps with the model) the null-score-difference threshold that maximizes
        F1 on `x` (v2.0-style data), and returns the report at that threshold.

        Example:
        >>> qa.fit_null_threshold(dev_examples)["f1"]
        64.2
        """
        self.version_2_with_negative = True
        prepared, spans = self.best_spans(x, batch_size)
        self.null_threshold = self.metrics_for(spans, prepared)["best_f1_thresh"]
        return self.metrics_for(spans, prepared)


def _as_qa_examples(x, name: str) -> QAExamples:
    """SQuAD-style records (or QAExamples) checked into QAExamples."""
    if isinstance(x, QAExamples):
        return x
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise KbertInputError("expected a list of {'question', 'context', 'answers'} records",
                              source=name)
    from kbert.data.squad import from_articles

    articles = []
    for i, record in enumerate(x):
        if not isinstance(record, dict):
            raise KbertInputError(f"expected a dict with 'question' and 'context', got "
                                  f"{type(record).__name__}", source=name, row=i)
        qa = {"id": str(record.get("id", i)), "question": record.get("question"),
              "answers": record.get("answers", [])}
        if "is_impossible" in record:
            qa["is_impossible"] = record["is_impossible"]
        articles.append({"title": str(record.get("title", f"record {i}")),
                         "paragraphs": [{"context": record.get("context"), "qas": [qa]}]})
    examples = from_articles(articles, source=name)
    if all("answers" not in record for record in x):
        examples.answers = None  # Prediction only.
    return examples
