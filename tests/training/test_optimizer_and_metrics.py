import numpy as np
import pytest

from kbert.training import WarmupLinearDecay, bert_adamw
from kbert.training.metrics import classification_report, multilabel_report, regression_report


def test_schedule_warms_up_then_decays_to_zero():
    schedule = WarmupLinearDecay(peak=1e-4, total_steps=100, warmup_steps=10)
    values = [float(schedule(step)) for step in (0, 5, 10, 55, 100, 120)]
    np.testing.assert_allclose(values, [0.0, 5e-5, 1e-4, 5e-5, 0.0, 0.0], atol=1e-12)


def test_schedule_round_trips_its_config():
    schedule = WarmupLinearDecay(2e-5, 1000, 60)
    assert WarmupLinearDecay(**schedule.get_config()).get_config() == schedule.get_config()


def test_bert_adamw_plans_warmup_from_ratio():
    optimizer = bert_adamw(3e-5, total_steps=200, warmup_ratio=0.06)
    schedule = optimizer._learning_rate
    assert (schedule.total_steps, schedule.warmup_steps, schedule.peak) == (200, 12, 3e-5)


def _steps(optimizer, gradient, steps=3):
    import keras

    variable = keras.Variable(np.ones((4, 3), np.float32))
    optimizer.build([variable])
    for _ in range(steps):
        optimizer.apply_gradients([(gradient, variable)])
    return variable.numpy()


@pytest.mark.parametrize("layer_decay", [None, {"embeddings": 0.5}])
def test_sparse_gradient_with_repeated_rows_steps_like_its_dense_sum(layer_decay):
    # An embedding lookup's gradient: one slice per occurrence, here row 0 three times (as
    # [CLS] or segment id 0 in every row of a batch). Keras squares the slices one by one, so
    # Adam's second moment and the clipping norm were those of sum(g_i^2), not (sum g_i)^2
    # (issue 22: the CoNLL tagger trained 4 F1 behind PyTorch's AdamW).
    import tensorflow as tf

    sparse = tf.IndexedSlices(tf.constant([[1.0, 2.0, 0.5]] * 3 + [[0.3, 0.0, -1.0]]),
                              tf.constant([0, 0, 0, 2]), tf.constant([4, 3]))
    dense = tf.convert_to_tensor(sparse)
    make = lambda: bert_adamw(0.1, clipnorm=1.0, lr_multipliers=layer_decay)  # noqa: E731
    np.testing.assert_allclose(_steps(make(), sparse), _steps(make(), dense), rtol=1e-5, atol=1e-6)


def test_small_gradients_step_as_in_pytorch_adamw():
    # PyTorch's AdamW (what a transformers user trains with), written out: epsilon is added
    # after the bias correction. Keras adds it before, so 1e-6 there acts as 3.2e-5 at step 1,
    # a third of these gradients, and damped the early steps of a small encoder (issue 22).
    import keras

    rng = np.random.default_rng(0)
    gradients = [(rng.choice([-1, 1], (4, 3)) * rng.uniform(5e-5, 2e-4, (4, 3))).astype(np.float32)
                 for _ in range(3)]
    lr, wd, b1, b2, eps = 1e-3, 0.01, 0.9, 0.999, 1e-8
    expected, m, v = np.full((4, 3), 0.5), np.zeros((4, 3)), np.zeros((4, 3))
    for t, g in enumerate(gradients, start=1):
        expected *= 1 - lr * wd
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        expected -= lr / (1 - b1**t) * m / (np.sqrt(v / (1 - b2**t)) + eps)
    optimizer = bert_adamw(lr, clipnorm=None, weight_decay=wd)
    variable = keras.Variable(np.full((4, 3), 0.5, np.float32), name="kernel")
    optimizer.build([variable])
    for g in gradients:
        optimizer.apply_gradients([(g, variable)])
    # Each step moves a weight by about lr; epsilon 1e-6 (the old default) is off by 0.24 lr.
    np.testing.assert_allclose(variable.numpy(), expected, rtol=0, atol=0.02 * lr)


