"""The export matrix: every task on the tiny backbone x {SavedModel with both signatures served,
TFLite in all four precisions + verify}. Each model is built (and fitted one epoch) once per
module. What is not meaningful (any export of a masked LM, MediaPipe for a pair model) fails
with its reason, and the tests assert it."""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from kbert.export.litert_runtime import LiteRtModel

import kbert
from kbert import export
from kbert.export import tflite as tflite_module
from tests.conftest import tiny_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food",
         "the man plays with a dog and the cat sleeps in paris"]
LABELS = ["pos", "neg", "pos", "neg", "pos"]
PAIRS = [("a man plays", "a man plays"), ("a dog runs", "a cat sleeps"),
         ("the film was great", "i loved it"), ("a dull book", "the food was fine")]
PAIR_LABELS = ["same", "other", "same", "other"]
MULTI = [["PER"], ["FOOD"], ["PER", "LOC"], ["FOOD", "LOC"], ["PER"]]
SCORES = [4.5, 1.0, 4.0, 0.5, 3.0]

TAG_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
WORDS = [["jeremy", "lives", "in", "paris"], ["the", "man", "works", "in", "london"],
         ["jeremy", "loves", "berlin"]]
TAGS = [["B-PER", "O", "O", "B-LOC"], ["O", "O", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]]
# Longer than one 16-token window: read in several.
LONG = "the man plays in london and the dog sleeps in paris and jeremy lives in berlin".split()
LONG_TAGS = ["O", "O", "O", "O", "B-LOC", "O", "O", "O", "O", "O", "B-LOC", "O", "B-PER", "O",
             "O", "B-LOC"]

CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"
LONG_CONTEXT = CONTEXT + " and the man works in berlin and the woman lives in paris too"
SQUAD = [{"id": "a", "question": "who lives in paris ?", "context": CONTEXT,
          "answers": [{"text": "jeremy", "answer_start": 0}]},
         {"id": "b", "question": "the dog sleeps in ?", "context": CONTEXT,
          "answers": [{"text": "london", "answer_start": CONTEXT.index("london")}]},
         {"id": "c", "question": "who works in berlin ?", "context": LONG_CONTEXT,
          "answers": [{"text": "the man", "answer_start": LONG_CONTEXT.index("the man")}]}]
UNANSWERABLE = {"id": "d", "question": "what is the film ?", "context": CONTEXT, "answers": []}


@dataclasses.dataclass
class Case:
    build: Callable[[], Any]
    x: Any = None                   # inputs (unlabelled)
    y: Any = None                   # labels, where the task takes them apart
    raw: Callable[[], dict] | None = None   # the raw-string signature's inputs
    string_outputs: tuple[str, ...] = ()

    @property
    def eval_data(self):
        return self.x if self.y is None else (self.x, self.y)


def fitted(cls, x, y=None, **kwargs):
    model = tiny_task(cls, **kwargs)
    model.fit(x, y, epochs=1, batch_size=4, seed=0, verbose=0)
    return model


