"""Token classification: one label per word (named entities, part-of-speech tags)."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from kbert.data.conll import TaggedSentences
from kbert.errors import KbertInputError
from kbert.preprocessing import features
from kbert.preprocessing.words import IGNORE, word_windows
from kbert.tasks import exports, heads
from kbert.tasks.tag_decoding import decode_tags, entity_spans, resolve_scheme, softmax
from kbert.tasks.task import Prepared, Task
from kbert.training import metrics


@keras.saving.register_keras_serializable(package="kbert")
class TokenAccuracy(keras.metrics.Metric):
    """Accuracy over the sub-tokens that carry a label (targets of IGNORE are skipped)."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        labelled = keras.ops.cast(keras.ops.not_equal(y_true, IGNORE), "float32")
        hits = keras.ops.cast(keras.ops.equal(
            keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32")
        self.correct.assign_add(keras.ops.sum(hits * labelled))
        self.total.assign_add(keras.ops.sum(labelled))

    def result(self):
        return self.correct / keras.ops.maximum(self.total, 1.0)


@keras.saving.register_keras_serializable(package="kbert")
class TokenClassifier(Task):
    """A BERT encoder with a per-token linear head: one label per word.

    Example:
    >>> tagger = kbert.TokenClassifier.from_preset("minilm_l6_uncased",
    ...                                            labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    >>> tagger.fit([["Jeremy", "lives", "in", "Paris"]], [["B-PER", "O", "O", "B-LOC"]], epochs=3)
    >>> tagger.predict([["Anna", "moved", "to", "Berlin"]])
    [['B-PER', 'O', 'O', 'B-LOC']]
    >>> tagger.entities([["Anna", "moved", "to", "Berlin"]])[0][0].text
    'Anna'

    Inputs are word lists (or `kbert.data.read_conll` sentences); labels are tag names. A
    word's first sub-token carries its label and the others are left out of the loss
    (`label_all_subtokens=True` trains them too, continuing B-X as I-X). Sentences longer than
    the sequence length are read in overlapping windows (`window_stride` sub-tokens apart,
    default half a window) and every word gets exactly one prediction. Predicted IOB sequences
    are the most probable valid ones of the label set's `scheme`: "IOB2" (B-X opens every
    entity), "IOB1" (I-X after O opens one; B-X only splits two adjacent entities of a type),
    or None for plain tags (POS: each word's argmax). "auto" reads it from the labels
    (`kbert.tasks.tag_decoding.tag_scheme`: I- tags with no B- of their type are IOB1).
    """

    fit_inputs = "word lists (or kbert.data.read_conll sentences) with their tags"
    streams = False
    # The loss is a mean over each batch's labelled words, so in length buckets a word of a
    # short sentence weighs more: CoNLL's 16-token batches hold about 190 labelled words, its
    # 64-token ones about 1,060. Mixed batches, as transformers trains, measured +1.3 word
    # accuracy on CoNLL POS and no loss of NER F1, for 2.3x the padded positions (RESULTS.md, issue
    # 22, "length buckets and pooling measured").
    group_by_length = False

    def __init__(self, backbone, preprocessor, labels: Sequence[str],
                 label_all_subtokens: bool = False, window_stride: int | None = None,
                 dropout: float = 0.1, scheme: str | None = "auto", **kwargs):
        labels = [str(label) for label in labels]
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be at least 2 distinct tags; got {labels}.")
        scheme = resolve_scheme(scheme, labels)
        inputs = backbone.input
        sequence = backbone(inputs)["sequence_output"]
        hidden = keras.layers.Dropout(dropout, name="head_dropout")(sequence)
        logits = keras.layers.Dense(len(labels), dtype="float32", name="logits",
                                    kernel_initializer=heads.head_initializer())(hidden)
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone,
                         preprocessor=preprocessor, **kwargs)
        self.labels = labels
        self.label_all_subtokens = bool(label_all_subtokens)
        self.window_stride = window_stride
        self.dropout = dropout
        self.scheme = scheme
        self.iob = scheme is not None  # Whether tags are entities (IOB2 or IOB1).
        index = {label: i for i, label in enumerate(labels)}
        # The label a non-first sub-token gets with label_all_subtokens: B-X continues as I-X.
        self._continuation = np.array(
            [index.get("I-" + l[2:], i) if l.startswith("B-") else i for i, l in enumerate(labels)])

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def get_config(self):
        return {**super().get_config(), "labels": self.labels,
                "label_all_subtokens": self.label_all_subtokens,
                "window_stride": self.window_stride, "dropout": self.dropout,
                "scheme": self.scheme}

    def _default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE)

    def _default_metrics(self):
        return [TokenAccuracy()]

    def distillation_loss(self, teacher_outputs, student_outputs, *, temperature: float,
                          padding_mask=None):
        """What a student of this tagger learns (`kbert.distill`): the teacher's label
        distribution at every real token (every sub-token, not only the labelled first ones),
        softened at `temperature` (KL divergence, times temperature²).

        Example:
        >>> tagger.distillation_loss(teacher_logits, student_logits, temperature=2.0,
        ...                          padding_mask=mask)
        """
        from kbert.training import distill

        return distill.soft_kl(teacher_outputs, student_outputs, temperature, axis=-1,
                               weights=padding_mask)

    def _target_spec(self) -> features.TargetSpec:
        return features.TargetSpec(f"tag id ({self.num_labels} labels)", shapes=(("tokens",),),
                                   low=0, high=self.num_labels - 1, integer=True, ignore=IGNORE)

    # ----------------------------------------------------------------------------- data
    def _prepare_text(self, x, y=None, *, name: str = "x") -> Prepared:
        """Checks word lists (and tags), then tokenizes them into windows once.

        Example:
        >>> prepared = tagger.prepare(kbert.data.read_conll("conll2003/train.txt"))
        """
        sentences = _as_sentences(x, y, name)
        label_ids = None if sentences.tags is None else self._label_ids(sentences)
        windows = word_windows(self.preprocessor, sentences.words, label_ids,
                               stride=self.window_stride,
                               label_all_subtokens=self.label_all_subtokens,
                               continuation=self._continuation)
        return Prepared(sentences, windows.encoded, windows.targets, windows=windows)

    def _label_ids(self, sentences: TaggedSentences) -> list[np.ndarray]:
        index = {label: i for i, label in enumerate(self.labels)}
        ids = []
        for s, (words, tags) in enumerate(zip(sentences.words, sentences.tags)):
            row = sentences.rows[s]
            if len(tags) != len(words):
                raise KbertInputError(f"{len(words)} words but {len(tags)} tags",
                                      source=sentences.source, row=row, field="tags")
            try:
                ids.append(np.array([index[tag] for tag in tags], np.int32))
            except KeyError:
                word = next(i for i, tag in enumerate(tags) if tag not in index)
                raise KbertInputError(
                    f"unknown tag {tags[word]!r} (word {word + 1}, {words[word]!r}): expected one "
                    f"of {self.labels}", source=sentences.source, row=row, field="tags") from None
        return ids

    # ----------------------------------------------------------------------------- train / use
    def predict_scores(self, x, batch_size: int = 32) -> list[np.ndarray]:
        """Per-word label probabilities: one (words, labels) array per sentence.

        Example:
        >>> tagger.predict_scores([["Jeremy", "lives"]])[0].shape
        (2, 5)
        """
        prepared = self._raw_inputs(x, what="predict_scores")
        return [softmax(w) for w in prepared.windows.word_outputs(
            self.window_outputs(prepared, batch_size))]

    def predict(self, x, batch_size: int = 32, **kwargs) -> list[list[str]]:
        """One tag per word of each sentence (for IOB labels the most probable valid sequence
        of the model's `scheme`, `kbert.tasks.tag_decoding.decode_iob`); for pre-tokenized arrays, the
        per-token logits [rows, tokens, labels]."""
        if features.is_features(x):
            return Task.predict(self, x, batch_size, **kwargs)
        return self.tags_from_scores(self.predict_scores(x, batch_size))

    def tags_from_scores(self, scores: list[np.ndarray]) -> list[list[str]]:
        """Tags from per-word probabilities of each sentence (`decode_tags`)."""
        return [decode_tags(s, self.labels, self.scheme) for s in scores]

    def entities(self, x, batch_size: int = 32) -> list[list]:
        """Entity spans of each sentence (type, text, character offsets into the words joined
        by spaces, score): see `kbert.tasks.tag_decoding.entity_spans`."""
        sentences = _as_sentences(x, None, "x")
        scores = self.predict_scores(sentences, batch_size)
        return [entity_spans(words, tags, scores=s.max(-1))
                for words, tags, s in zip(sentences.words, self.tags_from_scores(scores), scores)]

    def evaluate_metrics(self, x, y=None, batch_size: int = 64) -> dict[str, float]:
        """Word accuracy; for IOB labels entity-level precision, recall and F1 (seqeval in the
        model's scheme, `kbert.training.metrics.tagging_report`) overall and per entity type,
        and the token loss.

        Example:
        >>> tagger.evaluate_metrics(kbert.data.read_conll("conll2003/valid.txt"))["f1"]
        0.89
        """
        prepared = self._raw_inputs(x, y, what="evaluate_metrics")
        self._require_targets(prepared, "evaluate_metrics")
        logits = self.window_outputs(prepared, batch_size)
        report = self._report_words(prepared, prepared.windows.word_outputs(logits))
        return {"loss": _token_loss(logits, prepared), **report}

    def metrics_for(self, outputs, x, y=None) -> dict[str, float]:
        """The same report for per-word scores computed elsewhere (e.g. by the exported TFLite
        model through `kbert.export`'s reference pipeline): one (words, labels) array per
        sentence."""
        prepared = self._raw_inputs(x, y, what="metrics_for")
        self._require_targets(prepared, "metrics_for")
        return self._report_words(prepared, outputs)

    def _report_words(self, prepared: Prepared, word_scores: list[np.ndarray]) -> dict[str, float]:
        true = prepared.examples.tags
        return metrics.tagging_report(true, self.tags_from_scores(word_scores), self.scheme)

    # ----------------------------------------------------------------------------- export
    def export_spec(self) -> exports.ExportSpec:
        """Exports per-token `logits` [batch, length, labels] with labels.txt; the raw-text
        SavedModel (a sentence string, split by the tokenizer, read in one window) adds `label`
        [batch, length], every token's top label ("" on padding). Word lists are windowed the
        tagger's way at any length (`pack`); MediaPipe has no token-classification task.

        Example:
        >>> tagger.export_spec().labels
        ('O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC')
        """
        def pack(x, sequence_length: int, name: str = "x") -> Prepared:
            sentences = _as_sentences(x, None, name)
            windows = word_windows(exports.at_length(self.preprocessor, sequence_length),
                                   sentences.words, stride=self.window_stride)
            return Prepared(sentences, windows.encoded, None, windows=windows)

        return exports.ExportSpec(
            task="tagger", outputs=lambda outputs: {"logits": outputs}, output_names=("logits",),
            output_descriptions={"logits": "Per-token logits over the labels of labels.txt "
                                           "(last axis)."},
            description=f"Word tagger over {len(self.labels)} labels; the output holds per-token "
                        "logits [1, length, labels]; a word's label is read at its first "
                        "sub-token. Exported by kbert.",
            input_kind="words", pack=pack,
            raw_text=lambda sentences: [[" ".join(words) for words in sentences.words]],
            text_outputs=exports.token_labels(self.labels, "logits"), labels=tuple(self.labels),
            labelled_output="logits", verify="tags",
            mediapipe_note="MediaPipe Tasks has no token-classification text task; an app runs "
                           "the file with the LiteRT interpreter (kbert.export.OnDeviceTagger "
                           "shows the steps)",
            settings={"window_stride": self.window_stride, "iob": self.iob,
                      "scheme": self.scheme})


