"""The export matrix: every task on the tiny backbone x {SavedModel with both signatures served,
TFLite in every precision + verify}. The models and files are the session's (tests/export/zoo.py:
each fitted, or written, once). What is not meaningful (any export of a masked LM, MediaPipe for
a pair model) fails with its reason, and the tests assert it. Inputs of every length through
every path: test_length_policy.py."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from kbert.export.litert_runtime import LiteRtModel

from kbert import export
from kbert.export import tflite as tflite_module
from tests.export.zoo import CASES, HAS_MEDIAPIPE, PAIRS, TAG_LABELS, TEXTS, WORDS

REFUSED = "MaskedLM cannot be exported to SavedModel, TFLite or MediaPipe: a masked LM adapts"


@pytest.fixture(scope="module")
def models(zoo):
    """name -> the tiny model of that case (tests/export/zoo.py)."""
    return zoo.model


@pytest.fixture(scope="module")
def exported(zoo):
    """(name, quantization) -> a dynamic-length .tflite of that case (with its metadata, written
    by the same call, where MediaPipe's writer is installed)."""
    return zoo.tflite


def window_starts(model, x) -> np.ndarray:
    """Each example's first row (window) among the model's packed rows."""
    windows = model.prepare(x).windows
    words = model.export_spec().input_kind == "words"
    owner = windows.window_sentence if words else windows.example
    return np.searchsorted(owner, np.arange(owner.max() + 1))


def keras_rows(model, x) -> dict[str, np.ndarray]:
    """Keras's own outputs per packed row, by exported name: `predict` for one row per text,
    the window outputs for taggers and question answerers."""
    spec = model.export_spec()
    if spec.input_kind == "texts":
        outputs = model.predict(x)
        return spec.outputs(outputs[:, None] if outputs.ndim == 1 else outputs)
    return spec.outputs(model.window_outputs(model.prepare(x)))


# ------------------------------------------------------------------------------- SavedModel
@pytest.mark.parametrize("name", list(CASES))
def test_to_saved_model_serves_both_signatures_like_keras(name, models, zoo, tmp_path):
    model, case = models(name), CASES[name]
    if name == "masked_lm":
        with pytest.raises(export.ExportError, match=REFUSED):
            export.to_saved_model(model, tmp_path / "sm")
        assert not list(tmp_path.iterdir())
        return
    spec = model.export_spec()
    loaded = tf.saved_model.load(str(zoo.saved_model(name)))

    # Raw strings in: one row each, as the model's preprocessor packs them.
    raw = case.raw()
    served = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in raw.items()})
    assert set(served) == set(spec.output_names) | set(case.string_outputs)
    if spec.input_kind == "texts":
        expected = keras_rows(model, case.x)
        # Each output keeps the task's own shape (a regressor's score is [batch]).
        for output in spec.output_names:
            np.testing.assert_allclose(served[output].numpy(), expected[output], atol=1e-5)
    else:
        # The raw examples here each fit one window: it is the example's first window.
        inputs = WORDS if name == "tagger" else case.x
        first = window_starts(model, inputs)
        expected = {k: v[first] for k, v in keras_rows(model, inputs).items()}
        mask = model.preprocessor([tf.constant(v) for v in raw.values()])["padding_mask"].numpy()
        real = mask.astype(bool)
        for output in spec.output_names:
            np.testing.assert_allclose(served[output].numpy()[real],
                                       expected[output][:, :real.shape[1]][real], atol=1e-4)
    if name in ("classifier", "pair_classifier"):
        assert [b.decode() for b in served["label"].numpy()] == model.predict_labels(case.x)
    if name == "multi_label":
        assert [[b.decode() for b in row if b] for row in served["label"].numpy()] == \
            model.predict_labels(case.x)
    if name == "tagger":
        logits = served["logits"].numpy()
        names = np.array(TAG_LABELS)[logits.argmax(-1)]
        expected_labels = np.where(mask > 0, names, "").tolist()
        assert served["label"].numpy().astype(str).tolist() == expected_labels

    # Token ids in: kbert's own rows (every window of a long sentence or context).
    packed = model.prepare(case.x).encoded
    features = model.preprocessor.pad(packed.token_ids, packed.segment_ids)
    by_ids = loaded.signatures["token_ids"](**features)
    expected = keras_rows(model, case.x)
    real = features["padding_mask"].numpy().astype(bool)
    for output in spec.output_names:
        value, reference = by_ids[output].numpy(), expected[output]
        if spec.input_kind != "texts":  # Per token: compared on the real tokens.
            value, reference = value[real], reference[:, :real.shape[1]][real]
        np.testing.assert_allclose(value, reference, atol=1e-4)


