"""Text classification: single texts or pairs, one label or many (multi-label)."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from kbert.data.examples import TextExamples
from kbert.errors import KbertInputError
from kbert.preprocessing import features
from kbert.tasks import exports, heads
from kbert.tasks.heads import pool
from kbert.tasks.task import Task
from kbert.training import metrics


@keras.saving.register_keras_serializable(package="kbert")
class TextClassifier(Task):
    """A BERT encoder with a classification head that outputs probabilities.

    Example:
    >>> clf = kbert.TextClassifier.from_preset("minilm_l6_uncased", labels=["negative", "positive"])
    >>> clf.fit(["what a delight", "a dull mess"], ["positive", "negative"], epochs=3)
    >>> clf.predict(["a gripping film"])          # (1, 2) probabilities
    >>> clf.predict_labels(["a gripping film"])   # ["positive"]

    Labels are names, or class ids (ints, or digit strings as read from a file, where they are
    not themselves label names). Pairs: pass `x` as a list of (text_a, text_b). `multi_label=True` gives independent sigmoid
    outputs trained with binary cross-entropy; a label is predicted when its probability is at
    least `threshold`, and labels are lists of names (or a multi-hot array).
    """

    decoding_settings = ("threshold",)

    def __init__(self, backbone, preprocessor, num_classes: int | None = None,
                 labels: Sequence[str] | None = None, multi_label: bool = False,
                 threshold: float = 0.5, pooling: str = "mean", dropout: float = 0.1, **kwargs):
        if labels is None and num_classes is None:
            raise ValueError("Give num_classes or labels (the class names).")
        labels = [str(i) for i in range(num_classes)] if labels is None else [str(l) for l in labels]
        if num_classes is not None and num_classes != len(labels):
            raise ValueError(f"num_classes={num_classes} but {len(labels)} labels: {labels}.")
        if len(labels) < (1 if multi_label else 2) or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct and at least {1 if multi_label else 2}; "
                             f"got {labels}.")
        inputs = backbone.input
        pooled = pool(backbone, inputs, pooling)
        hidden = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
        logits = keras.layers.Dense(len(labels), dtype="float32", name="logits",
                                    kernel_initializer=heads.head_initializer())(hidden)
        probabilities = keras.layers.Activation("sigmoid" if multi_label else "softmax",
                                                dtype="float32", name="probability")(logits)
        super().__init__(inputs=inputs, outputs=probabilities, backbone=backbone,
                         preprocessor=preprocessor, **kwargs)
        self.labels, self.multi_label, self.threshold = labels, bool(multi_label), float(threshold)
        self.pooling, self.dropout = pooling, dropout

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def get_config(self):
        return {**super().get_config(), "labels": self.labels, "multi_label": self.multi_label,
                "threshold": self.threshold, "pooling": self.pooling, "dropout": self.dropout}

    def _default_loss(self):
        if self.multi_label:
            return keras.losses.BinaryCrossentropy()
        return keras.losses.SparseCategoricalCrossentropy()

    def _default_metrics(self):
        if self.multi_label:
            return [keras.metrics.BinaryAccuracy(threshold=self.threshold, name="binary_accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def _targets(self, examples: TextExamples) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.labels)}

        def class_id(value, position):
            if isinstance(value, (bool, np.bool_)):
                value = int(value)
            if isinstance(value, (int, np.integer)) and 0 <= value < self.num_classes:
                return int(value)
            if isinstance(value, float) and value.is_integer() and 0 <= value < self.num_classes:
                return int(value)
            if isinstance(value, str):
                value = value.strip()
                if value in index:  # A label name first...
                    return index[value]
                if value.isdigit() and int(value) < self.num_classes:  # ...else a class id.
                    return int(value)
            source, row = examples.where(position)
            raise KbertInputError(
                f"unknown label {value!r}: expected one of {self.labels} or a class id "
                f"0..{self.num_classes - 1}", source=source, row=row, field=examples.label_field)

        if not self.multi_label:
            return np.array([class_id(v, i) for i, v in enumerate(examples.labels)], np.int32)
        targets = np.zeros((len(examples), self.num_classes), np.float32)
        for i, value in enumerate(examples.labels):
            if isinstance(value, np.ndarray) and value.shape == (self.num_classes,) \
                    and value.dtype != object:
                targets[i] = value  # Already multi-hot.
                continue
            if isinstance(value, str):  # "PER,LOC" as read from a table cell.
                value = [v for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple, set, np.ndarray)):
                source, row = examples.where(i)
                raise KbertInputError(f"a multi-label target must be a list of labels; got {value!r}",
                                      source=source, row=row, field=examples.label_field)
            for v in value:
                targets[i, class_id(v, i)] = 1.0
        return targets

    def distillation_loss(self, teacher_outputs, student_outputs, *, temperature: float,
                          padding_mask=None):
        """What a student of this classifier learns (`kbert.distill`): the teacher's
        probabilities softened at `temperature` (KL divergence, times temperature²); for
        multi-label, each label's sigmoid the same way.

        Example:
        >>> clf.distillation_loss(teacher_probs, student_probs, temperature=2.0)
        """
        from kbert.training import distill

        t = distill.probability_logits(teacher_outputs, self.multi_label)
        s = distill.probability_logits(student_outputs, self.multi_label)
        if self.multi_label:
            return distill.binary_soft_kl(t, s, temperature)
        return distill.soft_kl(t, s, temperature)

    def _target_spec(self) -> features.TargetSpec:
        if self.multi_label:  # Multi-hot rows; soft labels in [0, 1] are binary cross-entropy's.
            return features.TargetSpec("multi-hot label", shapes=((self.num_classes,),), low=0,
                                       high=1)
        return features.TargetSpec(f"class id (num_classes={self.num_classes})",
                                   shapes=((), (1,)), low=0, high=self.num_classes - 1,
                                   integer=True)

    def _report(self, targets, outputs):
        if self.multi_label:
            return metrics.multilabel_report(targets, outputs, self.threshold)
        return metrics.classification_report(targets, outputs)

    def predict_labels(self, x, batch_size: int = 32) -> list:
        """Label names: one per input, or for multi-label a list of names per input.

        Example:
        >>> clf.predict_labels(["a gripping film", "a dull mess"])
        ['positive', 'negative']
        """
        probabilities = self.predict(x, batch_size=batch_size)
        if self.multi_label:
            return [[self.labels[j] for j in np.flatnonzero(row >= self.threshold)]
                    for row in probabilities]
        return [self.labels[j] for j in probabilities.argmax(-1)]

    # ----------------------------------------------------------------------------- export
    def export_spec(self) -> exports.ExportSpec:
        """Exports `probability` [batch, labels] with labels.txt; the raw-text SavedModel adds
        `label` (the top label, or for multi-label every label's name where chosen, "" where
        not). MediaPipe's TextClassifier runs uncased single-text classifiers.

        Example:
        >>> clf.export_spec().labels
        ('negative', 'positive')
        """
        kind = "Multi-label" if self.multi_label else "Single-label"
        activation = "sigmoid" if self.multi_label else "softmax"
        threshold = self.threshold
        mediapipe, note = exports.mediapipe_text_task(self, "text_classifier")
        if self.multi_label:
            text_outputs = exports.chosen_labels(self.labels, "probability", threshold)
            decide = lambda named: named["probability"] >= threshold  # noqa: E731
        else:
            text_outputs = exports.top_label(self.labels, "probability")
            decide = lambda named: np.argmax(named["probability"], axis=-1)  # noqa: E731
        return exports.text_spec(
            self, task="classifier", outputs=lambda outputs: {"probability": outputs},
            output_names=("probability",),
            output_descriptions={"probability": "Probability of each label, in the order of "
                                                "labels.txt."},
            description=f"{kind} text classifier over {len(self.labels)} labels; the output "
                        f"holds one {activation} probability per label. Exported by kbert.",
            text_outputs=text_outputs, labels=tuple(self.labels), labelled_output="probability",
            decide=decide, mediapipe=mediapipe, mediapipe_note=note,
            settings={"multi_label": self.multi_label, "threshold": threshold})
