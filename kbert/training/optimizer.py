"""The BERT fine-tuning recipe: AdamW, warmup then linear decay, global norm clipping."""

from __future__ import annotations

import json

import keras
from keras import ops

# LayerNorm scales/offsets ("gamma", "beta") and biases are not decayed, as in BERT.
NO_DECAY = ["bias", "gamma", "beta"]
# `compile()`'s peak learning rate: BERT's fine-tuning default.
LEARNING_RATE = 5e-5
# The peak under LoRA (`kbert.tasks.lora.LEARNING_RATE` is this). Swept on 2,000 SST-2
# sentences, 1 epoch (examples/lora.py --what=sweep, RESULTS.md "Issue 20"): dev accuracy 55%
# at 2e-4 and 5e-4, 64% at 1e-3, then a plateau of 79-80% from 2e-3 to 1e-2 (full fine-tuning
# 79%). The plateau's low end, as longer runs favour lower rates.
LORA_LEARNING_RATE = 2e-3


@keras.saving.register_keras_serializable(package="kbert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak` over `warmup_steps`, then falls linearly to 0 at
    `total_steps`, counted from optimizer step `start_step`.

    Example:
    >>> s = WarmupLinearDecay(peak=1e-4, total_steps=100, warmup_steps=10)
    >>> [round(float(s(i)), 6) for i in (0, 5, 10, 55, 100)]
    [0.0, 5e-05, 0.0001, 5e-05, 0.0]

    `replan=True` marks the schedule of `Task.compile()`'s recipe: each `fit` plans it anew
    over that call's steps (`planned`), from the optimizer step where the call begins, so a
    second `fit`, or one on a loaded model, warms up and decays again instead of running at
    the end of an old plan (learning rate 0). Until a `fit` has planned it (`total_steps=None`:
    `train_on_batch` or a custom loop right after `compile()`), it holds at `peak`.
    """

    def __init__(self, peak: float, total_steps: int | None, warmup_steps: int = 0,
                 start_step: int = 0, warmup_ratio: float | None = None, replan: bool = False):
        self.peak = float(peak)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.warmup_steps, self.start_step = int(warmup_steps), int(start_step)
        # The ratio a re-plan keeps (a schedule saved before it was recorded infers it).
        self.warmup_ratio = float(warmup_ratio if warmup_ratio is not None else
                                  self.warmup_steps / max(self.total_steps or 1, 1))
        self.replan = bool(replan)

    def planned(self, start_step: int, total_steps: int) -> "WarmupLinearDecay":
        """The same recipe over `total_steps` optimizer steps from `start_step`.

        Example:
        >>> WarmupLinearDecay(1e-4, None, warmup_ratio=0.1, replan=True).planned(500, 100)(510)
        0.0001
        """
        total_steps = max(int(total_steps), 1)
        return WarmupLinearDecay(self.peak, total_steps, round(self.warmup_ratio * total_steps),
                                 start_step, self.warmup_ratio, self.replan)

    def recipe(self) -> dict:
        """What the schedule is, apart from where a fit placed it (for resume checks)."""
        return {"peak": self.peak, "warmup_ratio": round(self.warmup_ratio, 6),
                "replan": self.replan}

    def __call__(self, step):
        if self.total_steps is None:
            return ops.convert_to_tensor(self.peak, "float32")
        step = ops.cast(step, "float32") - float(self.start_step)
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        decay = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        rising = self.peak * step / warmup
        falling = self.peak * ops.maximum(0.0, (self.total_steps - step) / decay)
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "start_step": self.start_step,
                "warmup_ratio": self.warmup_ratio, "replan": self.replan}

    @classmethod
    def from_config(cls, config):
        # Saved before `replan` existed, every kbert schedule was the one fit planned.
        return cls(**{"replan": True, **config})


def summed_duplicates(gradient):
    """A sparse gradient (`tf.IndexedSlices`, what TensorFlow gives an embedding lookup) with the
    rows of each repeated index summed into one; any other gradient as it is.

    Example:
    >>> g = tf.IndexedSlices(tf.ones([3, 2]), tf.constant([0, 0, 1]), tf.constant([4, 2]))
    >>> summed_duplicates(g).indices.numpy(), summed_duplicates(g).values.numpy()
    (array([0, 1], dtype=int32), array([[2., 2.], [1., 1.]], dtype=float32))

    Keras 3's TensorFlow backend squares `IndexedSlices` slice by slice (`ops.square` keeps
    them sparse), before the duplicates are added up. Adam's second moment of a token row then
    holds the sum of its occurrences' squared gradients instead of the square of their sum, and
    the global norm that `global_clipnorm` clips by comes out too small. A token seen k times
    in a batch moves up to sqrt(k) times too far per step: [CLS], [SEP], punctuation, and above
    all segment id 0, which every position of every batch looks up (issue 22: this cost the
    CoNLL tagger 4 F1 points against the same recipe in PyTorch). Summing duplicates first
    makes the update the one of the dense gradient, as TF1's optimizers did
    (`_deduplicate_indexed_slices`).
    """
    if keras.backend.backend() != "tensorflow":
        return gradient  # Only the TensorFlow backend makes IndexedSlices.
    import tensorflow as tf

    if not isinstance(gradient, tf.IndexedSlices):
        return gradient
    indices, positions = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(indices)[0])
    return tf.IndexedSlices(values, indices, gradient.dense_shape)


def summed_over_replicas(grads: list) -> list:
    """Each replica's gradients (of its share of the batch) summed over the replicas of the
    distribution strategy this step runs under; as they are outside one (or with one replica).

    Keras 3's TensorFlow optimizer clips each replica's gradients by their own norm and only
    then sums them (`_backend_update_step`), so under MirroredStrategy or MultiWorkerMirrored-
    Strategy `global_clipnorm` clipped something other than the batch's gradient, and a run on
    two workers drifted from the same run in one process. Summed first, clipping sees the
    gradient one process computes.
    """
    if keras.backend.backend() != "tensorflow":
        return grads
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return grads
    summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM,
                                     [g for g in grads if g is not None]))
    return [None if g is None else next(summed) for g in grads]


def is_sparse(gradient) -> bool:
    """Whether `gradient` is TensorFlow's sparse gradient of a lookup (`tf.IndexedSlices`)."""
    if gradient is None or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return isinstance(gradient, tf.IndexedSlices)