CASES = {
    "classifier": Case(lambda: fitted(kbert.TextClassifier, TEXTS, LABELS, labels=["neg", "pos"]),
                       TEXTS, LABELS, lambda: {"text": TEXTS}, ("label",)),
    "pair_classifier": Case(
        lambda: fitted(kbert.TextClassifier, PAIRS, PAIR_LABELS, labels=["other", "same"]),
        PAIRS, PAIR_LABELS,
        lambda: {"text": [a for a, _ in PAIRS], "text_pair": [b for _, b in PAIRS]}, ("label",)),
    "multi_label": Case(
        lambda: fitted(kbert.TextClassifier, TEXTS, MULTI, labels=["PER", "LOC", "FOOD"],
                       multi_label=True, threshold=0.4),
        TEXTS, MULTI, lambda: {"text": TEXTS}, ("label",)),
    "regressor": Case(lambda: fitted(kbert.TextRegressor, TEXTS, SCORES), TEXTS, SCORES,
                      lambda: {"text": TEXTS}),
    "tagger": Case(lambda: fitted(kbert.TokenClassifier, WORDS + [LONG], TAGS + [LONG_TAGS],
                                  sequence_length=16, labels=TAG_LABELS),
                   WORDS + [LONG], TAGS + [LONG_TAGS],
                   lambda: {"text": [" ".join(w) for w in WORDS]}, ("label",)),
    "qa_v1": Case(lambda: fitted(kbert.QuestionAnswerer, SQUAD, doc_stride=8),
                  SQUAD, None, lambda: {"question": [r["question"] for r in SQUAD],
                                        "context": [r["context"] for r in SQUAD]}),
    "qa_v2": Case(lambda: fitted(kbert.QuestionAnswerer, SQUAD + [UNANSWERABLE], doc_stride=8,
                                 version_2_with_negative=True),
                  SQUAD + [UNANSWERABLE], None,
                  lambda: {"question": [r["question"] for r in SQUAD + [UNANSWERABLE]],
                           "context": [r["context"] for r in SQUAD + [UNANSWERABLE]]}),
    "embedder": Case(lambda: tiny_task(kbert.TextEmbedder, pooling="mean", normalize=True),
                     TEXTS, None, lambda: {"text": TEXTS}),
    "masked_lm": Case(lambda: tiny_task(kbert.MaskedLM), TEXTS),
}
REFUSED = "MaskedLM cannot be exported to SavedModel, TFLite or MediaPipe: a masked LM adapts"
HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


@pytest.fixture(scope="module")
def models():
    """name -> the tiny model of that case, built (and fitted) on first use."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = CASES[name].build()
        return cache[name]
    return get


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
def test_to_saved_model_serves_both_signatures_like_keras(name, models, tmp_path):
    model, case = models(name), CASES[name]
    if name == "masked_lm":
        with pytest.raises(export.ExportError, match=REFUSED):
            export.to_saved_model(model, tmp_path / "sm")
        assert not list(tmp_path.iterdir())
        return
    spec = model.export_spec()
    export.to_saved_model(model, tmp_path / "sm")
    loaded = tf.saved_model.load(str(tmp_path / "sm"))

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


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """(name, quantization) -> a dynamic-length .tflite of that case (with its metadata, written
    by the same call, where MediaPipe's writer is installed), converted on first use."""
    cache = {}
    root = tmp_path_factory.mktemp("every_task")

    def get(name, quantization):
        if (name, quantization) not in cache:
            model = models(name)
            path = root / name / f"{quantization or 'float32'}.tflite"
            export.to_tflite(model, path, quantization=quantization,
                             representative_data=CASES[name].x, metadata=HAS_MEDIAPIPE)
            cache[name, quantization] = path
        return cache[name, quantization]
    return get


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
# 700 words of the tiny vocabulary: past the tiny encoder's 64 positions (and a real BERT's 512).
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


@pytest.mark.parametrize("name", ["classifier", "pair_classifier", "regressor", "embedder"])
def test_700_words_whole_in_the_file_give_predicts_output(name, models, exported):
    # The whole text (or pair) in one row, as MediaPipe or an app feeds it: the graph reads the
    # model's first 32 tokens, a pair trimmed longest-first, as `predict` does. The second texts
    # differ, so a file that dropped or cut them elsewhere would differ.
    from kbert.export.tflite import full_rows
    from kbert.export.verify import predicted_outputs

    model, path = models(name), exported(name, None)
    spec = model.export_spec()
    text = " ".join(SEVEN_HUNDRED)
    x = ([(text, text), ("a dull book", text), (text, "i loved it")] if model.pair_inputs
         else [text, " ".join(SEVEN_HUNDRED[1:])])
    rows = full_rows(model, x)
    assert all(r["ids"].shape[1] > 20 for r in rows) and rows[0]["ids"].shape[1] > 700
    runner = Interpreter(model_path=str(path)).get_signature_runner()
    outputs = [runner(**row) for row in rows]
    expected = predicted_outputs(model, x)
    for output in spec.output_names:
        got = np.concatenate([o[output] for o in outputs])
        np.testing.assert_allclose(got, expected[output], atol=TOLERANCE[None])


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
