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


@keras.saving.register_keras_serializable(package="kbert")
class LayerwiseAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is multiplied per variable: layer-wise learning-rate decay.

    Example:
    >>> opt = LayerwiseAdamW(lr_multipliers={"transformer_layer_5/": 0.9, "token_embedding": 0.47})

    A variable takes the multiplier of the first key found in its path (1.0 if none). Keras's
    AdamW has no per-variable learning rate; scaling gradients instead would do nothing, as
    Adam's update does not depend on the gradient's scale. Decoupled weight decay stays at the
    global rate (Keras applies it outside `update_step`): it shrinks a weight by 0.01 x lr per
    step, a hundredth of an Adam step (about lr), so leaving it unscaled changes little.
    """

    def __init__(self, lr_multipliers: dict[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.lr_multipliers = {str(k): float(v) for k, v in (lr_multipliers or {}).items()}

    def multiplier(self, variable) -> float:
        path = getattr(variable, "path", None) or variable.name
        return next((m for key, m in self.lr_multipliers.items() if key in path), 1.0)

    def update_step(self, gradient, variable, learning_rate):
        scale = self.multiplier(variable)
        super().update_step(gradient, variable,
                            learning_rate if scale == 1.0 else learning_rate * scale)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": self.lr_multipliers}


def layer_decay_multipliers(backbone, decay: float) -> dict[str, float]:
    """Learning-rate multipliers for layer-wise decay: 1 for the head, `decay` for the top
    transformer layer, `decay`**2 for the one below, ..., `decay`**(layers + 1) for the
    embeddings (as in ELECTRA and BEiT).

    Example:
    >>> layer_decay_multipliers(backbone, 0.5)          # 2 layers
    {'transformer_layer_1/': 0.5, 'transformer_layer_0/': 0.25, 'token_embedding': 0.125, ...}
    """
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1]; got {decay}.")
    layers = backbone.num_layers
    multipliers = {f"transformer_layer_{i}/": decay ** (layers - i)
                   for i in reversed(range(layers))}
    for name in ("token_embedding", "position_embedding", "segment_embedding",
                 "embeddings_layer_norm"):
        multipliers[name] = decay ** (layers + 1)
    return multipliers


def bert_adamw(learning_rate: float, total_steps: int, warmup_ratio: float = 0.1,
               weight_decay: float = 0.01, clipnorm: float | None = 1.0,
               lr_multipliers: dict[str, float] | None = None) -> keras.optimizers.AdamW:
    """AdamW with BERT's schedule, weight decay and gradient clipping (and, given
    `lr_multipliers`, per-layer learning rates).

    Example:
    >>> opt = bert_adamw(5e-5, total_steps=1000)      # 100 warmup steps, decay to 0 at 1000
    """
    schedule = WarmupLinearDecay(learning_rate, total_steps, round(warmup_ratio * total_steps))
    kwargs = dict(learning_rate=schedule, weight_decay=weight_decay, beta_1=0.9, beta_2=0.999,
                  epsilon=1e-6, global_clipnorm=clipnorm)
    optimizer = (LayerwiseAdamW(lr_multipliers=lr_multipliers, **kwargs) if lr_multipliers
                 else keras.optimizers.AdamW(**kwargs))
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer
