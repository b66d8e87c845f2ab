"""Which encoder weights train: the fine-tuning modes of `Task.set_finetuning`.

A mode is part of the model's config (`Task.get_config` records it, `Task.from_config` applies
it again before any weights or optimizer state load), so `save` -> `kbert.load_model` gives the
same trainable variables, in the same order, and the optimizer state that goes with them.
Keras's per-layer `trainable` flags are not enough for that: KerasHub's `BertBackbone` rebuilds
its layers from its config, which records none of them.

The one rule for BERT's pooler (the tanh dense over [CLS]): it trains iff the task's head reads
it (`reads_pooler`, found in the model's graph) and the encoder's top layer trains.
"""

from __future__ import annotations

import keras

from kbert.tasks import lora

MODES = ("full", "frozen", "lora")  # Or an int k: the top k transformer layers train.
POOLER = "pooled_dense"  # The name of BERT's pooler layer in KerasHub's BertBackbone.


def normalize(mode, num_layers: int) -> str | int:
    """The canonical form of a mode: "full", "frozen", "lora" or an int 1..num_layers-1 (0 top
    layers is "frozen", all of them "full"). `ValueError` for anything else.

    Example:
    >>> normalize(0, 6), normalize(6, 6), normalize(2, 6)
    ('frozen', 'full', 2)
    """
    if mode in MODES:
        return mode
    if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode <= num_layers:
        return {0: "frozen", num_layers: "full"}.get(mode, mode)
    raise ValueError(f"finetuning mode must be 'full', 'frozen', 'lora' or a number of top "
                     f"layers 0..{num_layers}; got {mode!r}.")


def reads_pooler(model: keras.Model) -> bool:
    """Whether the model's outputs depend on BERT's pooler: found by walking its functional
    graph back from the outputs to the encoder's call, so no task has to declare it.

    Example:
    >>> reads_pooler(kbert.TextClassifier.from_preset(p, num_classes=2, pooling="pooled"))
    True
    """
    backbone = model.backbone
    # The encoder's outputs in the order Keras flattens them (a dict: by key).
    names = keras.tree.flatten({key: key for key in backbone.output})
    pooler = backbone.get_layer(POOLER)
    stack, seen = list(keras.tree.flatten(model.outputs)), set()
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        operation, node_index, tensor_index = tensor._keras_history
        if operation is pooler:
            return True
        if operation is backbone:
            if names[tensor_index] == "pooled_output":
                return True
            continue  # The sequence output: nothing above the encoder's call reads the pooler.
        stack.extend(operation._inbound_nodes[node_index].input_tensors)
    return False


def apply(model, mode="full", *, rank: int | None = None,
          targets: list[str] | None = None) -> None:
    """Sets which of `model`'s weights train, and records the mode on the model
    (`model.finetuning`, and `model._lora` for LoRA); see `Task.set_finetuning`."""
    if mode != "lora" and (rank is not None or targets is not None):
        raise ValueError(f"rank and targets are LoRA settings; got them with mode {mode!r}.")
    backbone = model.backbone
    current = getattr(model, "_lora", None)
    if current is not None:
        settings = lora.settings_for(backbone, rank, targets) if mode == "lora" else None
        if settings != current:
            raise ValueError(
                f"this model already has LoRA adapters ({current.config()}); they cannot "
                f"be removed or changed (asked for {mode!r}"
                f"{'' if settings is None else ' ' + str(settings.config())}). Fine-tune "
                "model.merged(), a plain copy with the adapters folded in, instead.")
        return
    layers = backbone.transformer_layers
    mode = normalize(mode, len(layers))
    if mode == "lora":
        settings = lora.settings_for(backbone, rank, targets)
        lora.enable(backbone, settings)
        model._lora = settings
        top_trains = True
    else:
        trainable = {"full": len(layers), "frozen": 0}.get(mode, mode)
        backbone.trainable = trainable > 0
        top = layers[len(layers) - trainable:]
        for layer in backbone.layers:  # Every one: an earlier mode may have changed it.
            layer.trainable = (layer in top) if layer in layers else trainable == len(layers)
        top_trains = trainable > 0
    backbone.get_layer(POOLER).trainable = top_trains and reads_pooler(model)
    model.finetuning = mode


def config(model) -> dict:
    """What `Task.get_config` records of the mode.

    Example:
    >>> config(clf.set_finetuning(2))
    {'finetuning': 2}
    """
    mode = getattr(model, "finetuning", "full")
    settings = getattr(model, "_lora", None)
    # KerasHub's backbone config does not record its adapters: the settings go here.
    return {"finetuning": mode, **({"lora": settings.config()} if settings else {})}


def pop_config(config: dict) -> tuple[str | int | None, dict]:
    """(mode, LoRA settings) taken out of a task config (`config` is changed); mode None for a
    config written before kbert recorded modes."""
    settings = config.pop("lora", None) or {}
    mode = config.pop("finetuning", "lora" if settings else None)
    return mode, settings