@pytest.mark.parametrize("kind", ["dense", "sparse", "layerwise"])
def test_fused_tensorflow_step_is_keras_adamw_step(kind):
    # kbert's TensorFlow step is one ResourceApplyAdam kernel per variable (BENCHMARKS.md: it
    # halves the update's time on CPU); it must be Keras's own AdamW step, which the other
    # backends and `lazy_sparse` run: the same weights and moments after clipped, decayed steps.
    import keras
    import tensorflow as tf

    def train(optimizer, fused):
        if not fused:  # Keras's eleven element-wise ops instead of the kernel.
            optimizer._fused_update_step = lambda g, v, lr: keras.optimizers.AdamW.update_step(
                optimizer, g, v, lr)
        rng = np.random.default_rng(0)
        variables = [keras.Variable(rng.normal(size=(20, 4)).astype(np.float32), name="kernel"),
                     keras.Variable(np.zeros(4, np.float32), name="bias")]
        optimizer.build(variables)
        for _ in range(4):
            grads = [tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in variables]
            if kind == "sparse":  # an embedding lookup's gradient, row 3 twice
                grads[0] = tf.IndexedSlices(grads[0][:5], tf.constant([0, 3, 3, 7, 1]),
                                            tf.constant([20, 4]))
            optimizer.apply_gradients(zip(grads, variables))
        return [v.numpy() for v in variables] + [m.numpy() for m in optimizer._momentums]

    make = lambda: bert_adamw(1e-2, clipnorm=1.0, weight_decay=0.1, lr_multipliers=(  # noqa: E731
        {"kernel": 0.5} if kind == "layerwise" else None))
    fused, keras_step = train(make(), fused=True), train(make(), fused=False)
    assert not np.allclose(fused[0], np.random.default_rng(0).normal(size=(20, 4)))  # it moved
    for a, b in zip(fused, keras_step):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)  # float32 rounding; lr 1e-2

    optimizer, variable = make(), keras.Variable(np.ones((2, 2), np.float32), name="kernel")
    optimizer.build([variable])
    step = tf.function(lambda gradient: optimizer.apply([gradient], [variable]))
    graph = step.get_concrete_function(tf.ones((2, 2))).graph
    assert "ResourceApplyAdam" in {op.type for op in graph.get_operations()}


def test_a_traced_step_reads_the_schedule_once_and_decays_as_keras_does():
    # Keras's TensorFlow optimizer read the learning-rate schedule once per variable for the
    # weight decay (a dozen ops per variable in every traced step; MiniLM has ~100 variables).
    # kbert's reads it once per step, and decays with Keras's own ops in Keras's order.
    import keras
    import tensorflow as tf

    from kbert.training import WarmupLinearDecay

    reads = []

    class Counted(WarmupLinearDecay):
        def __call__(self, step):
            reads.append(step)
            return super().__call__(step)

    def train(keras_decay):
        optimizer = bert_adamw(1e-2, total_steps=10, warmup_ratio=0.2, weight_decay=0.1)
        optimizer._learning_rate = Counted(**optimizer._learning_rate.get_config())
        if keras_decay:
            optimizer._apply_weight_decay = lambda variables: (
                keras.optimizers.AdamW._apply_weight_decay(optimizer, variables))
        rng = np.random.default_rng(0)
        variables = [keras.Variable(rng.normal(size=(3, 2)).astype(np.float32), name="kernel")
                     for _ in range(6)]
        optimizer.build(variables)
        step = tf.function(lambda grads: optimizer.apply(grads, variables))
        for _ in range(3):
            step([tf.constant(rng.normal(size=(3, 2)).astype(np.float32)) for _ in variables])
        return [v.numpy() for v in variables]

    decayed_by_keras = train(keras_decay=True)
    assert len(reads) == 1 + 6  # One read for the Adam steps, then one per variable.
    reads.clear()
    ours = train(keras_decay=False)
    assert len(reads) == 2  # Traced once: one read for the Adam steps, one for the decay.
    for a, b in zip(ours, decayed_by_keras):
        np.testing.assert_array_equal(a, b)


def test_summed_duplicates_adds_the_rows_of_each_index():
    import tensorflow as tf

    from kbert.training.optimizer import summed_duplicates

    summed = summed_duplicates(tf.IndexedSlices(tf.constant([[1.0], [2.0], [4.0]]),
                                                tf.constant([5, 1, 5]), tf.constant([6, 1])))
    assert sorted(zip(summed.indices.numpy().tolist(), summed.values.numpy()[:, 0].tolist())) == [
        (1, 2.0), (5, 5.0)]
    dense = tf.ones([2, 2])
    assert summed_duplicates(dense) is dense


def _lazy_adamw_by_hand(start, batches, lr, wd, clipnorm, b1=0.9, b2=0.999, eps=1e-8):
    """TF1's LazyAdam with decoupled weight decay, written out: only the rows a batch looks up
    (their summed gradients in `batches`, clipped to a global norm) have their moments, decay
    and step applied."""
    weights, m, v = start.astype(np.float64), np.zeros_like(start, np.float64), np.zeros_like(
        start, np.float64)
    for t, rows in enumerate(batches, start=1):
        norm = np.sqrt(sum(np.sum(g * g) for g in rows.values()))
        for row, g in rows.items():
            g = g * min(1.0, clipnorm / norm)
            m[row] = b1 * m[row] + (1 - b1) * g
            v[row] = b2 * v[row] + (1 - b2) * g * g
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            weights[row] -= alpha * m[row] / (np.sqrt(v[row]) + eps) + lr * wd * weights[row]
    return weights, m


