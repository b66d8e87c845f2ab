import numpy as np
import tensorflow as tf

import kbert
from kbert import export

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"]


def test_raw_string_signature_matches_keras_and_names_labels(tiny_parts, tmp_path):
    clf = kbert.TextClassifier(*tiny_parts, labels=["neg", "pos"])
    clf.fit(TEXTS, ["pos", "neg", "pos", "neg"], epochs=1, batch_size=2, verbose=0)
    export.to_saved_model(clf, tmp_path / "sm")
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    served = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    expected = clf.predict(TEXTS)
    np.testing.assert_allclose(served["probability"].numpy(), expected, atol=1e-5)
    assert [b.decode() for b in served["label"].numpy()] == clf.predict_labels(TEXTS)
    features = clf.preprocessor([tf.constant(TEXTS)])
    by_ids = loaded.signatures["token_ids"](**features)
    np.testing.assert_allclose(by_ids["probability"].numpy(), expected, atol=1e-5)


def test_pair_regressor_takes_two_strings_and_returns_scores(tiny_parts, tmp_path):
    reg = kbert.TextRegressor(*tiny_parts)
    pairs = [("a man plays", "a man plays"), ("a dog runs", "a cat sleeps")]
    reg.fit(pairs, [5.0, 0.5], epochs=1, verbose=0)
    export.to_saved_model(reg, tmp_path / "sm")
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    scores = serve(text=tf.constant([a for a, _ in pairs]), text_pair=tf.constant([b for _, b in pairs]))
    np.testing.assert_allclose(scores["score"].numpy(), reg.predict(pairs), atol=1e-5)


def test_multi_label_signature_marks_chosen_labels(tiny_parts, tmp_path):
    clf = kbert.TextClassifier(*tiny_parts, labels=["PER", "LOC"], multi_label=True, threshold=0.0)
    export.to_saved_model(clf, tmp_path / "sm")
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"](
        text=tf.constant(["jeremy lives in paris"]))
    assert served["label"].numpy().tolist() == [[b"PER", b"LOC"]]  # threshold 0: every label


def test_export_replaces_an_existing_directory_only_when_complete(tiny_parts, tmp_path):
    clf = kbert.TextClassifier(*tiny_parts, num_classes=2)
    target = tmp_path / "sm"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    export.to_saved_model(clf, target)
    assert not (target / "stale.txt").exists()
    assert (target / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]
