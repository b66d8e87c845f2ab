"""Pieces shared by the task heads."""

from __future__ import annotations

from keras import ops

POOLINGS = ("pooled", "cls", "mean")


def pool(backbone, inputs, pooling: str):
    """One vector per sequence, in float32 (the head and the loss stay float32 under mixed
    precision).

    "pooled": BERT's pooler (tanh dense over [CLS]); "cls": the [CLS] hidden state; "mean": the
    mean of the hidden states of real tokens (padding excluded). Other than "pooled", BERT's
    pooler is unused and is frozen so the optimizer does not track it.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}.")
    backbone_outputs, padding_mask = backbone(inputs), inputs["padding_mask"]
    if pooling == "pooled":
        return ops.cast(backbone_outputs["pooled_output"], "float32")
    backbone.get_layer("pooled_dense").trainable = False
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
