"""Masked-LM inputs: BERT's 15% selection with 80% [MASK] / 10% random token / 10% unchanged,
per sub-token or per whole word.

Written here rather than with KerasHub's `MaskedLMMaskGenerator` because that layer selects
sub-tokens only (no whole-word masking); one function keeps both modes identical otherwise.
"""

from __future__ import annotations

import numpy as np

from kbert.lazy import tf


def continuation_table(vocabulary: list[str]) -> tf.Tensor:
    """For each vocabulary id, whether it continues a word (a "##" WordPiece)."""
    return tf.constant(np.array([t.startswith("##") for t in vocabulary], bool))


def mask_batch(token_ids: tf.Tensor, padding_mask: tf.Tensor, *, mask_id: int,
               vocabulary_size: int, special_ids: list[int], max_predictions: int,
               rate: float = 0.15, whole_words: bool = False,
               continuation: tf.Tensor | None = None, seed: tf.Tensor | None = None):
    """Masks a padded batch [batch, length] of token ids.

    Example:
    >>> masked, positions, targets, weights = mask_batch(ids, mask, mask_id=103,
    ...     vocabulary_size=30522, special_ids=[0, 101, 102], max_predictions=20)

    Returns the masked ids, and per row up to `max_predictions` positions, their original ids
    and weights (1 for a real prediction, 0 for padding). Special tokens and padding are never
    selected; with `whole_words`, a word's sub-tokens are selected together (`continuation`
    marks "##" pieces). `seed` (a [2] int tensor) makes the masking reproducible (held-out
    evaluation); without it every call draws anew (dynamic masking, a new mask every epoch).
    """
    token_ids = tf.cast(token_ids, tf.int32)
    shape = tf.shape(token_ids)
    maskable = tf.cast(padding_mask, tf.bool)
    for special in special_ids:
        maskable &= token_ids != special

    def uniform(s, salt):
        if seed is None:
            return tf.random.uniform(s)
        return tf.random.stateless_uniform(s, seed=tf.cast(seed, tf.int32) + salt)

    if whole_words:
        starts = maskable & ~tf.gather(continuation, token_ids)
        word = tf.cumsum(tf.cast(starts, tf.int32), axis=1)  # 1-based word index per token
        word_draw = uniform([shape[0], shape[1] + 1], 0)
        draw = tf.gather(word_draw, word, batch_dims=1)
    else:
        draw = uniform(shape, 0)
    selected = maskable & (draw < rate)
    # Keep at most max_predictions per row (the earliest ones).
    selected &= tf.cumsum(tf.cast(selected, tf.int32), axis=1) <= max_predictions

    action = uniform(shape, 1)
    random_ids = tf.cast(uniform(shape, 2) * vocabulary_size, tf.int32)
    replacement = tf.where(action < 0.8, mask_id, tf.where(action < 0.9, random_ids, token_ids))
    masked = tf.where(selected, replacement, token_ids)

    positions = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(shape[1]), shape), selected)
    targets = tf.ragged.boolean_mask(token_ids, selected)
    width = [shape[0], max_predictions]
    weights = tf.ones_like(targets, tf.float32).to_tensor(shape=width)
    return masked, positions.to_tensor(shape=width), targets.to_tensor(shape=width), weights
