import numpy as np
import pytest

import kbert
from kbert.errors import KbertInputError

TEXTS = ["the film was great", "a lovely book", "i loved it", "really good food",
         "the film was awful", "a dull book", "i hate it", "really bad food"]
LABELS = ["pos"] * 4 + ["neg"] * 4


@pytest.fixture
def clf(tiny_parts):
    backbone, preprocessor = tiny_parts
    return kbert.TextClassifier(backbone, preprocessor, labels=["neg", "pos"])


def test_fit_learns_a_separable_toy_set_and_predicts_label_names(clf):
    clf.compile(learning_rate=3e-3, warmup_ratio=0.0)
    history = clf.fit(TEXTS, LABELS, epochs=25, batch_size=4, seed=0, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    probabilities = clf.predict(TEXTS)
    assert probabilities.shape == (8, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert clf.predict_labels(TEXTS) == LABELS


def test_labels_may_be_names_or_class_ids(clf):
    examples = kbert.data.TextExamples(TEXTS[:4], labels=["pos", 0, np.int64(1), "0"])
    assert clf._targets(examples).tolist() == [1, 0, 1, 0]


def test_unknown_label_names_the_row_and_field(clf):
    with pytest.raises(KbertInputError, match=r"x, row 1, field 'label': unknown label 'meh'"):
        clf.fit(["good", "bad"], ["pos", "meh"], verbose=0)
    with pytest.raises(KbertInputError, match="unknown label 2"):
        clf.fit(["good", "bad"], [0, 2], verbose=0)


@pytest.mark.parametrize("texts, message", [
    (["good", ""], "row 1, field 'text': text is empty"),
    (["good", "  "], "text is only whitespace"),
    (["good", None], "text is missing"),
    ([b"caf\xe9", "bad"], "not valid UTF-8"),
    ([], "no examples"),
    ("good", "single string"),
])
def test_bad_texts_raise_one_clear_error(clf, texts, message):
    with pytest.raises(KbertInputError, match=message):
        clf.fit(texts, ["pos"] * len(texts), verbose=0)


def test_fit_without_labels_is_refused(clf):
    with pytest.raises(KbertInputError, match="fit needs labels"):
        clf.fit(TEXTS, verbose=0)


def test_pairs_train_and_predict(tiny_parts):
    backbone, preprocessor = tiny_parts
    clf = kbert.TextClassifier(backbone, preprocessor, num_classes=2)
    pairs = [("a man plays", "a man plays"), ("a dog runs", "a cat sleeps")] * 4
    clf.fit(pairs, [1, 0] * 4, epochs=1, batch_size=4, verbose=0)
    assert clf.predict(pairs).shape == (8, 2)
    assert clf.labels == ["0", "1"]


def test_multi_label_uses_sigmoid_and_a_threshold(tiny_parts):
    backbone, preprocessor = tiny_parts
    clf = kbert.TextClassifier(backbone, preprocessor, labels=["PER", "LOC", "ORG"],
                               multi_label=True, threshold=0.5)
    y = [["PER", "LOC"], [], ["ORG"], ["LOC"]]
    clf.compile(learning_rate=3e-3, warmup_ratio=0.0)
    clf.fit(["jeremy lives in paris", "a dog", "the book", "london"] * 2, y * 2,
            epochs=30, batch_size=4, seed=0, verbose=0)
    probabilities = clf.predict(["jeremy lives in paris"])
    assert probabilities.shape == (1, 3)
    assert 0.0 <= probabilities.min() and probabilities.max() <= 1.0
    assert abs(probabilities.sum() - 1.0) > 1e-3  # Independent sigmoids, not a softmax.
    assert clf.predict_labels(["jeremy lives in paris", "a dog"]) == [["PER", "LOC"], []]
    report = clf.evaluate_metrics(["jeremy lives in paris", "a dog"], [["PER", "LOC"], []])
    assert report["micro_f1"] == 1.0


def test_validation_data_reports_sklearn_metrics_every_epoch(clf):
    history = clf.fit(TEXTS, LABELS, validation_data=(TEXTS, LABELS), epochs=2, batch_size=4,
                      verbose=0)
    for key in ("val_loss", "val_accuracy", "val_f1", "val_mcc", "val_macro_f1"):
        assert len(history.history[key]) == 2


def test_save_and_load_round_trip_predictions_and_label_names(clf, tmp_path):
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "clf.keras"
    clf.save(path)
    loaded = kbert.load_model(path)
    assert isinstance(loaded, kbert.TextClassifier)
    assert loaded.labels == ["neg", "pos"]
    np.testing.assert_array_equal(loaded.predict(TEXTS), clf.predict(TEXTS))
    loaded.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)  # Still trainable after load.


def test_compile_defaults_are_the_bert_recipe(clf):
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    optimizer = clf.optimizer
    assert optimizer.__class__.__name__ == "AdamW"
    assert optimizer.weight_decay == 0.01
    assert optimizer.global_clipnorm == 1.0
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    assert schedule.total_steps == 4  # 2 epochs x 2 batches of 4
    decayed = {v.path: optimizer._use_weight_decay(v) for v in clf.trainable_variables}
    assert not decayed["embeddings_layer_norm/gamma"]
    assert not any(ok for path, ok in decayed.items() if path.endswith("bias"))
    assert decayed["transformer_layer_0/self_attention_layer/query/kernel"]


def test_pandas_and_arrays_are_accepted(clf):
    import pandas as pd

    frame = pd.DataFrame({"review": TEXTS})
    assert clf.predict(frame).shape == (8, 2)
    assert clf.predict(np.array(TEXTS)).shape == (8, 2)
    assert clf.predict(pd.Series(TEXTS)).shape == (8, 2)


def test_bad_constructor_arguments(tiny_parts):
    backbone, preprocessor = tiny_parts
    with pytest.raises(ValueError, match="num_classes or labels"):
        kbert.TextClassifier(backbone, preprocessor)
    with pytest.raises(ValueError, match="distinct"):
        kbert.TextClassifier(backbone, preprocessor, labels=["a", "a"])
    with pytest.raises(ValueError, match="pooling"):
        kbert.TextClassifier(backbone, preprocessor, num_classes=2, pooling="max")


def test_fit_and_predict_stream_a_tf_data_dataset(clf):
    import tensorflow as tf

    ids = [1] * 4 + [0] * 4
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, ids))
    history = clf.fit(dataset, epochs=2, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 2
    # Planned from the dataset's size: 2 batches plus at most one partial batch per bucket.
    assert clf.optimizer._learning_rate.total_steps == 2 * (2 + 2)
    texts = tf.data.Dataset.from_tensor_slices(TEXTS)
    np.testing.assert_allclose(clf.predict(texts, verbose=0), clf.predict(TEXTS), atol=1e-6)


def test_fit_streams_a_file_and_a_bad_row_stops_it_with_file_row_and_field(clf, tmp_path):
    path = tmp_path / "big.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in zip(TEXTS, LABELS)))
    data = kbert.data.stream_table(path, "sentence", "label", labels=clf.labels)
    history = clf.fit(data, epochs=1, batch_size=4, steps_per_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 1
    with path.open("a") as handle:
        handle.write("good\tpos\n\tneg\n")  # Row 11: empty text.
    data = kbert.data.stream_table(path, "sentence", "label", labels=clf.labels)
    with pytest.raises(KbertInputError, match=r"big.tsv, row 11, field 'sentence': text is empty"):
        clf.fit(data, epochs=1, batch_size=4, steps_per_epoch=20, verbose=0)