@keras.saving.register_keras_serializable(package="kbert")
class AdamW(keras.optimizers.AdamW):
    """Keras's AdamW with the step of the whole batch's dense gradient, as in PyTorch's AdamW:
    under a distribution strategy the replicas' gradients are summed before clipping
    (`summed_over_replicas`), and the rows of a sparse gradient's repeated indices are summed
    before clipping and the update (`summed_duplicates`).

    Example:
    >>> opt = AdamW(learning_rate=5e-5, weight_decay=0.01, global_clipnorm=1.0)
    >>> opt = AdamW(learning_rate=5e-5, weight_decay=0.01, lazy_sparse=True)

    `lazy_sparse=True` updates a variable whose gradient is sparse (the word-embedding table,
    on the TensorFlow backend) only in the rows the batch looked up: their moments, weight
    decay and Adam step, as TF1's LazyAdamOptimizer did. PyTorch's AdamW, like the default
    here, also decays the other rows' moments and weights and moves them by their momentum at
    every step: 30,522 x 384 floats three times over, for the at most batch x length rows a
    batch touches. BENCHMARKS.md measures what it saves and RESULTS.md what it changes.
    Other backends give no sparse gradients, so it changes nothing there.
    """

    def __init__(self, *args, lazy_sparse: bool = False,
                 exclude_from_weight_decay: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if exclude_from_weight_decay:
            self.exclude_from_weight_decay(var_names=exclude_from_weight_decay)
        self.lazy_sparse = bool(lazy_sparse)
        if self.lazy_sparse and self.amsgrad:
            raise ValueError("AdamW(lazy_sparse=True) does not support amsgrad.")
        self._lazy_keys = set()  # Variables updated row by row in this step (set in `apply`).
        self._scalars_of_this_step = None  # dtype -> scalars, while a step's updates are made.

    def apply(self, grads, trainable_variables=None):
        grads = summed_over_replicas(list(grads))
        grads = [None if g is None else summed_duplicates(g) for g in grads]
        if self.lazy_sparse:
            # Gradient types are fixed when the step is traced: which variables take the lazy
            # update is known before Keras's dense weight decay runs over every variable.
            variables = (self._trainable_variables if trainable_variables is None
                         else trainable_variables)
            self._lazy_keys = {self._var_key(v) for g, v in zip(grads, variables)
                               if is_sparse(g)}
        return super().apply(grads, trainable_variables)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return grads_and_vars  # Summed over the replicas in `apply` already, before clipping.

    def _clip_gradients(self, grads):
        if not self.global_clipnorm or self.clipnorm or not any(map(is_sparse, grads)):
            return super()._clip_gradients(grads)
        # Keras scales each gradient by `v * scale`, which turns an IndexedSlices dense (the
        # lazy update into the dense one, and a pass over the whole word-embedding table for
        # the batch's few rows): clip the slices' values (their norm is the dense gradient's,
        # duplicates summed) and keep them sparse.
        import tensorflow as tf

        clipped = super()._clip_gradients([g.values if is_sparse(g) else g for g in grads])
        return [tf.IndexedSlices(c, g.indices, g.dense_shape) if is_sparse(g) else c
                for g, c in zip(grads, clipped)]

    def _use_weight_decay(self, variable):
        # A lazily updated variable is decayed in its looked-up rows, in `_lazy_update_step`.
        if self.lazy_sparse and self._var_key(variable) in self._lazy_keys:
            return False
        return super()._use_weight_decay(variable)

    def update_step(self, gradient, variable, learning_rate):
        if self.lazy_sparse and is_sparse(gradient):
            return self._lazy_update_step(gradient, variable, learning_rate)
        if keras.backend.backend() == "tensorflow" and not self.amsgrad:
            return self._fused_update_step(gradient, variable, learning_rate)
        return super().update_step(gradient, variable, learning_rate)

    def _fused_update_step(self, gradient, variable, learning_rate):
        """Keras's Adam step (the same formula, epsilon outside the bias correction) as one
        TensorFlow kernel, `ResourceApplyAdam`, which TF-Keras's Adam used.

        Keras 3 writes the step as eleven element-wise ops, each a pass over the variable's
        memory: on CPU that made the update of MiniLM's 22.7M weights cost about as much as the
        forward pass of a 16-token batch (BENCHMARKS.md). The kernel reads and writes each of
        weight, m and v once. On JAX, XLA fuses Keras's ops already.
        """
        import tensorflow as tf

        dtype = variable.dtype
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        # A sparse gradient (not `lazy_sparse`) steps every row, as Keras's dense step does.
        gradient = tf.cast(tf.convert_to_tensor(gradient), dtype)
        # The learning rate is the variable's own (LayerwiseAdamW scales it per variable).
        tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=m.handle, v=v.handle, grad=gradient,
                                     lr=tf.cast(learning_rate, dtype), **self._step_scalars(dtype))

    def _step_scalars(self, dtype) -> dict:
        """`ResourceApplyAdam`'s step-wide scalar arguments in `dtype` (bias-correction powers,
        betas, epsilon): made once per traced step, by the first variable of that dtype, and
        shared by every variable's update, instead of the same ops again per variable."""
        import tensorflow as tf

        cache = self._scalars_of_this_step
        if cache is not None and dtype in cache:
            return cache[dtype]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        scalars = dict(beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                       beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype))
        if cache is not None:
            cache[dtype] = scalars
        return scalars

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        # One step's updates, once (in the cross-replica context under a strategy): the scalars
        # every variable's update shares are made by the first update that needs them.
        self._scalars_of_this_step = {}
        try:
            return super()._distributed_tf_update_step(distribution, grads_and_vars,
                                                       learning_rate)
        finally:
            self._scalars_of_this_step = None

    def _apply_weight_decay(self, variables):
        """Keras's decoupled weight decay (`variable -= variable * weight_decay * lr`, the same
        ops in the same order), with the learning rate read once per step: Keras's TensorFlow
        optimizer reads `self.learning_rate`, the whole schedule, once per variable, which
        put a dozen ops per variable into every traced step (MiniLM: ~100 variables)."""
        if self.weight_decay is None or keras.backend.backend() != "tensorflow":
            return super()._apply_weight_decay(variables)
        import tensorflow as tf

        def decay_all(distribution, variables):
            factors = {}  # dtype -> (lr, weight decay), made by the first variable needing it

            def decay(variable):
                if self._use_weight_decay(variable):
                    if variable.dtype not in factors:
                        factors[variable.dtype] = (tf.cast(self.learning_rate, variable.dtype),
                                                   tf.cast(self.weight_decay, variable.dtype))
                    lr, wd = factors[variable.dtype]
                    variable.assign_sub(variable * wd * lr)

            for variable in variables:
                if isinstance(variable, keras.Variable):
                    variable = variable.value
                distribution.extended.update(variable, decay, group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(
            decay_all, self._distribution_strategy, variables)

    def _lazy_update_step(self, gradient, variable, learning_rate):
        """Keras's Adam step (epsilon outside the bias correction) and decoupled weight decay
        at the global rate, on the rows of `gradient` (duplicates already summed) only."""
        import tensorflow as tf

        dtype = variable.dtype
        rows, values = gradient.indices, tf.cast(gradient.values, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = (tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step))
                 / (1 - tf.pow(beta_1, step)))
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m.value, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v.value, rows) + (1 - beta_2) * tf.square(values)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        delta = alpha * m_rows / (tf.sqrt(v_rows) + tf.cast(self.epsilon, dtype))
        if self.weight_decay and super()._use_weight_decay(variable):
            # Keras decays by the global rate before the step (`_apply_weight_decay`).
            decay = tf.cast(self.learning_rate, dtype) * tf.cast(self.weight_decay, dtype)
            delta += decay * tf.gather(variable, rows)
        self.assign_sub(variable, tf.IndexedSlices(delta, rows))

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        self._no_decay_names = list(var_names or [])

    def get_config(self):
        # The exclusions too: Keras's optimizers forget them, so a model loaded by load_model
        # would decay its LayerNorm and bias weights.
        return {**super().get_config(), "lazy_sparse": self.lazy_sparse,
                "exclude_from_weight_decay": getattr(self, "_no_decay_names", [])}