def test_lazy_sparse_updates_only_the_looked_up_rows():
    import keras
    import tensorflow as tf

    start = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    # Three batches' lookups: row 0 in every one (twice in the first), rows 4 and 5 never.
    lookups = [([0, 2, 0], [[1.0, -2.0, 0.5], [0.3, 0.0, -1.0], [0.5, 0.5, 0.5]]),
               ([1, 0], [[-0.2, 0.1, 0.4], [2.0, 1.0, -1.0]]),
               ([3, 0], [[0.1, 0.2, 0.3], [-1.0, 0.5, 0.0]])]
    summed = []
    for rows, values in lookups:
        batch = {}
        for row, value in zip(rows, values):
            batch[row] = batch.get(row, 0) + np.array(value, np.float64)
        summed.append(batch)
    lr, wd, clipnorm = 0.01, 0.1, 1.0  # Every batch's norm is above 1: clipping scales them.
    expected, expected_m = _lazy_adamw_by_hand(start, summed, lr, wd, clipnorm)

    optimizer = bert_adamw(lr, clipnorm=clipnorm, weight_decay=wd, lazy_sparse=True)
    table = keras.Variable(start, name="embeddings")
    optimizer.build([table])
    for rows, values in lookups:
        gradient = tf.IndexedSlices(tf.constant(values), tf.constant(rows), tf.constant([6, 3]))
        optimizer.apply_gradients([(gradient, table)])
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optimizer._momentums[0].numpy(), expected_m, rtol=1e-5, atol=1e-7)
    # Rows 4 and 5 were never looked up: not decayed, not moved, as the dense AdamW would.
    np.testing.assert_array_equal(table.numpy()[4:], start[4:])
    dense = bert_adamw(lr, clipnorm=clipnorm, weight_decay=wd)
    dense_table = keras.Variable(start, name="embeddings")
    dense.build([dense_table])
    for rows, values in lookups:
        dense.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(rows),
                                                 tf.constant([6, 3])), dense_table)])
    assert not np.allclose(dense_table.numpy()[4:], start[4:])
    # A dense gradient (every other layer's) takes the ordinary AdamW step under lazy_sparse.
    gradient = np.full((4, 3), 0.1, np.float32)
    np.testing.assert_allclose(_steps(bert_adamw(0.1, lazy_sparse=True), gradient),
                               _steps(bert_adamw(0.1), gradient), rtol=1e-6)


def test_lazy_sparse_keeps_the_excluded_rows_undecayed_and_round_trips():
    import keras
    import tensorflow as tf

    from kbert.training.optimizer import AdamW

    optimizer = bert_adamw(0.01, clipnorm=None, weight_decay=0.5, lazy_sparse=True)
    table = keras.Variable(np.ones((3, 2), np.float32), name="beta")  # excluded from decay
    optimizer.build([table])
    optimizer.apply_gradients([(tf.IndexedSlices(tf.constant([[1.0, 1.0]]), tf.constant([1]),
                                                 tf.constant([3, 2])), table)])
    # Step 1 moves row 1 by lr exactly (m / sqrt(v) = 1) and decays nothing.
    np.testing.assert_allclose(table.numpy()[1], [0.99, 0.99], rtol=1e-6)
    restored = AdamW.from_config(optimizer.get_config())
    assert restored.lazy_sparse and not AdamW.from_config(bert_adamw(0.01).get_config()).lazy_sparse


def test_classification_report_matches_hand_computation():
    labels = np.array([0, 1, 1, 0])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    report = classification_report(labels, probabilities)
    assert report["accuracy"] == 0.75
    assert report["f1"] == pytest.approx(2 / 3)  # precision 1, recall 0.5
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.4, 0.7]))
    assert report["loss"] == pytest.approx(expected_loss)
    assert -1 <= report["mcc"] <= 1


def test_three_classes_use_macro_f1():
    labels = np.array([0, 1, 2])
    probabilities = np.eye(3)[[0, 1, 1]]
    report = classification_report(labels, probabilities)
    assert report["f1"] == report["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_multilabel_report_micro_f1():
    labels = np.array([[1, 0, 1], [0, 1, 0]])
    probabilities = np.array([[0.9, 0.6, 0.2], [0.1, 0.7, 0.1]])
    report = multilabel_report(labels, probabilities)
    # predicted {0,1} and {1}: tp=2, fp=1, fn=1 -> micro F1 = 2/3
    assert report["micro_f1"] == pytest.approx(2 / 3)
    assert report["subset_accuracy"] == 0.5


def test_regression_report_correlations():
    report = regression_report(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.1, 1.9, 3.5, 3.9]))
    assert report["spearman"] == pytest.approx(1.0)
    assert 0.9 < report["pearson"] <= 1.0