# ------------------------------------------------------------------------------- TFLite + verify
TOLERANCE = {None: 1e-4, "float16": 2e-2, "dynamic": 0.15, "int8": 0.5, "int4": 0.5}
COSINE_FLOOR = {None: 0.9999, "float16": 0.999, "dynamic": 0.99, "int8": 0.95, "int4": 0.95}


@pytest.mark.parametrize("quantization", tflite_module.QUANTIZATIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_to_tflite_in_every_precision_verifies_against_keras(name, quantization, models,
                                                             exported, tmp_path):
    model, case = models(name), CASES[name]
    if name == "masked_lm":
        with pytest.raises(export.ExportError, match=REFUSED):
            export.to_tflite(model, tmp_path / "m.tflite", quantization=quantization,
                             representative_data=TEXTS)
        with pytest.raises(export.ExportError, match=REFUSED):
            export.verify(tmp_path / "m.tflite", TEXTS, reference=model)
        assert not list(tmp_path.iterdir())
        return
    spec = model.export_spec()
    if spec.verify in ("tags", "answers") and not HAS_MEDIAPIPE:
        pytest.skip("the on-device pipelines read vocab.txt from the metadata, written with "
                    "MediaPipe's writer: pip install --no-deps mediapipe==1.2.2")
    path = exported(name, quantization)
    interpreter = Interpreter(model_path=str(path))
    (signature,) = interpreter.get_signature_list().values()
    assert signature == {"inputs": ["ids", "mask", "segment_ids"],
                         "outputs": sorted(spec.output_names)}
    # Dynamic length: each row (window) is fed at its real length.
    assert all(d["shape_signature"].tolist() == [1, -1] and d["dtype"] == np.int32
               for d in interpreter.get_input_details())
    report = export.verify(path, case.eval_data, reference=model, threads=(1,),
                           latency_examples=2)
    assert report["bytes"] == path.stat().st_size and "FULLY_CONNECTED" in report["ops"]
    assert report["max_abs_difference"] < TOLERANCE[quantization], report
    if spec.verify == "embeddings":
        assert report["min_cosine"] >= COSINE_FLOOR[quantization], report
    if quantization is None:
        assert report.get("agreement", 1.0) == 1.0, report
        if "metrics" in report:
            for key, value in report["keras_metrics"].items():
                assert report["metrics"][key] == pytest.approx(value, abs=1e-3), key


def test_masked_lm_metadata_and_saved_model_checks_are_refused(models, exported, tmp_path):
    mlm = models("masked_lm")
    with pytest.raises(export.ExportError, match=REFUSED):
        export.write_metadata(exported("classifier", None), mlm)
    with pytest.raises(export.ExportError, match=REFUSED):
        export.verify_saved_model(tmp_path, TEXTS, reference=mlm)


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="pip install --no-deps mediapipe==1.2.2")
@pytest.mark.parametrize("name", ["classifier", "multi_label", "embedder", "pair_classifier",
                                  "regressor", "tagger", "qa_v1"])
