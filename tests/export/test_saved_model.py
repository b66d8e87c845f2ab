"""SavedModel details beyond the every-task matrix (tests/export/test_every_task_exports.py)."""

import tensorflow as tf

import kbert
from kbert import export


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