@keras.saving.register_keras_serializable(package="kbert")
class LayerwiseAdamW(AdamW):
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


def bert_adamw(learning_rate: float, total_steps: int | None = None, warmup_ratio: float = 0.1,
               weight_decay: float = 0.01, clipnorm: float | None = 1.0,
               lr_multipliers: dict[str, float] | None = None,
               replan: bool = False, epsilon: float = 1e-8,
               lazy_sparse: bool = False) -> AdamW:
    """AdamW with BERT's schedule, weight decay and gradient clipping (and, given
    `lr_multipliers`, per-layer learning rates).

    Example:
    >>> opt = bert_adamw(5e-5, total_steps=1000)      # 100 warmup steps, decay to 0 at 1000

    `replan=True` (what `Task.compile()` uses) lets every `fit` plan the schedule over its own
    steps; `total_steps=None` leaves it unplanned until then (see `WarmupLinearDecay`).
    `lazy_sparse=True` updates the word-embedding table only in the batch's rows (`AdamW`).

    `epsilon` is PyTorch's and Hugging Face's 1e-8, not BERT's 1e-6: Keras adds it to sqrt(v)
    before the bias correction, so it acts as epsilon / sqrt(1 - beta_2**t), 32x larger at the
    first step and still 2.4x at step 200, where PyTorch adds it after. For a small encoder
    whose clipped gradient (norm 1 over 22.7M weights) holds elements of 1e-5, 1e-6 / 0.03
    damps every early step. Issue 22 (RESULTS.md): on the same batches without dropout, kbert's
    MiniLM tagger trailed PyTorch's loss at every step with 1e-6, and matched it to 4 decimals
    over 40 steps with 1e-8.
    """
    schedule = WarmupLinearDecay(learning_rate, total_steps,
                                 round(warmup_ratio * (total_steps or 0)),
                                 warmup_ratio=warmup_ratio, replan=replan)
    kwargs = dict(learning_rate=schedule, weight_decay=weight_decay, beta_1=0.9, beta_2=0.999,
                  epsilon=epsilon, global_clipnorm=clipnorm, lazy_sparse=lazy_sparse)
    optimizer = (LayerwiseAdamW(lr_multipliers=lr_multipliers, **kwargs) if lr_multipliers
                 else AdamW(**kwargs))
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer


