"""Exact resume after a crash, and a clear stop when the loss diverges.

A checkpoint holds everything a step depends on: the weights, the dropout layers' random
generator states (model variables that `save_weights` leaves out), the optimizer's variables (its step
count is the learning-rate schedule's position), and the run's seed, from which every epoch's
batch plan is rebuilt (`kbert.preprocessing.pipeline.plan_batches`), so a resumed run sees the
batches an uninterrupted one would, none skipped or repeated. It also holds the running totals
of the epoch's training metrics (loss mean, accuracy...), so an epoch resumed in the middle logs
the same averages as one that ran through.

A checkpoint belongs to one run: the data, the batch plan, the optimizer recipe, and the model
itself (its config and the encoder weights it started from). `check_same_run` refuses any
other, naming what differs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np
from absl import logging

from kbert.errors import CheckpointMismatch
from kbert.files import write_json

POINTER = "checkpoint.json"  # Names the newest complete checkpoint folder.
_STEP_DIR = "step-{:09d}"
LEGACY_LATEST = "latest"  # Where checkpoints were kept before the pointer file.


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def latest_directory(directory: str | Path) -> Path | None:
    """The folder of the newest complete checkpoint in `directory`, or None if there is none.

    A checkpoint is written whole under a new name, and only then does the pointer file name it
    (one atomic rename), so a crash at any moment leaves the previous checkpoint in force."""
    directory = Path(directory)
    pointer = directory / POINTER
    if pointer.is_file():
        latest = directory / json.loads(pointer.read_text())["latest"]
        return latest if (latest / "state.json").is_file() else None
    legacy = directory / LEGACY_LATEST
    return legacy if (legacy / "state.json").is_file() else None


def read_state(directory: str | Path) -> dict | None:
    """The run state of the checkpoint in `directory`, or None if there is none. Safe to call
    while a run writes there (a folder replaced under the reader is read again)."""
    for _ in range(5):
        latest = latest_directory(directory)
        if latest is None:
            return None
        try:
            return json.loads((latest / "state.json").read_text())
        except FileNotFoundError:
            continue  # Replaced by a newer checkpoint between the two reads.
    return None


# What a resumed run must share with the run that wrote the checkpoint, and how to name it.
IDENTITY = {"data": "the training data (its texts, labels or order)", "examples": "examples",
            "seed": "seed", "batch_size": "batch size", "epochs": "epochs",
            "steps_per_epoch": "steps per epoch", "shuffle": "shuffle",
            "group_by_length": "group_by_length", "initial_epoch": "initial epoch",
            "optimizer": "optimizer recipe (learning rate, warmup, weight decay, clipping, "
                         "layer decay)",
            "lora": "LoRA adapters (rank, targets; None: none)",
            "model": "model config", "weights": "the starting encoder weights (another preset "
                                                 "or encoder)"}
# Recorded since these were added: a checkpoint written before has none and is not refused
# for lacking them.
_ADDED_LATER = ("model", "weights")
# Config entries that name or describe a model without changing what it computes: Keras gives
# layers unique names per process ("bert_backbone_3"), and the trainable flags follow from the
# fine-tuning mode, which the config records itself.
_NOT_COMPUTATION = {"name", "trainable", "module", "registered_name", "build_config",
                    "compile_config"}


def fingerprint(variables) -> str:
    """A short digest of variables' values (Keras variables or arrays), in order.

    Example:
    >>> fingerprint(model.backbone.weights)
    '3f2a9c0d51e7b846'
    """
    digest = hashlib.sha256()
    for v in variables:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(v)).tobytes())
    return digest.hexdigest()[:16]


def encoder_fingerprint(backbone) -> str:
    """A digest of the encoder's weights, LoRA adapters left out (they start random and are
    what trains; Keras names them `lora_kernel_a` / `lora_kernel_b`): what a run starts from
    whatever its fine-tuning mode, equal for the same preset in every process.

    Example:
    >>> encoder_fingerprint(kbert.TextClassifier.from_preset(p, num_classes=2).backbone)
    '9d41c0be27a6f503'
    """
    return fingerprint(v for v in backbone.weights
                       if not v.path.rsplit("/", 1)[-1].startswith("lora_kernel_"))


def model_identity(model) -> dict:
    """The model's config (`get_config`: encoder architecture, preprocessing, head options,
    fine-tuning mode...) as flat dotted keys, without what does not change the computation
    (names, trainable flags, the task's `decoding_settings`) or what the run identity holds on
    its own (LoRA settings).

    Example:
    >>> model_identity(clf)["pooling"], model_identity(clf)["backbone.config.num_layers"]
    ('mean', 6)
    """
    flat = {}

    def visit(value, prefix):
        if isinstance(value, dict) and "DTypePolicy" in str(value.get("class_name", "")):
            value = value.get("config", {}).get("name")  # A dtype policy: its name is its all.
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in _NOT_COMPUTATION:
                    visit(item, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = value

    # Settings a task declares as read only when decoding predictions (a classifier's threshold,
    # QA's n-best): changing them between two runs changes no weight, so a resume takes them.
    decoding = set(getattr(model, "decoding_settings", ()))
    config = {k: v for k, v in model.get_config().items() if k != "lora" and k not in decoding}
    # What shapes training besides the config, declared by the model: a distilling student's
    # teacher, temperature and alpha (kbert.training.distill.Student.training_identity).
    config.update(getattr(model, "training_identity", dict)())
    visit(config, "")
    return json.loads(json.dumps(flat, default=str))  # As state.json gives it back.


def check_same_run(saved: dict, identity: dict, directory: str | Path) -> None:
    """Refuses to resume from a checkpoint that another run wrote, naming what differs.

    Example:
    >>> check_same_run(read_state("ckpt"), {**identity, "seed": 8}, "ckpt")
    CheckpointMismatch: the checkpoint in ckpt is from another run: seed 7 there, 8 here; ...
    """
    differences = []
    for key, what in IDENTITY.items():
        theirs, ours = saved.get(key), identity.get(key)
        if theirs == ours or (key in _ADDED_LATER and key not in saved):
            continue
        if key in ("optimizer", "model") and isinstance(theirs, dict) and isinstance(ours, dict):
            keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            changed = [f"{k} {theirs.get(k)} there, {ours.get(k)} here" for k in keys]
            differences.append(f"{key} " + ", ".join(changed))
        elif key == "data":
            differences.append(what)
        else:
            differences.append(f"{what} {theirs} there, {ours} here")
    if differences:
        raise CheckpointMismatch(
            f"the checkpoint in {directory} is from another run: {'; '.join(differences)} "
            "differ. Remove it to start over (scripts: --noresume), or resume with the same "
            "data and options.")


def data_fingerprint(*arrays) -> str:
    """A digest of arrays (NumPy, tensors or ragged tensors; None is skipped), in order: of the
    tokenized examples and their targets, what a checkpoint's run is tied to."""
    digest = hashlib.sha256()
    for tensor in arrays:
        if tensor is None:
            continue
        if hasattr(tensor, "flat_values"):  # Ragged: the values and where each row ends.
            digest.update(np.asarray(tensor.row_splits).tobytes())
            tensor = tensor.flat_values
        digest.update(np.ascontiguousarray(np.asarray(tensor)).tobytes())
    return digest.hexdigest()


def restore(model, directory: str | Path) -> dict | None:
    """Loads the checkpoint in `directory` into `model` (weights and optimizer state) and returns
    its run state, or None if there is none. The optimizer must be the run's (compiled)."""
    latest = latest_directory(directory)
    if latest is None:
        return None
    state = json.loads((latest / "state.json").read_text())
    optimizer = model.optimizer
    if not optimizer.built:  # Before the weights: Keras skips (with a warning) an unbuilt one.
        optimizer.build(model.trainable_variables)
    model.load_weights(str(latest / "model.weights.h5"))
    with np.load(latest / "optimizer.npz") as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise CheckpointMismatch(
            f"the checkpoint in {latest} has {len(values)} optimizer variables, the model "
            f"{len(optimizer.variables)}: it comes from another model or fine-tuning mode; "
            "remove it to start over (scripts: --noresume).")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    with np.load(latest / "random.npz") as saved:  # By position: generator names are global.
        for i, variable in enumerate(_random_states(model)):
            variable.assign(saved[f"arr_{i}"])
    logging.info("resumed from %s at step %d", latest, state["step"])
    return state


def saved_metric_states(directory: str | Path) -> list[np.ndarray] | None:
    """The training metrics' variables as the checkpoint in `directory` saved them."""
    latest = latest_directory(directory)
    path = latest / "metrics.npz" if latest else None
    if path is None or not path.is_file():
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
    """Saves a checkpoint into `directory` every `every` steps and at the end of every epoch,
    atomically: each is written whole into a new `step-N` folder, then the pointer file
    `checkpoint.json` is switched to it in one rename, then older folders are removed. A crash
    at any moment leaves the previous checkpoint in force; folders a killed run left half
    written are removed when the next run starts.

    Example:
    >>> model.fit(x, y, checkpoint_dir="runs/sst2/checkpoint", checkpoint_every=500)
    """

    def __init__(self, directory: str | Path, every: int, state: dict, first_step: int):
        super().__init__()
        self.directory, self.every = Path(directory), max(int(every), 1)
        self.state = state  # seed, steps_per_epoch, epochs, epoch_logs...
        self.first_step = first_step  # The global step at optimizer iteration 0.
        self.last_saved = None
        _remove_unreferenced(self.directory)

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
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".partial-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        self.model.save_weights(str(tmp / "model.weights.h5"))
        np.savez(tmp / "optimizer.npz", *[v.numpy() for v in self.model.optimizer.variables])
        np.savez(tmp / "random.npz", *[v.numpy() for v in _random_states(self.model)])
        np.savez(tmp / "metrics.npz", *[np.asarray(v.numpy()) for v in
                                        _metric_states(self.model)])
        write_json(tmp / "state.json", {**self.state, "step": step})
        name = _STEP_DIR.format(step)
        if (self.directory / name).exists():  # The epoch-end save of a step saved just before.
            shutil.rmtree(self.directory / name)
        os.replace(tmp, self.directory / name)
        write_json(self.directory / POINTER, {"latest": name})  # The commit point.
        _remove_unreferenced(self.directory)
        self.last_saved = step


def _remove_unreferenced(directory: Path) -> None:
    """Removes checkpoint folders the pointer does not name: older checkpoints, and partial ones
    a killed run left behind."""
    if not directory.is_dir():
        return
    latest = latest_directory(directory)
    for path in directory.iterdir():
        if path.is_dir() and path != latest and (path.name.startswith(".partial-") or
                                                 path.name.startswith("step-") or
                                                 path.name == LEGACY_LATEST):
            shutil.rmtree(path, ignore_errors=True)


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
                f"{self.checkpoint.directory / _STEP_DIR.format(self.checkpoint.last_saved)}")
        raise TrainingDiverged(f"the loss became {float(loss)} at step {step} (epoch "
                               f"{self.epoch + 1}, batch {batch + 1}); {kept}. Lower the learning "
                               "rate or check the inputs.")