def _token_loss(window_logits: np.ndarray, prepared: Prepared) -> float:
    """Mean cross-entropy over the labelled sub-tokens (the training loss, without dropout)."""
    targets = prepared.targets
    lengths = targets.row_lengths().numpy()
    rows = np.repeat(np.arange(len(lengths)), lengths)
    positions = np.concatenate([np.arange(n) for n in lengths])
    labels = targets.flat_values.numpy()
    keep = labels != IGNORE
    picked = softmax(window_logits[rows[keep], positions[keep]])[np.arange(keep.sum()), labels[keep]]
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def _as_sentences(x, y, name: str) -> TaggedSentences:
    """Word lists (and tag lists) checked into `TaggedSentences`."""
    if isinstance(x, TaggedSentences):
        if y is None:
            return x
        x = x.words
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise KbertInputError("expected a list of sentences, each a list of words", source=name)
    words = []
    for s, sentence in enumerate(x):
        if isinstance(sentence, (str, bytes)) or not isinstance(sentence, (list, tuple, np.ndarray)):
            raise KbertInputError(f"a sentence must be a list of words, got {type(sentence).__name__}"
                                  f" {str(sentence)[:40]!r}", source=name, row=s, field="words")
        if len(sentence) == 0:
            raise KbertInputError("empty sentence (no words)", source=name, row=s, field="words")
        for w, word in enumerate(sentence):
            if not isinstance(word, str) or not word:
                raise KbertInputError(f"word {w + 1} is {word!r}: expected a non-empty string",
                                      source=name, row=s, field="words")
        words.append([str(word) for word in sentence])
    if not words:
        raise KbertInputError("no sentences: the input is empty", source=name)
    tags = None
    if y is not None:
        tags = [list(t) for t in y]
        if len(tags) != len(words):
            raise KbertInputError(f"{len(words)} sentences but {len(tags)} tag lists", source=name)
    return TaggedSentences(words, tags, name, list(range(len(words))))
