"""Text regression: a score for a text or a pair (STS-B similarity, ratings)."""

from __future__ import annotations

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
class TextRegressor(Task):
    """A BERT encoder with a linear head that outputs one float per input.

    Example:
    >>> reg = kbert.TextRegressor.from_preset("minilm_l6_uncased")
    >>> reg.fit([("A man plays.", "A man is playing.")], [4.8], epochs=3)
    >>> reg.predict([("A dog runs.", "A cat sleeps.")])      # shape (1,)
    """

    def __init__(self, backbone, preprocessor, pooling: str = "mean", dropout: float = 0.1,
                 **kwargs):
        inputs = backbone.input
        pooled = pool(backbone, inputs, pooling)
        hidden = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
        score = keras.layers.Dense(1, dtype="float32", name="score",
                                   kernel_initializer=heads.head_initializer())(hidden)
        super().__init__(inputs=inputs, outputs=score, backbone=backbone,
                         preprocessor=preprocessor, **kwargs)
        self.pooling, self.dropout = pooling, dropout

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "dropout": self.dropout}

    def _default_loss(self):
        return keras.losses.MeanSquaredError()

    def _default_metrics(self):
        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def _targets(self, examples: TextExamples) -> np.ndarray:
        targets = np.empty((len(examples), 1), np.float32)
        for i, value in enumerate(examples.labels):
            try:
                targets[i, 0] = float(value)
            except (TypeError, ValueError):
                targets[i, 0] = np.nan
            if not np.isfinite(targets[i, 0]):
                source, row = examples.where(i)
                raise KbertInputError(f"expected a finite number, got {value!r}",
                                      source=source, row=row, field=examples.label_field)
        return targets

    def _target_spec(self) -> features.TargetSpec:
        return features.TargetSpec("score", shapes=((), (1,)))

    def distillation_loss(self, teacher_outputs, student_outputs, *, temperature: float,
                          padding_mask=None):
        """What a student of this regressor learns (`kbert.distill`): the teacher's score
        (mean squared difference; a score has no temperature to soften).

        Example:
        >>> reg.distillation_loss(teacher_scores, student_scores, temperature=2.0)
        """
        from kbert.training import distill

        return distill.mean_squared(teacher_outputs, student_outputs)

    def _report(self, targets, outputs):
        return metrics.regression_report(targets, outputs)

    def predict(self, x, batch_size: int = 32, **kwargs) -> np.ndarray:
        """Scores, shape (n,)."""
        return super().predict(x, batch_size=batch_size, **kwargs).reshape(-1)

    # ----------------------------------------------------------------------------- export
    def export_spec(self) -> exports.ExportSpec:
        """Exports `score` [batch] (one float per text or pair). MediaPipe has no text
        regression task.

        Example:
        >>> reg.export_spec().output_names
        ('score',)
        """
        return exports.text_spec(
            self, task="regressor", outputs=lambda outputs: {"score": outputs[..., 0]},
            output_names=("score",), output_descriptions={"score": "The predicted score."},
            description="Text regressor; the output holds the predicted score. Exported by kbert.",
            mediapipe_note="MediaPipe Tasks has no text regression task (its TextClassifier "
                           "would read the score as a category's probability)")
