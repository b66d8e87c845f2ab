"""Callbacks that report what users judge a fine-tuning run by."""

from __future__ import annotations

import keras
from absl import logging


class EvaluationCallback(keras.callbacks.Callback):
    """After every epoch, predicts the evaluation set once and adds the task's full metric report
    (loss, accuracy, F1, MCC, Pearson, Spearman...; scikit-learn and scipy) to the epoch's logs
    under `prefix`, where History, TensorBoard and the progress bar pick them up.

    Example:
    >>> model.fit(x, y, callbacks=[EvaluationCallback(dev_x, dev_y)])   # what fit(validation_data=...) does
    """

    def __init__(self, x, y=None, *, prefix: str = "val_", batch_size: int = 64):
        super().__init__()
        self.x, self.y, self.prefix, self.batch_size = x, y, prefix, batch_size
        self.prepared = None
        self.last_report: dict[str, float] = {}

    def on_epoch_end(self, epoch, logs=None):
        if self.prepared is None:  # Tokenized once, reused every epoch.
            self.prepared = self.model.prepare(self.x, self.y, name="validation_data")
        self.last_report = self.model.evaluate_metrics(self.prepared, batch_size=self.batch_size)
        if logs is not None:
            logs.update({self.prefix + k: v for k, v in self.last_report.items()})
        logging.info("epoch %d %s", epoch + 1,
                     " ".join(f"{self.prefix}{k}={v:.4f}" for k, v in self.last_report.items()))
