import pytest

import kbert
from kbert import export
from tests.conftest import tiny_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"]
LABELS = ["pos", "neg", "pos", "neg"]


@pytest.fixture(scope="module")
def clf():
    model = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
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
