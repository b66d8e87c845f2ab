"""Pieces shared by the task heads."""

from __future__ import annotations

import keras
from keras import ops

POOLINGS = ("pooled", "cls", "mean")

# How a task head's kernels start (set by `set_head_initializer`, for ablations).
_HEAD_INITIALIZER = {"name": "normal"}


def head_initializer():
    """A new initializer for the kernel of a task head (classifier, regressor, tagger, QA
    spans): N(0, 0.02), as Hugging Face transformers starts BERT heads (`initializer_range`).

    Not Google BERT's N(0, 0.02) truncated at two standard deviations (0.0176 after the cut),
    which kbert used before. Issue 22 (RESULTS.md): on CoNLL-2003, the same encoder, batches and
    recipe, the tagger trained from a truncated draw ended 3.8-4.0 entity F1 below one trained
    from a normal draw, in Keras and in PyTorch alike (the heads copied across frameworks);
    with kbert's own normal draws the gap to transformers closed to 0.6.
    """
    if _HEAD_INITIALIZER["name"] == "truncated_normal":
        return keras.initializers.TruncatedNormal(stddev=0.02)
    return keras.initializers.RandomNormal(stddev=0.02)


def set_head_initializer(name: str) -> None:
    """"truncated_normal" or "normal": the initializer of the heads built from now on."""
    if name not in ("truncated_normal", "normal"):
        raise ValueError(f"head initializer must be 'truncated_normal' or 'normal'; got {name!r}.")
    _HEAD_INITIALIZER["name"] = name


def pool(backbone, inputs, pooling: str):
    """One vector per sequence, in float32 (the head and the loss stay float32 under mixed
    precision).

    "pooled": BERT's pooler (tanh dense over [CLS]); "cls": the [CLS] hidden state; "mean": the
    mean of the hidden states of real tokens (padding excluded). Other than "pooled", BERT's
    pooler is unused, and `kbert.tasks.finetuning` (which finds what the head reads) freezes it
    so the optimizer does not track it.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}.")
    backbone_outputs, padding_mask = backbone(inputs), inputs["padding_mask"]
    if pooling == "pooled":
        return ops.cast(backbone_outputs["pooled_output"], "float32")
    sequence = ops.cast(backbone_outputs["sequence_output"], "float32")
    if pooling == "cls":
        return sequence[:, 0, :]
    return masked_mean(sequence, ops.cast(ops.expand_dims(padding_mask, -1), "float32"))


def masked_mean(sequence, mask):
    """Mean over the real tokens (`mask` [batch, length, 1], 1.0 on them) of [batch, length, dim]
    `sequence`. The weights (1/count on real tokens) are applied before the sum, so no
    intermediate tensor grows with the length: an int8 export quantizes every tensor over its
    calibrated range, and a sum of L hidden states would need an L times wider one."""
    weights = mask / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
    return ops.sum(sequence * weights, axis=1)
