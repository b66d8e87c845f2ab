"""An exported TextEmbedder in LiteRT and in MediaPipe's TextEmbedder against Keras."""

import pytest

import kbert
from kbert import export
from tests.conftest import tiny_task

TEXTS = ["the film was great", "a dull book", "I loved it, really", "the man plays"]


@pytest.mark.parametrize("quantization, floor", [(None, 0.9999), ("dynamic", 0.99)])
def test_embedder_runs_in_litert_and_mediapipe_like_keras(tmp_path, quantization, floor):
    embedder = tiny_task(kbert.TextEmbedder, pooling="mean", normalize=True)
    path = tmp_path / "embedder.tflite"
    export.to_tflite(embedder, path, quantization=quantization)
    info = export.write_metadata(path, embedder)
    assert info["task"] == "embedder" and info["mediapipe"] == "text_embedder"
    assert info["outputs"][0]["name"] == "embedding" and info["outputs"][0]["shape"] == [1, 32]
    report = export.verify(path, TEXTS, reference=embedder, mediapipe=True, latency_examples=2)
    assert report["min_cosine"] >= floor and report["mediapipe_min_cosine"] >= floor
