"""`tf.data` pipelines from checked examples to padded batches the model trains on.

Texts held in memory are tokenized once, not once per epoch; each epoch then only shuffles,
groups rows of similar length and pads every batch to its length bucket (DESIGN decision 3).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from absl import logging

from kbert.lazy import tf
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


def plan_batches(lengths: np.ndarray, bucket_lengths: list[int], batch_size: int, *, seed: int,
                 epoch: int, shuffle: bool = True, group_by_length: bool = True) -> list[np.ndarray]:
    """The example indices of each training batch of one epoch, fixed by (seed, epoch): a run
    resumed at any step replays exactly the batches an uninterrupted run would have seen.

    Example:
    >>> plan_batches(np.array([5, 30, 6, 31]), [16, 32], 2, seed=0, epoch=0)
    [array([2, 0]), array([1, 3])]

    Examples are taken in a shuffled order and each goes to the pending batch of its length
    bucket, which is emitted when full; leftovers close the epoch, one per bucket (what
    `tf.data`'s `group_by_window` does, written out so the plan is known in advance).
    """
    n = len(lengths)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    if not group_by_length:
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    buckets = np.searchsorted(bucket_lengths, lengths)
    pending: dict[int, list[int]] = {}
    batches = []
    for i in order:
        rows = pending.setdefault(int(buckets[i]), [])
        rows.append(int(i))
        if len(rows) == batch_size:
            batches.append(np.array(rows))
            rows.clear()
    batches += [np.array(rows) for _, rows in sorted(pending.items()) if rows]
    return batches


def steps_per_epoch(encoded, bucket_lengths: list[int], batch_size: int,
                    group_by_length: bool = True) -> int:
    """Training batches per epoch (the same every epoch) of `encoded` (anything with the
    `lengths` of its rows: `EncodedTexts`, pre-tokenized features)."""
    if not group_by_length:
        return math.ceil(len(encoded.lengths) / batch_size)
    per_bucket = np.bincount(np.searchsorted(bucket_lengths, encoded.lengths),
                             minlength=len(bucket_lengths))
    return int(sum(math.ceil(count / batch_size) for count in per_bucket))


def planned_batches(encoded, bucket_lengths: list[int], batch_size: int, *,
                    shuffle: bool, seed: int, group_by_length: bool, start_step: int,
                    steps: int) -> list[np.ndarray]:
    """The example indices of global steps `start_step` to `start_step + steps` over the rows of
    `encoded` (as in `steps_per_epoch`): the batch plans of data epochs 0, 1, 2...
    (`plan_batches`) one after the other.

    Example:
    >>> planned_batches(encoded, [16, 32], 2, shuffle=True, seed=0, group_by_length=True,
    ...                 start_step=1, steps=2)
    """
    per_epoch = steps_per_epoch(encoded, bucket_lengths, batch_size, group_by_length)
    end = start_step + steps
    if start_step >= end:
        raise ValueError(f"start_step={start_step} is past the last of {end} steps.")
    batches = []
    for epoch in range(start_step // per_epoch, (end - 1) // per_epoch + 1):
        plan = plan_batches(encoded.lengths, bucket_lengths, batch_size, seed=seed, epoch=epoch,
                            shuffle=shuffle, group_by_length=group_by_length)
        first = epoch * per_epoch
        batches += plan[max(start_step - first, 0):end - first]
    return batches


def training_batches(preprocessor: TextPreprocessor, encoded: EncodedTexts, targets, batch_size: int,
                     *, shuffle: bool = True, seed: int = 0, group_by_length: bool = True,
                     epochs: int = 1, start_step: int = 0,
                     steps: int | None = None) -> tf.data.Dataset:
    """Batches for `fit`: the batch plans of data epochs 0, 1, 2... (`plan_batches`) one after
    the other, from global step `start_step` on, `steps` of them (default: to the end of
    `epochs` data epochs), each padded to its length bucket. Its cardinality is the number of
    steps, so progress bars and learning-rate schedules know it up front.

    Example:
    >>> training_batches(pre, encoded, targets, 32, seed=0, epochs=3).cardinality()
    """
    if steps is None:
        steps = epochs * steps_per_epoch(encoded, preprocessor.bucket_lengths, batch_size,
                                         group_by_length)
    batches = planned_batches(encoded, preprocessor.bucket_lengths, batch_size,
                              shuffle=shuffle, seed=seed, group_by_length=group_by_length,
                              start_step=start_step, steps=steps)
    indices = tf.RaggedTensor.from_row_lengths(np.concatenate(batches).astype(np.int64),
                                               [len(b) for b in batches])
    token_ids, segment_ids = encoded.token_ids, encoded.segment_ids
    lengths = tf.constant(encoded.lengths, tf.int32)
    if not isinstance(targets, tf.RaggedTensor):
        targets = tf.constant(targets)

    def gather(rows):
        features = {"ids": tf.gather(token_ids, rows).to_tensor(),
                    "segs": tf.gather(segment_ids, rows).to_tensor(),
                    "len": tf.gather(lengths, rows)}
        batch_targets = tf.gather(targets, rows)
        if isinstance(batch_targets, tf.RaggedTensor):
            batch_targets = batch_targets.to_tensor(-1)  # Per-token targets (tagging).
        return features, batch_targets

    return (tf.data.Dataset.from_tensor_slices(indices)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .map(_pad_with(preprocessor), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def inference_batches(preprocessor: TextPreprocessor, encoded: EncodedTexts, batch_size: int,
                      order: np.ndarray | None = None,
                      targets: np.ndarray | None = None) -> tf.data.Dataset:
    """Batches in the given order (for example sorted by length, so batches pad little), each
    padded to its length bucket as `TextPreprocessor.pad` pads (per-token targets with -1 past
    each row's end, as in training).

    Example:
    >>> [b["token_ids"].shape for b in inference_batches(pre, encoded, 2)]
    [TensorShape([2, 16]), TensorShape([1, 32])]

    The rows are in memory, so each batch is cut and padded with NumPy in a generator: `tf.data`
    map functions would be traced anew for every dataset, about 0.1 s of graph building on every
    predict, evaluate or decoding call, whatever its size.
    """
    order = np.arange(len(encoded)) if order is None else np.asarray(order)
    rows = _NumpyRows(encoded.token_ids), _NumpyRows(encoded.segment_ids)
    per_token = isinstance(targets, tf.RaggedTensor)  # One label per token (tagging).
    if per_token:
        target_rows = _NumpyRows(targets)
    elif targets is not None:
        targets = np.asarray(targets)
    buckets = np.asarray(preprocessor.bucket_lengths)
    pad_id = preprocessor.pad_id

    def batches():
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            lengths = encoded.lengths[chosen]
            width = int(buckets[min(np.searchsorted(buckets, max(int(lengths.max()), 1)),
                                    len(buckets) - 1)])
            lengths = np.minimum(lengths, width)
            ids = np.full((len(chosen), width), pad_id, np.int32)
            segments = np.zeros((len(chosen), width), np.int32)
            mask = np.zeros((len(chosen), width), np.int32)
            for j, (row, length) in enumerate(zip(chosen, lengths)):
                ids[j, :length] = rows[0][row][:length]
                segments[j, :length] = rows[1][row][:length]
                mask[j, :length] = 1
            features = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
            if targets is None:
                yield features
            elif per_token:
                labels = np.where(mask > 0, 0, -1).astype(target_rows.dtype)
                for j, (row, length) in enumerate(zip(chosen, lengths)):
                    values = target_rows[row][:length]
                    labels[j, :len(values)] = values
                yield features, labels
            else:
                yield features, targets[chosen]

    spec = {name: tf.TensorSpec([None, None], tf.int32)
            for name in ("token_ids", "padding_mask", "segment_ids")}
    if per_token:
        spec = (spec, tf.TensorSpec([None, None], target_rows.dtype))
    elif targets is not None:
        spec = (spec, tf.TensorSpec([None, *targets.shape[1:]],
                                    tf.string if targets.dtype.kind in "USO" else targets.dtype))
    count = math.ceil(len(order) / batch_size)
    return tf.data.Dataset.from_generator(batches, output_signature=spec).apply(
        tf.data.experimental.assert_cardinality(count))


class _NumpyRows:
    """The rows of a ragged tensor (one ragged dimension) as NumPy slices of its values."""

    def __init__(self, ragged: tf.RaggedTensor):
        self.values = ragged.flat_values.numpy()
        self.splits = ragged.row_splits.numpy()
        self.dtype = self.values.dtype

    def __getitem__(self, row: int) -> np.ndarray:
        return self.values[self.splits[row]:self.splits[row + 1]]


def streaming_batches(preprocessor: TextPreprocessor, dataset: tf.data.Dataset, batch_size: int,
                      *, group_by_length: bool = True, shuffle_buffer: int = 0,
                      seed: int | None = None) -> tf.data.Dataset:
    """Batches from a `tf.data.Dataset` of (text, label) or ((text_a, text_b), label) elements,
    batched or not; for data that does not fit in memory. Labels must already be numeric.
    `shuffle_buffer` > 0 shuffles the rows through a buffer of that many (anew every epoch,
    in an order fixed by `seed`)."""
    x_spec = dataset.element_spec[0]
    first = x_spec[0] if isinstance(x_spec, (tuple, list)) else x_spec
    if first.shape.rank == 1:
        dataset = dataset.unbatch()
    if shuffle_buffer > 0:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

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


def _batch_and_pad(preprocessor, elements, batch_size, group_by_length):
    if group_by_length:
        # One window per length bucket: a batch holds rows of similar length only.
        batches = elements.group_by_window(
            key_func=lambda f, *_: tf.cast(preprocessor.bucket_of(f["len"]), tf.int64),
            reduce_func=lambda _, window: window.padded_batch(batch_size),
            window_size=batch_size)
    else:
        batches = elements.padded_batch(batch_size)
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
