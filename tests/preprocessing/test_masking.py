import numpy as np
import tensorflow as tf

from kbert.preprocessing.masking import continuation_table, mask_batch

VOCAB = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing", "##s", "dog", "cat", "run"]
PAD, CLS, SEP, MASK = 0, 1, 2, 3


def batch(rows=400, length=40, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, len(VOCAB), size=(rows, length))
    ids[:, 0], ids[:, -5] = CLS, SEP
    ids[:, -4:] = PAD
    mask = (ids != PAD).astype(np.int32)
    return tf.constant(ids, tf.int32), tf.constant(mask)


def run(ids, mask, **kwargs):
    options = dict(mask_id=MASK, vocabulary_size=len(VOCAB), special_ids=[PAD, CLS, SEP],
                   max_predictions=40, continuation=continuation_table(VOCAB))
    options.update(kwargs)
    return [t.numpy() for t in mask_batch(ids, mask, **options)]


def test_selects_about_15_percent_never_specials_and_replaces_80_10_10():
    ids, mask = batch()
    masked, positions, targets, weights = run(ids, mask, seed=tf.constant([1, 2]))
    ids = ids.numpy()
    selected = np.zeros_like(ids, bool)
    for row in range(len(ids)):
        selected[row, positions[row][weights[row] > 0]] = True
    maskable = (ids != PAD) & (ids != CLS) & (ids != SEP)
    assert not (selected & ~maskable).any()
    assert abs(selected.sum() / maskable.sum() - 0.15) < 0.01
    np.testing.assert_array_equal(targets[weights > 0], ids[selected])
    np.testing.assert_array_equal(masked[~selected], ids[~selected])  # untouched elsewhere
    became_mask = (masked[selected] == MASK).mean()
    kept = (masked[selected] == ids[selected]).mean()
    assert abs(became_mask - 0.8) < 0.03 and 0.08 < kept < 0.16  # 10% kept + random hits


def test_whole_word_masking_takes_every_piece_of_a_chosen_word():
    # "play ##ing ##s" is one word; with whole words, its pieces are selected together.
    row = [CLS] + [4, 5, 6, 7, 8, 4, 6, 9] * 4 + [SEP]
    ids = tf.constant([row] * 200, tf.int32)
    masked, positions, _, weights = run(ids, tf.ones_like(ids), whole_words=True,
                                        seed=tf.constant([3, 4]))
    pieces = np.isin(np.array(row), [5, 6])
    for r in range(200):
        chosen = set(positions[r][weights[r] > 0].tolist())
        for p in np.flatnonzero(pieces):
            start = p - 1 if row[p - 1] == 4 else p - 2  # the word's first piece
            assert (p in chosen) == (start in chosen)


def test_seeded_masks_repeat_and_unseeded_masks_change():
    ids, mask = batch(rows=50)
    first = run(ids, mask, seed=tf.constant([7, 0]))
    second = run(ids, mask, seed=tf.constant([7, 0]))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(run(ids, mask)[1], run(ids, mask)[1])


def test_at_most_max_predictions_per_row():
    ids, mask = batch(rows=20)
    _, positions, _, weights = run(ids, mask, rate=0.9, max_predictions=5)
    assert positions.shape == (20, 5) and weights.sum(1).max() == 5
