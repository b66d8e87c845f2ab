"""LoRA: low-rank adapters on the encoder's projections, the rest of the encoder frozen.

Built on KerasHub's and Keras's own support: `Backbone.enable_lora(rank, target_layer_names)`
adds the adapters (Keras's `EinsumDense` / `Dense` `enable_lora`: kernel + A @ B, B starting at
zero), and the adapter file is what `Backbone.save_lora_weights` writes, so KerasHub's
`load_lora_weights` reads it too. kbert adds what they lack:

- Keras's LoRA layers save the *merged* kernel and zero the adapter when they load (right for a
  deployable file, but the adapter is gone: a resumed checkpoint or a loaded model would go on
  training an adapter that is zero on both sides and gets no gradient). `enable` gives each
  adapted layer a saving of its own that keeps the base kernel and A, B apart.
- KerasHub's `BertBackbone` config does not record LoRA (and MultiHeadAttention rebuilds its
  projections without it), so the task's config records the settings (`Task.get_config`).
- The adapter file also holds the head (the head trains in full) and a fingerprint of the base
  encoder, so an adapter is never applied to an encoder it was not trained on.
- Export wants plain layers: `merged_backbone` folds A @ B into the kernels, `merged_model`
  gives the whole task that way (`Task.merged`).
- `Task.from_preset(adapter=...)` reads the file here (`read_adapter`, `adapter_task_class`,
  `load_adapter`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
import h5py
import keras
import keras_hub
import numpy as np

from kbert.training.checkpoint import fingerprint
from kbert.training.optimizer import LORA_LEARNING_RATE

DEFAULT_RANK = 8
DEFAULT_TARGETS = ("query", "value")  # KerasHub's default: the attention query and value.
# `compile()`'s peak learning rate under LoRA (full fine-tuning: 5e-5); the recipe's, measured
# and explained in `kbert.training.optimizer`.
LEARNING_RATE = LORA_LEARNING_RATE
ADAPTER_SUFFIX = ".lora.h5"  # KerasHub's save_lora_weights insists on it.
_FORMAT = 1


class AdapterError(ValueError):
    """An adapter file that does not fit the model: another base encoder, task or head."""


@dataclasses.dataclass(frozen=True)
class LoraSettings:
    """Which projections get adapters, and of what rank.

    Example:
    >>> LoraSettings(rank=8, targets=("query", "value")).config()
    {'rank': 8, 'targets': ['query', 'value']}
    """

    rank: int = DEFAULT_RANK
    targets: tuple[str, ...] = DEFAULT_TARGETS

    def config(self) -> dict:
        return {"rank": self.rank, "targets": list(self.targets)}


def adaptable_layer_names(backbone) -> list[str]:
    """Names of the encoder's layers LoRA can adapt (projections with `enable_lora`).

    Example:
    >>> adaptable_layer_names(clf.backbone)
    ['attention_output', 'feedforward_intermediate_dense', 'feedforward_output_dense', 'key',
     'query', 'value']
    """
    return sorted({layer.name for layer in _weighted_layers(backbone)
                   if hasattr(layer, "enable_lora")} - {"pooled_dense"})


def settings_for(backbone, rank, targets) -> LoraSettings:
    """Checked settings: `ValueError` naming what is wrong and what is allowed."""
    rank = DEFAULT_RANK if rank is None else rank
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"LoRA rank must be a positive integer; got {rank!r}.")
    targets = DEFAULT_TARGETS if targets is None else targets
    if isinstance(targets, str):
        targets = [t for t in targets.split(",") if t]
    targets = tuple(dict.fromkeys(str(t) for t in targets))
    allowed = adaptable_layer_names(backbone)
    unknown = [t for t in targets if t not in allowed]
    if not targets or unknown:
        raise ValueError(f"LoRA targets must be some of {allowed}; got {list(targets)}.")
    return LoraSettings(int(rank), targets)


def _weighted_layers(backbone) -> list:
    # KerasHub identifies adapted layers by position in this list (names repeat per layer).
    return [layer for layer in backbone._flatten_layers(include_self=False) if layer.weights]


def adapted_layers(backbone) -> list:
    return [layer for layer in _weighted_layers(backbone) if getattr(layer, "lora_enabled", False)]


def _adapter_ids(backbone) -> set[int]:
    return {id(v) for layer in adapted_layers(backbone)
            for v in (layer.lora_kernel_a, layer.lora_kernel_b)}


def enable(backbone, settings: LoraSettings) -> None:
    """Freezes the encoder and adds trainable rank-`settings.rank` adapters to the target
    projections (KerasHub's `enable_lora`). The adapted layers' biases stay frozen too (as in
    Hugging Face peft's default), so the adapter is exactly the A and B matrices."""
    backbone.enable_lora(settings.rank, target_layer_names=list(settings.targets))
    for layer in adapted_layers(backbone):
        if layer.bias is not None:
            layer.bias.trainable = False
        layer.__class__ = _keeping_adapter_apart(type(layer))


class _AdapterKeptApart:
    """Saves and loads an adapted layer as base kernel, bias, A and B (Keras's own LoRA layers
    save the merged kernel and zero A and B on load: see the module docstring)."""

    def _lora_variables(self) -> dict:
        names = {"kernel": self._kernel, "bias": self.bias, "lora_kernel_a": self.lora_kernel_a,
                 "lora_kernel_b": self.lora_kernel_b}
        return {name: v for name, v in names.items() if v is not None}

    def save_own_variables(self, store):
        for name, variable in self._lora_variables().items():
            store[name] = variable

    def load_own_variables(self, store):
        variables = self._lora_variables()
        if "lora_kernel_a" not in store:
            raise AdapterError(
                f"layer {self.path}: the saved weights hold no LoRA adapter; the model has one "
                "(a checkpoint or file of a model fine-tuned without LoRA?).")
        for name, variable in variables.items():
            variable.assign(store[name])


_SUBCLASSES: dict[type, type] = {}


def _keeping_adapter_apart(cls: type) -> type:
    if issubclass(cls, _AdapterKeptApart):
        return cls
    if cls not in _SUBCLASSES:
        _SUBCLASSES[cls] = type(cls.__name__, (_AdapterKeptApart, cls), {})
    return _SUBCLASSES[cls]


def merged_kernel(layer) -> np.ndarray:
    """The layer's kernel with its adapter folded in (float32): kernel + alpha/rank * A @ B."""
    delta = np.matmul(layer.lora_kernel_a.numpy(), layer.lora_kernel_b.numpy())
    return (layer._kernel.numpy().astype(np.float32)
            + (layer.lora_alpha / layer.lora_rank) * delta).astype(layer._kernel.dtype)


def merged_backbone(backbone) -> keras_hub.models.BertBackbone:
    """A plain copy of a LoRA encoder (no adapter layers) whose adapted kernels are merged.

    Example:
    >>> plain = merged_backbone(clf.backbone)
    >>> len(plain.weights) == len(clf.backbone.weights) - 2 * len(adapted_layers(clf.backbone))
    True
    """
    plain = type(backbone).from_config(backbone.get_config())
    merged = {id(layer._kernel): merged_kernel(layer) for layer in adapted_layers(backbone)}
    adapters = _adapter_ids(backbone)
    source = [v for v in backbone.weights if id(v) not in adapters]
    if [tuple(v.shape) for v in source] != [tuple(v.shape) for v in plain.weights]:
        raise RuntimeError("the merged encoder's weights do not line up with the LoRA encoder's.")
    for target, variable in zip(plain.weights, source):
        target.assign(merged.get(id(variable), variable.numpy()))
    plain.trainable = backbone.trainable
    return plain


def merged_model(model):
    """`Task.merged`: a plain copy of a LoRA task model (mode "full") whose encoder has every
    adapter folded in (`merged_backbone`) and whose head has the same weights; the model itself
    if it has no adapters.

    Example:
    >>> plain = merged_model(lora_clf)
    >>> plain.lora is None and plain.finetuning == "full"
    True
    """
    if model.lora is None:
        return model
    config = {**{k: v for k, v in model.get_config().items() if k != "lora"},
              "finetuning": "full"}
    config.update(backbone=merged_backbone(model.backbone), preprocessor=model.preprocessor)
    plain = type(model).from_config(config)
    ours = {layer.name: layer for layer in model.layers}
    backbone_ids = {id(v) for v in model.backbone.weights}
    for layer in plain.layers:
        if layer is plain.backbone or not layer.weights:
            continue
        source = [w for w in ours[layer.name].weights if id(w) not in backbone_ids]
        targets = [w for w in layer.weights if id(w) not in
                   {id(v) for v in plain.backbone.weights}]
        for target, value in zip(targets, source):
            target.assign(value)
    return plain


# ----------------------------------------------------------------------------- adapter file
def _head_weights(model) -> dict[str, keras.Variable]:
    """What LoRA trains besides the adapters, by a stable key: every weight of the task's own
    layers (the head; a tied embedding belongs to the encoder and is left out), and the
    encoder's weights that train (BERT's pooler, for heads that read it)."""
    backbone_ids = {id(v) for v in model.backbone.weights}
    weights = {}
    for layer in model.layers:
        if layer is model.backbone:
            continue
        for i, v in enumerate(w for w in layer.weights if id(w) not in backbone_ids):
            weights[f"head/{layer.name}/{i}"] = v
    adapters = _adapter_ids(model.backbone)
    for index, layer in enumerate(_weighted_layers(model.backbone)):
        for i, v in enumerate(layer.weights):
            if v.trainable and id(v) not in adapters:
                weights[f"encoder/{index}/{i}"] = v
    return weights


def base_fingerprint(model) -> str:
    """A digest of the encoder weights LoRA leaves frozen: equal on the base encoder the adapter
    was trained on, different on any other (the digest a checkpoint's run identity uses too)."""
    skipped = {id(v) for v in _head_weights(model).values()} | _adapter_ids(model.backbone)
    return fingerprint(v for v in model.backbone.weights if id(v) not in skipped)


def _encoder_summary(backbone) -> dict:
    return {"num_layers": int(backbone.num_layers), "hidden_dim": int(backbone.hidden_dim),
            "vocabulary_size": int(backbone.vocabulary_size)}


def save_adapter(model, path: str | Path) -> str:
    """Writes the adapters, the head and what rebuilds the task into one small H5 file."""
    if not adapted_layers(model.backbone):
        raise ValueError("save_adapter needs a LoRA model: call set_finetuning('lora') and "
                         "fit first (model.save keeps any other model whole).")
    path = Path(path)
    if not str(path).endswith(ADAPTER_SUFFIX):
        raise ValueError(f"an adapter file's name ends in '{ADAPTER_SUFFIX}' (KerasHub's "
                         f"convention); got '{path}'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = model.get_config()
    task = {"class_name": keras.saving.get_registered_name(type(model)),
            "config": {k: v for k, v in config.items() if k not in ("backbone", "preprocessor")},
            "sequence_length": int(model.preprocessor.sequence_length),
            "bucket_lengths": [int(n) for n in model.preprocessor.bucket_lengths]}
    base = {"fingerprint": base_fingerprint(model), **_encoder_summary(model.backbone)}
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_path = Path(tmp) / f"adapter{ADAPTER_SUFFIX}"
        model.backbone.save_lora_weights(str(tmp_path))
        with h5py.File(tmp_path, "a") as file:
            group = file.create_group("kbert")
            group.attrs["format"] = _FORMAT
            group.attrs["task"] = json.dumps(task)
            group.attrs["base"] = json.dumps(base)
            for key, variable in _head_weights(model).items():
                group.create_dataset(key, data=variable.numpy())
        os.replace(tmp_path, path)
    return str(path)


@dataclasses.dataclass(frozen=True)
class AdapterInfo:
    """What an adapter file says about the model it belongs to."""

    path: str
    class_name: str
    config: dict
    sequence_length: int
    base: dict
    bucket_lengths: list[int] | None = None  # None in files written before they were recorded.


def read_adapter(path: str | Path) -> AdapterInfo:
    """The task and base encoder an adapter file belongs to; `AdapterError` if it is none."""
    path = Path(path)
    if not path.is_file():
        raise AdapterError(f"adapter file '{path}' does not exist.")
    try:
        with h5py.File(path, "r") as file:
            group = file["kbert"]
            task, base = json.loads(group.attrs["task"]), json.loads(group.attrs["base"])
    except (OSError, KeyError) as error:
        raise AdapterError(f"'{path}' is not an adapter file written by kbert's save_adapter "
                           f"({error}).") from None
    return AdapterInfo(str(path), task["class_name"], task["config"], task["sequence_length"],
                       base, task.get("bucket_lengths"))


def adapter_task_class(info: AdapterInfo, requested: type, base: type) -> type:
    """The task class `info`'s file belongs to, for `requested.from_preset(adapter=...)`:
    `requested` itself, or for the `base` class (`Task.from_preset`) the file's own class.
    `AdapterError` for a file of another task, or of no kbert task.

    Example:
    >>> adapter_task_class(read_adapter("sst2.lora.h5"), kbert.Task, kbert.Task)
    <class 'kbert.tasks.classifier.TextClassifier'>
    """
    saved = keras.saving.get_registered_object(info.class_name)
    if saved is None or not issubclass(saved, base):
        raise AdapterError(f"{info.path} holds an adapter of {info.class_name}, not a "
                           "kbert task.")
    if requested is not base and saved is not requested:
        raise AdapterError(f"{info.path} holds an adapter of a {saved.__name__}; load "
                           f"it with {saved.__name__}.from_preset, not "
                           f"{requested.__name__}.from_preset.")
    return saved


def load_adapter(model, info: AdapterInfo) -> None:
    """Puts the adapter and head of `info`'s file into `model` (built from the task config in
    the file, LoRA enabled): refused with `AdapterError` for another base encoder."""
    ours = base_fingerprint(model)
    if ours != info.base["fingerprint"]:
        theirs = info.base
        raise AdapterError(
            f"the adapter in {info.path} was trained on another base encoder (fingerprint "
            f"{theirs['fingerprint']}: {theirs['num_layers']} layers, hidden "
            f"{theirs['hidden_dim']}, vocabulary {theirs['vocabulary_size']}); this preset's "
            f"encoder is {ours} ({_describe(model.backbone)}). Load it with the preset it was "
            "trained on.")
    model.backbone.load_lora_weights(info.path)
    weights = _head_weights(model)
    with h5py.File(info.path, "r") as file:
        group = file["kbert"]
        saved = {}
        group.visititems(lambda name, item: saved.__setitem__(name, item[()])
                         if isinstance(item, h5py.Dataset) else None)
    if set(saved) != set(weights):
        raise AdapterError(f"the head in {info.path} does not fit this model: it holds "
                           f"{sorted(saved)}, the model {sorted(weights)}.")
    for key, variable in weights.items():
        if tuple(saved[key].shape) != tuple(variable.shape):
            raise AdapterError(f"the head in {info.path} does not fit this model: {key} is "
                               f"{saved[key].shape} there, {tuple(variable.shape)} here.")
        variable.assign(saved[key])


def _describe(backbone) -> str:
    s = _encoder_summary(backbone)
    return f"{s['num_layers']} layers, hidden {s['hidden_dim']}, vocabulary {s['vocabulary_size']}"


def trainable_parameters(model) -> int:
    """How many parameters `fit` trains.

    Example:
    >>> trainable_parameters(clf.set_finetuning("lora", rank=8))   # MiniLM, two labels
    446210
    """
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