def default_learning_rate(model) -> float:
    """`Task.compile()`'s peak learning rate for `model`: `LORA_LEARNING_RATE` when its encoder
    has LoRA adapters (`model.lora`), else `LEARNING_RATE`.

    Example:
    >>> default_learning_rate(clf.set_finetuning("lora"))
    0.002
    """
    return LORA_LEARNING_RATE if getattr(model, "lora", None) is not None else LEARNING_RATE


def default_optimizer(model, learning_rate: float | None = None, *, warmup_ratio: float = 0.1,
                      weight_decay: float = 0.01, clipnorm: float | None = 1.0,
                      layer_decay: float | None = None, total_steps: int | None = None,
                      lazy_embeddings: bool = False) -> AdamW:
    """The optimizer `Task.compile()` builds for `model` (see there): `bert_adamw` at
    `learning_rate` (None: `default_learning_rate(model)`), planned anew by every `fit`, with
    per-layer rates over `model.backbone` given `layer_decay`.

    Example:
    >>> model.compile(optimizer=default_optimizer(model, 3e-5, layer_decay=0.8))
    """
    if learning_rate is None:
        learning_rate = default_learning_rate(model)
    multipliers = (None if layer_decay is None
                   else layer_decay_multipliers(model.backbone, layer_decay))
    return bert_adamw(learning_rate, total_steps=total_steps, warmup_ratio=warmup_ratio,
                      weight_decay=weight_decay, clipnorm=clipnorm, lr_multipliers=multipliers,
                      replan=True, lazy_sparse=lazy_embeddings)


