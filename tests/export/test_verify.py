import pytest

import kbert
from kbert import export
from kbert.export.verify import length_bucket
from tests.conftest import one_layer_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"]
LABELS = ["pos", "neg", "pos", "neg"]


@pytest.fixture(scope="module")
def clf():
    model = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    model.fit(TEXTS, LABELS, epochs=1, batch_size=2, verbose=0)
    return model


def test_verify_reports_parity_size_latency_and_ops(clf, tmp_path):
    path = tmp_path / "m.tflite"
    export.to_tflite(clf, path)
    report = export.verify(path, (TEXTS, LABELS), reference=clf, latency_examples=4)
    assert report["examples"] == 4
    assert report["agreement"] == 1.0
    assert report["max_abs_difference"] < 1e-4
    assert report["metrics"]["accuracy"] == report["keras_metrics"]["accuracy"]
    assert report["bytes"] == path.stat().st_size
    assert set(report["latency_ms"]) == {"1", "2"}
    assert report["latency_ms"]["1"]["p95"] >= report["latency_ms"]["1"]["mean"] * 0.5 > 0
    assert "FULLY_CONNECTED" in report["ops"]


def test_verify_without_labels_still_compares_with_keras(clf, tmp_path):
    path = tmp_path / "m.tflite"
    export.to_tflite(clf, path, quantization="dynamic")
    report = export.verify(path, TEXTS, reference=clf, threads=(1,), latency_examples=2)
    assert "metrics" not in report and report["agreement"] >= 0.75


def test_verify_reports_latency_per_length_bucket_for_dynamic_and_static_files(clf, tmp_path):
    words = "the man plays with a dog and the cat sleeps in paris".split()
    texts = TEXTS + [" ".join(words * 2)]  # 5-6 tokens each, and one of 26
    dynamic, static = tmp_path / "dynamic.tflite", tmp_path / "static.tflite"
    export.to_tflite(clf, dynamic, metadata=False)
    export.to_tflite(clf, static, sequence_length=32, metadata=False)
    reports = [export.verify(path, texts, reference=clf, threads=(1,), latency_examples=5)
               for path in (dynamic, static)]
    assert [r["dynamic_length"] for r in reports] == [True, False]
    for report in reports:
        buckets = report["latency_by_length_ms"]["1"]
        assert list(buckets) == ["16", "32"] and [b["rows"] for b in buckets.values()] == [4, 1]
        assert all(b["mean"] > 0 and b["p95"] >= b["mean"] * 0.5 for b in buckets.values())
        assert report["max_abs_difference"] < 1e-4 and report["agreement"] == 1.0
    assert length_bucket(128) == "128" and length_bucket(129) == ">128"