def test_mediapipe_runs_only_what_the_task_declares(name, models, exported):
    model, case = models(name), CASES[name]
    spec = model.export_spec()
    path = exported(name, None)
    if spec.mediapipe is None:
        reason = {"pair_classifier": "text-pair model", "regressor": "no text regression task",
                  "tagger": "no token-classification", "qa_v1": "no extractive"}[name]
        with pytest.raises(export.ExportError, match=f"MediaPipe cannot run this .*{reason}"):
            export.verify(path, case.eval_data, reference=model, mediapipe=True)
        return
    report = export.verify(path, case.eval_data, reference=model, mediapipe=True, threads=(1,),
                           latency_examples=1)
    if spec.mediapipe == "text_classifier":
        assert report["mediapipe_agreement"] == 1.0
        assert report["mediapipe_max_abs_difference"] < 1e-3
    else:
        assert report["mediapipe_min_cosine"] >= 0.999


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="pip install --no-deps mediapipe==1.2.2")
def test_mediapipe_runs_the_int4_file_as_litert_does(models, exported):
    # Blockwise int4 FULLY_CONNECTED and the int4 table's lookup ops inside MediaPipe's runtime.
    model, path = models("classifier"), exported("classifier", "int4")
    scores = export.mediapipe_classify(path, TEXTS)
    runner = LiteRtModel(str(path))
    litert = np.concatenate([runner(**row)["probability"]
                             for row in export.full_rows(model, TEXTS)])
    mediapipe = np.array([[s[label] for label in model.labels] for s in scores])
    np.testing.assert_allclose(mediapipe, litert, atol=1e-5)


# ------------------------------------------------------------------------------- long inputs
# 700 words of the tiny vocabulary: past the tiny encoder's 64 positions (and a real BERT's 512),
# read in windows on the device. (Whole in one row: test_length_policy.py.)
SEVEN_HUNDRED = [TEXTS[i % 4].split()[i % 3] for i in range(700)]


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="pip install --no-deps mediapipe==1.2.2")
@pytest.mark.parametrize("name", ["tagger", "qa_v2"])
def test_700_words_through_windowed_dynamic_exports_answer_without_crashing(name, models,
                                                                            exported):
    model, path = models(name), exported(name, "dynamic")
    text = " ".join(SEVEN_HUNDRED)
    if model.export_spec().verify == "tags":  # Windows at the model's length.
        tags = export.OnDeviceTagger(path).tag([SEVEN_HUNDRED])[0]
        assert len(tags) == 700 and set(tags) <= set(TAG_LABELS)
        return
    answer = export.OnDeviceQuestionAnswerer.from_file(path).answer("who lives in paris ?", text)
    assert answer["text"] == text[answer["start"]:answer["end"]]


# ------------------------------------------------------------------------------- short files
def test_a_file_shorter_than_a_text_models_length_is_refused(models, tmp_path):
    # It would read fewer tokens than `predict` (the model reads its sequence_length).
    with pytest.raises(export.ExportError, match="static file of 12 tokens would read fewer"):
        export.to_tflite(models("pair_classifier"), tmp_path / "short.tflite",
                         quantization="int8", representative_data=PAIRS, sequence_length=12)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["tagger", "qa_v2"])
def test_a_shorter_file_packs_calibration_and_verify_rows_at_its_own_length(name, models,
                                                                           tmp_path, monkeypatch):
    model, case = models(name), CASES[name]
    sep = model.preprocessor.tokenizer.sep_token_id
    length = 12  # Shorter than the model's own: most rows here would have been cut.

    def ends_with_sep(rows):
        ends = [f["ids"][0, f["mask"][0].sum() - 1] for f in rows]
        return len(rows) > 0 and all(e == sep for e in ends)

    assert ends_with_sep(export.device_features(model, case.x, length))
    calibration = []

    def capture(saved_model_dir, quantization, representative=None):
        calibration.extend(representative)
        raise RuntimeError("captured")

    with monkeypatch.context() as patch:
        patch.setattr(tflite_module, "convert", capture)
        with pytest.raises(RuntimeError, match="captured"):
            export.to_tflite(model, tmp_path / "int8.tflite", quantization="int8",
                             representative_data=case.x, sequence_length=length)
    assert ends_with_sep(calibration)
    if model.export_spec().verify in ("tags", "answers") and not HAS_MEDIAPIPE:
        return
    path = tmp_path / "short.tflite"
    info = export.to_tflite(model, path, sequence_length=length, metadata=HAS_MEDIAPIPE)
    assert info["sequence_length"] == length
    report = export.verify(path, case.eval_data, reference=model, threads=(1,),
                           latency_examples=1)
    # Keras runs on the same rows the file gets: only the runtime differs.
    assert report["max_abs_difference"] < 1e-4 and report.get("agreement", 1.0) == 1.0
