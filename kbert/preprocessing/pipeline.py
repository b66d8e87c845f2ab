"""`tf.data` pipelines from checked examples to padded batches the model trains on.

Texts held in memory are tokenized once, not once per epoch; each epoch then only shuffles,
groups rows of similar length and pads every batch to its length bucket (DESIGN decision 3).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf
from absl import logging

from kbert.preprocessing.text import TextPreprocessor

_ENCODE_CHUNK = 4096


@dataclasses.dataclass
class EncodedTexts:
    """Packed token ids of many examples, unpadded (one ragged row each)."""

    token_ids: tf.RaggedTensor
    segment_ids: tf.RaggedTensor
    lengths: np.ndarray
    truncated: int

    def __len__(self) -> int:
        return len(self.lengths)


def encode(preprocessor: TextPreprocessor, segments) -> EncodedTexts:
    """Tokenizes and packs every example once.

    Example:
    >>> enc = encode(pre, [["a gripping film", "dull"]])
    >>> enc.lengths
    array([5, 3])
    """
    n = len(segments[0])
    ids, segs, truncated = [], [], 0
    for start in range(0, n, _ENCODE_CHUNK):
        chunk = [tf.constant([_as_str(t) for t in seg[start:start + _ENCODE_CHUNK]])
                 for seg in segments]
        token_ids, segment_ids, cut = preprocessor.encode(chunk)
        ids.append(token_ids)
        segs.append(segment_ids)
        truncated += int(tf.reduce_sum(tf.cast(cut, tf.int32)))
    token_ids = tf.concat(ids, axis=0)
    if truncated:
        logging.warning("%d of %d examples were longer than sequence_length=%d and were truncated.",
                        truncated, n, preprocessor.sequence_length)
    return EncodedTexts(token_ids, tf.concat(segs, axis=0), token_ids.row_lengths().numpy(),
                        truncated)


def _as_str(text) -> str:
    return text.decode("utf-8") if isinstance(text, bytes) else text


def training_batches(preprocessor: TextPreprocessor, encoded: EncodedTexts, targets: np.ndarray,
                     batch_size: int, *, shuffle: bool = True, seed: int | None = None,
                     group_by_length: bool = True) -> tf.data.Dataset:
    """Batches for `fit`: reshuffled every epoch, rows of one length bucket batched together.

    The number of batches is the same every epoch and is set as the dataset's cardinality, so
    progress bars and learning-rate schedules know it up front.
    """
    indices = tf.data.Dataset.range(len(encoded))
    if shuffle:
        indices = indices.shuffle(len(encoded), seed=seed, reshuffle_each_iteration=True)
    elements = indices.map(_rows_of(encoded, targets), num_parallel_calls=tf.data.AUTOTUNE)
    if group_by_length:
        buckets = preprocessor.bucket_lengths
        per_bucket = np.bincount(np.searchsorted(buckets, encoded.lengths), minlength=len(buckets))
        steps = int(sum(math.ceil(count / batch_size) for count in per_bucket))
    else:
        steps = math.ceil(len(encoded) / batch_size)
    return _batch_and_pad(preprocessor, elements, batch_size, group_by_length, steps)


def inference_batches(preprocessor: TextPreprocessor, encoded: EncodedTexts, batch_size: int,
                      order: np.ndarray | None = None,
                      targets: np.ndarray | None = None) -> tf.data.Dataset:
    """Batches in the given order (for example sorted by length, so batches pad little)."""
    order = np.arange(len(encoded)) if order is None else order
    elements = tf.data.Dataset.from_tensor_slices(order.astype(np.int64)).map(
        _rows_of(encoded, targets), num_parallel_calls=tf.data.AUTOTUNE)
    return _batch_and_pad(preprocessor, elements, batch_size, group_by_length=False)


def _rows_of(encoded: EncodedTexts, targets: np.ndarray | None):
    """Maps an example index to its unpadded row (and target)."""
    token_ids, segment_ids = encoded.token_ids, encoded.segment_ids
    lengths = tf.constant(encoded.lengths, tf.int32)
    if targets is not None and not isinstance(targets, tf.RaggedTensor):
        targets = tf.constant(targets)  # Ragged targets: one label per token (tagging).

    def row(i):
        features = {"ids": token_ids[i], "segs": segment_ids[i], "len": lengths[i]}
        return features if targets is None else (features, targets[i])
    return row


def streaming_batches(preprocessor: TextPreprocessor, dataset: tf.data.Dataset, batch_size: int,
                      *, group_by_length: bool = True) -> tf.data.Dataset:
    """Batches from a `tf.data.Dataset` of (text, label) or ((text_a, text_b), label) elements,
    batched or not; for data that does not fit in memory. Labels must already be numeric."""
    x_spec = dataset.element_spec[0]
    first = x_spec[0] if isinstance(x_spec, (tuple, list)) else x_spec
    if first.shape.rank == 1:
        dataset = dataset.unbatch()

    def encode_batch(x, y):
        segments = list(x) if isinstance(x, (tuple, list)) else [x]
        token_ids, segment_ids, _ = preprocessor.encode(segments)
        return {"ids": token_ids.to_tensor(), "segs": segment_ids.to_tensor(),
                "len": tf.cast(token_ids.row_lengths(), tf.int32)}, y

    def unpad(features, y):  # Rows leave the batch at their own length, for regrouping.
        length = features["len"]
        return {"ids": features["ids"][:length], "segs": features["segs"][:length],
                "len": length}, y

    elements = (dataset.batch(256).map(encode_batch, num_parallel_calls=tf.data.AUTOTUNE)
                .unbatch().map(unpad, num_parallel_calls=tf.data.AUTOTUNE))
    return _batch_and_pad(preprocessor, elements, batch_size, group_by_length)


def _batch_and_pad(preprocessor, elements, batch_size, group_by_length, steps=None):
    if group_by_length:
        # One window per length bucket: a batch holds rows of similar length only.
        batches = elements.group_by_window(
            key_func=lambda f, *_: tf.cast(preprocessor.bucket_of(f["len"]), tf.int64),
            reduce_func=lambda _, window: window.padded_batch(batch_size),
            window_size=batch_size)
    else:
        batches = elements.padded_batch(batch_size)
    if steps is not None:
        batches = batches.apply(tf.data.experimental.assert_cardinality(steps))
    return batches.map(_pad_with(preprocessor), num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def _pad_with(preprocessor: TextPreprocessor):
    def pad(features, *targets):
        padded = preprocessor.pad(features["ids"], features["segs"], features["len"])
        if not targets:
            return padded
        return (padded, *(_pad_token_targets(t, padded["padding_mask"]) for t in targets))
    return pad


def _pad_token_targets(targets, padding_mask):
    """Per-token targets (tagging: integer rows of varying length) padded like the tokens,
    IGNORE (-1) past each row's end; per-example targets (fixed shapes) pass through."""
    if targets.shape.rank != 2 or targets.shape[1] is not None or not targets.dtype.is_integer:
        return targets
    width = tf.shape(padding_mask)[1]
    targets = targets[:, :width]
    targets = tf.pad(targets, [[0, 0], [0, width - tf.shape(targets)[1]]])
    return tf.where(padding_mask > 0, targets, tf.constant(-1, targets.dtype))
