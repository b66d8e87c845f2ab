"""LiteRT 2.x's CompiledModel behind `export.LiteRtModel` (export/litert_runtime.py): the Python
on-device pipelines run on it, so it must return what the classic Interpreter returns, on every
precision, static and dynamic files, rows of changing lengths."""

import numpy as np
import pytest

import kbert
from kbert import export
from tests.conftest import one_layer_task

pytest.importorskip("mediapipe", reason="to_tflite writes metadata with MediaPipe's writer: "
                                        "pip install --no-deps mediapipe==1.2.2")

QUESTIONS = ["who lives in paris ?", "what does the dog eat ?"]
CONTEXTS = ["jeremy lives in paris and works in london .", "the dog eats food and sleeps ."]
SQUAD = [{"id": str(i), "question": q, "context": c} for i, (q, c) in
         enumerate(zip(QUESTIONS, CONTEXTS))]


@pytest.fixture(scope="module")
def qa():
    return one_layer_task(kbert.QuestionAnswerer)


def rows(lengths):
    """QA-shaped rows whose three inputs all differ (question segment 0, context 1, padding
    masked), so feeding them in the wrong order changes the output."""
    generator = np.random.default_rng(0)
    found = []
    for n in lengths:
        segments = (np.arange(n) >= n // 3).astype(np.int32)[None]
        mask = np.ones((1, n), np.int32)
        mask[0, n - 2:] = 0
        found.append({"ids": generator.integers(5, 60, (1, n)).astype(np.int32),
                      "mask": mask, "segment_ids": segments})
    return found


@pytest.mark.parametrize("quantization", [None, "float16", "dynamic", "int8"])
@pytest.mark.parametrize("sequence_length", [None, 24])
def test_compiled_model_returns_the_interpreters_outputs(qa, tmp_path, quantization,
                                                         sequence_length):
    path = tmp_path / "qa.tflite"
    export.to_tflite(qa, path, quantization=quantization, sequence_length=sequence_length,
                     representative_data=SQUAD if quantization == "int8" else None)
    compiled, interpreter = export.LiteRtModel(path), export.LiteRtModel(path, interpreter=True)
    assert compiled.api == "compiled_model" and interpreter.api == "interpreter"
    assert compiled.dynamic == (sequence_length is None)
    assert compiled.length == sequence_length
    # A dynamic file: the length changes from call to call, back and forth.
    lengths = [24] if sequence_length else [7, 19, 7, 30, 3]
    for row in rows(lengths):
        got, expected = compiled(**row), interpreter(**row)
        assert sorted(got) == sorted(expected) == ["end_logits", "start_logits"]
        for name in expected:
            assert got[name].shape == expected[name].shape == row["ids"].shape
            np.testing.assert_array_equal(got[name], expected[name])


def test_the_on_device_pipelines_run_on_compiled_model(qa, tmp_path):
    path = tmp_path / "qa.tflite"
    export.to_tflite(qa, path, quantization="dynamic")
    device = export.OnDeviceQuestionAnswerer.from_file(path)
    reference = export.OnDeviceQuestionAnswerer.from_file(path, interpreter=True)
    assert device._model.api == "compiled_model"
    spans = device.best_spans(QUESTIONS, CONTEXTS)
    assert [(s.text, s.score) for s in spans] == [
        (s.text, s.score) for s in reference.best_spans(QUESTIONS, CONTEXTS)]


def test_a_missing_input_is_named(qa, tmp_path):
    path = tmp_path / "qa.tflite"
    export.to_tflite(qa, path)
    row = rows([5])[0]
    del row["mask"]
    with pytest.raises(ValueError, match=r"missing \['mask'\]"):
        export.LiteRtModel(path)(**row)
