"""The training state machine every task's `fit` runs: the schedule planned over each call's
steps, the batch stream fixed by the seed, resume from a checkpoint of the same run only, and
one History for the whole run.

What a `fit` call means, whatever came before it (a `compile()`, an earlier `fit`, a model
loaded with `kbert.load_model`): it trains `epochs x steps_per_epoch` steps with the optimizer
state it finds (Adam moments and step count are kept), and a `compile()`-recipe schedule is
planned anew over exactly those steps (warmup, then decay to zero at the call's last step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings

import keras
import numpy as np

from kbert.errors import KbertInputError, unwrapped_input_errors
from kbert.lazy import is_dataset, tf
from kbert.preprocessing import features, pipeline
from kbert.preprocessing.inputs import dataset_structure, split_xy
from kbert.preprocessing.prepared import require_targets
from kbert.training import checkpoint, distribute
from kbert.training.callbacks import EvaluationCallback
from kbert.training.optimizer import optimizer_recipe, plan_schedule, replanned_schedule


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """The options of `Task.fit` that shape a run (see there); checked when made.

    Example:
    >>> FitOptions(batch_size=32, epochs=3, seed=7, checkpoint_dir="runs/x/checkpoint")
    """

    batch_size: int = 32
    epochs: int = 1
    shuffle: bool = True
    seed: int | None = None
    group_by_length: bool = True
    steps_per_epoch: int | None = None
    initial_epoch: int = 0
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500
    shuffle_buffer: int = 10_000

    def __post_init__(self):
        for name in ("batch_size", "epochs", "checkpoint_every", "shuffle_buffer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"fit: {name} must be a positive integer; got {value!r}.")
        if self.steps_per_epoch is not None and (
                isinstance(self.steps_per_epoch, bool) or self.steps_per_epoch < 1):
            raise ValueError(f"fit: steps_per_epoch must be a positive integer or None; got "
                             f"{self.steps_per_epoch!r}.")
        if not 0 <= self.initial_epoch < self.epochs:
            raise ValueError(f"fit: initial_epoch={self.initial_epoch} must be in 0..epochs-1 "
                             f"(epochs={self.epochs}).")


def strategy_scope(model):
    """The scope of the model's distribution strategy (MirroredStrategy...), where its variables
    are made and loaded; a no-op without one."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def ensure_compiled(model) -> None:
    """`model.compile()` (BERT's recipe) if the user did not compile, in the model's
    distribution strategy if it has one."""
    if model.compiled:
        return
    with strategy_scope(model):
        model.compile()


def build_for_training(model, dataset) -> None:
    """Creates the optimizer's, loss's and metrics' variables before Keras traces the training
    step, from the batches' element spec.

    Keras's TensorFlow trainer does this itself (`_symbolic_build`) only under a distribution
    strategy; otherwise it leaves them to the first trace of the step, and TensorFlow traces a
    function that creates variables twice: the whole training step (forward, backward and the
    optimizer's per-variable updates) a second time, in every first `fit` of a model.
    """
    # Only a tf.data.Dataset has an element spec; pre-tokenized arrays come as a Keras
    # PyDataset, which Keras builds from its first batch.
    spec = getattr(dataset, "element_spec", None)
    if spec is not None and keras.backend.backend() == "tensorflow" and (
            model._distribute_strategy is None):
        model._symbolic_build(data_batch=spec)


def _plan(model, total_steps: int, start_step: int | None = None) -> None:
    if plan_schedule(model.optimizer, total_steps, start_step):
        # The schedule's plan is traced into the step function as constants: trace it anew.
        model.train_function = None


def _draw_seed() -> int:
    # From NumPy, which keras.utils.set_random_seed seeds, so that a seeded program repeats.
    return int(np.random.randint(2**31 - 1))


def fit(model, x, y, options: FitOptions, *, callbacks=None, validation_data=None,
        **keras_kwargs):
    """`Task.fit` after its options are checked: validation data as the task reports it
    (`validation`), then a `tf.data.Dataset` streamed (`fit_stream`) or anything else prepared
    once and held in memory (`fit_examples`). Records on the model whether it was fed pairs.

    Example:
    >>> fit(clf, texts, labels, FitOptions(epochs=3), validation_data=(dev_x, dev_y))
    """
    callbacks = list(callbacks or [])
    if validation_data is not None:
        callbacks, keras_kwargs = validation(model, validation_data, options.batch_size,
                                             callbacks, keras_kwargs)
    if is_dataset(x):
        if not model.streams:
            raise KbertInputError(f"{type(model).__name__}.fit takes {model.fit_inputs}, not "
                                  "a tf.data.Dataset", source="x")
        pairs, labelled = dataset_structure(x)
        if not labelled:
            raise KbertInputError("fit needs labels: a tf.data.Dataset of (text, label) or "
                                  "((text_a, text_b), label) elements", source="x")
        model.pair_inputs = pairs
        return fit_stream(model, x, options, callbacks, **keras_kwargs)
    prepared = model.prepare(x, y)
    require_targets(prepared, "fit")
    model.pair_inputs = prepared.pairs
    return fit_examples(model, prepared, options, callbacks, **keras_kwargs)


def validation(model, validation_data, batch_size: int, callbacks: list,
               keras_kwargs: dict) -> tuple[list, dict]:
    """(callbacks, Keras fit arguments) that report on `fit`'s `validation_data`: every kind
    of it (an (x, y) tuple, labelled examples, a labelled `tf.data.Dataset`) is the same data,
    reported the same way, the task's full metrics after every epoch (`EvaluationCallback`,
    predicting at twice the training batch size); pre-tokenized arrays go to Keras's own
    `validation_data` (loss and compiled metrics). Unlabelled data is refused.

    Example:
    >>> callbacks, kwargs = validation(clf, (dev_x, dev_y), 32, [], {})
    """
    data = (validation_data, None) if is_dataset(validation_data) else split_xy(validation_data)
    prepared = model.prepare(*data, name="validation_data")
    require_targets(prepared, "validation_data")
    if isinstance(prepared, features.PreTokenized):
        return callbacks, {**keras_kwargs,
                           "validation_data": (prepared.features, prepared.targets)}
    return [EvaluationCallback(prepared, batch_size=batch_size * 2), *callbacks], keras_kwargs


def fit_examples(model, prepared, options: FitOptions, callbacks: list, **keras_kwargs):
    """Trains `model` on examples held in memory, tokenized (`kbert.preprocessing.prepared.
    Prepared`) or pre-tokenized (`kbert.preprocessing.features.PreTokenized`); see `Task.fit`.

    The batch stream is a function of (seed, global step) only (`pipeline.planned_batches`),
    so a run resumed from `options.checkpoint_dir` replays exactly the batches an uninterrupted
    one would. The checkpoint records what identifies the run (data, seed, batch size, epochs,
    optimizer recipe, the model's config and starting encoder weights...); a checkpoint of
    another run is refused (`CheckpointMismatch`).
    """
    o = options
    steps = o.steps_per_epoch or prepared.steps_per_epoch(model.preprocessor, o.batch_size,
                                                          o.group_by_length)
    saved = checkpoint.read_state(o.checkpoint_dir) if o.checkpoint_dir else None
    seed = o.seed if o.seed is not None else (saved["seed"] if saved else _draw_seed())
    ensure_compiled(model)
    identity = {
        "data": checkpoint.data_fingerprint(*prepared.arrays()),
        "examples": len(prepared), "seed": int(seed), "batch_size": o.batch_size,
        "epochs": o.epochs, "steps_per_epoch": steps, "shuffle": bool(o.shuffle),
        "group_by_length": bool(o.group_by_length), "initial_epoch": o.initial_epoch,
        "optimizer": optimizer_recipe(model.optimizer),
        "lora": None if model.lora is None else model.lora.config(),
        # The model: its config (preset architecture, pooling, mode, head...) and the encoder
        # weights it starts from (before a resume loads the checkpoint's).
        "model": checkpoint.model_identity(model),
        "weights": checkpoint.encoder_fingerprint(model.backbone)}
    callbacks = list(callbacks)
    # The optimizer step at which this run began: the schedule is planned from it, and the
    # run's global step is initial_epoch * steps + (optimizer step - base).
    base = int(model.optimizer.iterations.numpy())
    start, earlier_epochs = o.initial_epoch * steps, []
    state = {**identity, "base_iteration": base, "epoch_logs": []}
    if saved:
        checkpoint.check_same_run(saved, identity, o.checkpoint_dir)
        with strategy_scope(model):  # Optimizer variables may be made here.
            state = checkpoint.restore(model, o.checkpoint_dir)
        base, start = state["base_iteration"], state["step"]
        earlier_epochs = list(state["epoch_logs"])
        if start % steps:  # Resumed mid-epoch: the epoch's running averages continue.
            callbacks.append(checkpoint.ResumeEpochMetrics(
                checkpoint.saved_metric_states(o.checkpoint_dir)))
    _plan(model, (o.epochs - o.initial_epoch) * steps, start_step=base)
    first_step = o.initial_epoch * steps - base  # The global step at optimizer step 0.
    strategy = getattr(model, "distribute_strategy", None)
    if not distribute.is_chief(strategy):  # One progress bar for the cluster: the chief's.
        keras_kwargs["verbose"] = 0
    with contextlib.ExitStack() as stack:
        # Every worker saves (the save synchronizes them); only the chief's checkpoints stay.
        written = (stack.enter_context(distribute.writer_directory(o.checkpoint_dir, strategy))
                   if o.checkpoint_dir else None)
        keeper = (checkpoint.TrainingCheckpoint(written, o.checkpoint_every, state,
                                                first_step) if written else None)
        # NaN first: a diverged step must stop training before it can be checkpointed.
        recorder = _EpochLogs()
        callbacks += [checkpoint.StopOnNaN(keeper, first_step), recorder] + (
            [keeper] if keeper else [])
        history = None
        epoch, done = divmod(start, steps)
        while epoch < o.epochs:
            # A resumed epoch runs only its remaining steps, then whole epochs follow.
            left = steps - done if done else steps * (o.epochs - epoch)
            batches = prepared.training_batches(
                model.preprocessor, o.batch_size, shuffle=o.shuffle, seed=seed,
                group_by_length=o.group_by_length, start_step=epoch * steps + done, steps=left)
            batches = model.training_inputs(batches, seed=seed, start_step=epoch * steps + done)
            last_epoch = epoch + 1 if done else o.epochs
            build_for_training(model, batches)
            # shuffle=False for Keras: the batch plan above already shuffles every epoch.
            history = keras.Model.fit(model, batches, epochs=last_epoch, initial_epoch=epoch,
                                      steps_per_epoch=min(left, steps), callbacks=callbacks,
                                      shuffle=False, **keras_kwargs)
            epoch, done = last_epoch, 0
        # One History for the whole run, including epochs logged before an interruption.
        history = history or keras.callbacks.History()
        history.history = {}
        for logs in earlier_epochs + recorder.logs:
            for key, value in logs.items():
                history.history.setdefault(key, []).append(value)
        history.epoch = list(range(len(earlier_epochs) + len(recorder.logs)))
        return history


def fit_stream(model, dataset: tf.data.Dataset, options: FitOptions, callbacks: list,
               **keras_kwargs):
    """Trains `model` on a `tf.data.Dataset` of (text, numeric label) elements, read once per
    epoch and never held in memory; see `Task.fit`.

    `shuffle` shuffles rows through a buffer of `shuffle_buffer` (in an order fixed by `seed`);
    `checkpoint_dir` is refused: a stream cannot be rewound to a checkpoint's position.
    """
    o = options
    if o.checkpoint_dir:
        raise ValueError(
            "fit: checkpoint_dir needs in-memory training data (a list, a DataFrame or "
            "kbert.data.read_table examples): a tf.data stream cannot be rewound to where a "
            "checkpoint was taken. Read the file into memory, or train without checkpoint_dir.")
    seed = o.seed if o.seed is not None else _draw_seed()
    train = pipeline.streaming_batches(
        model.preprocessor, dataset, o.batch_size, group_by_length=o.group_by_length,
        shuffle_buffer=o.shuffle_buffer if o.shuffle else 0, seed=seed)
    steps = o.steps_per_epoch or _known_steps(dataset, o.batch_size, model.preprocessor)
    if o.steps_per_epoch:
        train = train.repeat()
    ensure_compiled(model)
    if steps is None and replanned_schedule(model.optimizer):
        raise ValueError("fit: the default schedule needs the number of steps: pass "
                         "steps_per_epoch for a tf.data.Dataset of unknown size.")
    if steps is not None:
        _plan(model, steps * (o.epochs - o.initial_epoch))
    callbacks = [checkpoint.StopOnNaN(), *callbacks]
    build_for_training(model, train)
    # unwrapped_input_errors: a bad row of a streamed file (stream_table).
    with unwrapped_input_errors(), warnings.catch_warnings():
        # Without steps_per_epoch, an epoch is one pass over the stream, which ends where its
        # data does (with it, the stream repeats and cannot run out): Keras's "Your input ran
        # out of data" warning at that end says nothing wrong, as in `predict_stream`.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        return keras.Model.fit(model, train, epochs=o.epochs, callbacks=callbacks,
                               initial_epoch=o.initial_epoch,
                               steps_per_epoch=o.steps_per_epoch, shuffle=False, **keras_kwargs)


class _EpochLogs(keras.callbacks.Callback):
    """Every epoch's logs of this `fit`, across its phases."""

    def __init__(self):
        super().__init__()
        self.logs: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append({k: float(v) for k, v in (logs or {}).items() if np.isscalar(v)})


def _known_steps(dataset: tf.data.Dataset, batch_size: int, preprocessor) -> int | None:
    # A streamed dataset groups rows per bucket, which can add one partial batch per bucket.
    count = int(dataset.cardinality())
    if count < 0:
        return None
    x_spec = dataset.element_spec[0]
    first = x_spec[0] if isinstance(x_spec, (tuple, list)) else x_spec
    if first.shape.rank == 1:
        return None  # Already batched by the user: we cannot know the row count cheaply.
    return math.ceil(count / batch_size) + len(preprocessor.bucket_lengths)