def inner_optimizer(optimizer):
    """The optimizer that holds the schedule and steps (inside a LossScaleOptimizer, if any)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def replanned_schedule(optimizer) -> bool:
    """Whether `optimizer` runs a schedule that each `fit` plans (`Task.compile()`'s recipe)."""
    schedule = inner_optimizer(optimizer)._learning_rate
    return isinstance(schedule, WarmupLinearDecay) and schedule.replan


def plan_schedule(optimizer, total_steps: int, start_step: int | None = None) -> bool:
    """Plans a `replan` schedule over `total_steps` optimizer steps from `start_step` (default:
    the optimizer's current step); returns whether it did (an optimizer or schedule of the
    user's own is left alone).

    Example:
    >>> plan_schedule(model.optimizer, total_steps=300)    # what each Task.fit does first
    True
    """
    if not replanned_schedule(optimizer):
        return False
    inner = inner_optimizer(optimizer)
    start = int(inner.iterations.numpy()) if start_step is None else int(start_step)
    inner.learning_rate = inner._learning_rate.planned(start, total_steps)
    return True


def optimizer_recipe(optimizer) -> dict:
    """The optimizer's settings as plain JSON values, without where a fit placed the schedule:
    what a resumed run must share with the run that wrote the checkpoint."""
    inner = inner_optimizer(optimizer)
    config = {k: v for k, v in inner.get_config().items() if k != "name"}
    if isinstance(inner._learning_rate, WarmupLinearDecay):
        config["learning_rate"] = inner._learning_rate.recipe()
    config["class"] = type(inner).__name__
    return json.loads(json.dumps(config, default=str))
