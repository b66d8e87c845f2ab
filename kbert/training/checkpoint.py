"""Exact resume after a crash, and a clear stop when the loss diverges.

A checkpoint holds everything a step depends on: the weights, the dropout layers' random
generator states (model variables that `save_weights` leaves out), the optimizer's variables (its step
count is the learning-rate schedule's position), and the run's seed, from which every epoch's
batch plan is rebuilt (`kbert.preprocessing.pipeline.plan_batches`), so a resumed run sees the
batches an uninterrupted one would, none skipped or repeated. It also holds the running totals
of the epoch's training metrics (loss mean, accuracy...), so an epoch resumed in the middle logs
the same averages as one that ran through.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
from absl import logging

from kbert.files import atomic_directory, write_json

LATEST = "latest"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def read_state(directory: str | Path) -> dict | None:
    """The run state of the checkpoint in `directory`, or None if there is none."""
    path = Path(directory) / LATEST / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def restore(model, directory: str | Path) -> dict | None:
    """Loads the checkpoint in `directory` into `model` (weights and optimizer state) and returns
    its run state, or None if there is none. The optimizer must be the run's (compiled)."""
    state = read_state(directory)
    if state is None:
        return None
    latest = Path(directory) / LATEST
    model.load_weights(str(latest / "model.weights.h5"))
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    with np.load(latest / "optimizer.npz") as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(f"the checkpoint in {latest} has {len(values)} optimizer variables, the "
                         f"model {len(optimizer.variables)}: it comes from another model or "
                         "fine-tuning mode; remove it to start over.")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    with np.load(latest / "random.npz") as saved:  # By position: generator names are global.
        for i, variable in enumerate(_random_states(model)):
            variable.assign(saved[f"arr_{i}"])
    logging.info("resumed from %s at step %d", latest, state["step"])
    return state


def saved_metric_states(directory: str | Path) -> list[np.ndarray] | None:
    """The training metrics' variables as the checkpoint in `directory` saved them."""
    path = Path(directory) / LATEST / "metrics.npz"
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _metric_states(model) -> list:
    return [v for metric in model.metrics for v in metric.variables]


class ResumeEpochMetrics(keras.callbacks.Callback):
    """Adds the interrupted epoch's running metric totals back after the resumed epoch's first
    step: Keras resets metrics when an epoch begins and builds compiled metrics only in the
    first step. Keras's streaming metrics keep sums (totals, counts, confusion counts), so
    adding the saved sums gives the averages over every step of the epoch."""

    def __init__(self, values: list[np.ndarray]):
        super().__init__()
        self.values = values

    def on_train_batch_end(self, batch, logs=None):
        if self.values is None:
            return
        variables = _metric_states(self.model)
        if len(variables) != len(self.values):
            raise ValueError(f"the checkpoint holds {len(self.values)} metric variables, the "
                             f"model {len(variables)}: it was compiled with other metrics.")
        for variable, value in zip(variables, self.values):
            variable.assign_add(value)
        self.values = None  # Only the interrupted epoch continues; later ones start afresh.


def _random_states(model) -> list:
    """The dropout layers' random generator states: model variables, but not among the weights
    `save_weights` writes."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint into `directory/latest` every `every` steps and at the end of every
    epoch, atomically (a crash while saving leaves the previous checkpoint).

    Example:
    >>> model.fit(x, y, checkpoint_dir="runs/sst2/checkpoint", checkpoint_every=500)
    """

    def __init__(self, directory: str | Path, every: int, state: dict, first_step: int):
        super().__init__()
        self.directory, self.every = Path(directory), max(int(every), 1)
        self.state = state  # seed, steps_per_epoch, epochs, epoch_logs...
        self.first_step = first_step  # Global step at which this fit's optimizer started.
        self.last_saved = None

    def global_step(self) -> int:
        return self.first_step + int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        if self.global_step() % self.every == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.state.setdefault("epoch_logs", []).append(
            {k: float(v) for k, v in (logs or {}).items() if np.isscalar(v)})
        self.save(force=True)  # Again if this step was just saved: the epoch's logs are new.

    def save(self, force: bool = False) -> None:
        step = self.global_step()
        if step == self.last_saved and not force:
            return
        with atomic_directory(self.directory / LATEST) as tmp:
            tmp.mkdir(parents=True)
            self.model.save_weights(str(tmp / "model.weights.h5"))
            np.savez(tmp / "optimizer.npz", *[v.numpy() for v in self.model.optimizer.variables])
            np.savez(tmp / "random.npz", *[v.numpy() for v in _random_states(self.model)])
            np.savez(tmp / "metrics.npz", *[np.asarray(v.numpy()) for v in
                                            _metric_states(self.model)])
            write_json(tmp / "state.json", {**self.state, "step": step})
        self.last_saved = step


class StopOnNaN(keras.callbacks.Callback):
    """Stops training with `TrainingDiverged` naming the step where the loss stopped being
    finite, and where the last good checkpoint is."""

    def __init__(self, checkpoint: TrainingCheckpoint | None = None, first_step: int = 0):
        super().__init__()
        self.checkpoint, self.first_step = checkpoint, first_step
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        step = self.first_step + int(self.model.optimizer.iterations.numpy())
        kept = ("no checkpoint was written" if self.checkpoint is None
                or self.checkpoint.last_saved is None else
                f"the last good checkpoint (step {self.checkpoint.last_saved}) is in "
                f"{self.checkpoint.directory / LATEST}")
        raise TrainingDiverged(f"the loss became {float(loss)} at step {step} (epoch "
                               f"{self.epoch + 1}, batch {batch + 1}); {kept}. Lower the learning "
                               "rate or check the inputs.")
