"""The BERT fine-tuning recipe: AdamW, warmup then linear decay, global norm clipping."""

from __future__ import annotations

import keras
from keras import ops

# LayerNorm scales/offsets ("gamma", "beta") and biases are not decayed, as in BERT.
NO_DECAY = ["bias", "gamma", "beta"]


@keras.saving.register_keras_serializable(package="kbert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak` over `warmup_steps`, then falls linearly to 0 at
    `total_steps`.

    Example:
    >>> s = WarmupLinearDecay(peak=1e-4, total_steps=100, warmup_steps=10)
    >>> [round(float(s(i)), 6) for i in (0, 5, 10, 55, 100)]
    [0.0, 5e-05, 0.0001, 5e-05, 0.0]
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        decay = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        rising = self.peak * step / warmup
        falling = self.peak * ops.maximum(0.0, (self.total_steps - step) / decay)
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}


def bert_adamw(learning_rate: float, total_steps: int, warmup_ratio: float = 0.1,
               weight_decay: float = 0.01, clipnorm: float | None = 1.0) -> keras.optimizers.AdamW:
    """AdamW with BERT's schedule, weight decay and gradient clipping.

    Example:
    >>> opt = bert_adamw(5e-5, total_steps=1000)      # 100 warmup steps, decay to 0 at 1000
    """
    schedule = WarmupLinearDecay(learning_rate, total_steps, round(warmup_ratio * total_steps))
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay,
                                       beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                                       global_clipnorm=clipnorm)
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer
