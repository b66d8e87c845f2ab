"""Pieces shared by the task heads."""

from __future__ import annotations

from keras import ops

POOLINGS = ("pooled", "cls", "mean")


def pool(backbone_outputs: dict, padding_mask, pooling: str):
    """One vector per sequence, in float32 (the head and the loss stay float32 under mixed
    precision).

    "pooled": BERT's pooler (tanh dense over [CLS]); "cls": the [CLS] hidden state; "mean": the
    mean of the hidden states of real tokens (padding excluded).
    """
    if pooling == "pooled":
        return ops.cast(backbone_outputs["pooled_output"], "float32")
    sequence = ops.cast(backbone_outputs["sequence_output"], "float32")
    if pooling == "cls":
        return sequence[:, 0, :]
    if pooling == "mean":
        mask = ops.cast(ops.expand_dims(padding_mask, -1), "float32")
        return ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
    raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}.")
