"""One semantics per model (DESIGN decision 7): for the same raw input, short, exactly the model's
length, longer, and longer than the encoder's positions, single and pair, `predict`, the
SavedModel's raw-string and token-id signatures (fed the whole row), the LiteRT file (dynamic,
and static wider than the model's length) and MediaPipe (where the task runs there) agree
within float32's tolerance. The exported graph cuts rows itself (`LengthPolicy.cut`), the way the
preprocessor packs them, and `verify` feeds whole raw texts.

The models and files are the session's (tests/export/zoo.py): every model fitted at sequence_length
32 on the tiny backbone (64 positions) and saved, each file written once per test session."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  The raw-string signature's tokenizer ops.

import kbert
from kbert import export
from kbert.export.litert_runtime import LiteRtModel
from kbert.export.tflite import full_rows
from kbert.export.verify import predicted_outputs
from tests.conftest import WORDS

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
LENGTH = 32      # The models' sequence_length; the tiny encoder has 64 positions.
STATIC = 48      # A static file wider than the model's length: its graph cuts rows to 32.
FLOAT32 = 1e-4   # Tolerance of a float32 file (per output value).


def words(count: int, offset: int = 0) -> str:
    """`count` words of the tiny vocabulary, one token each."""
    return " ".join(WORDS[(offset + 7 * i) % 40] for i in range(count))


# Rows of 6, exactly 32 (30 words + [CLS], [SEP]), 47, 102 (past the 64 positions) and 702
# tokens (past a real BERT's 512 too).
SINGLES = [words(4), words(LENGTH - 2, 1), words(45, 2), words(100, 3), words(700, 4)]
# Pairs: short; exactly 32 (15 + 14 + 3); the second past the window; the first past it; both
# past it; both past the positions; a one-word second text; a second text of 700 words.
PAIRS = [(words(3), words(4, 5)), (words(15, 1), words(14, 2)), (words(4, 3), words(45, 4)),
         (words(45, 5), words(4, 6)), (words(40, 7), words(40, 8)), (words(100, 9), words(90, 1)),
         (words(50, 2), words(1, 3)), (words(4, 6), words(700, 7))]
# A static twin for each way a file is read (single, pair, pooled vector, windows): the cut is
# the same graph for the multi-label and regression heads as for the classifier's.
STATIC_CASES = ("classifier", "pair_classifier", "embedder", "tagger", "qa")


class Files:
    """A case's exported files (the session's: tests/export/zoo.py), each written on first use:
    its SavedModel, its dynamic float32 file and a static float32 twin (48 tokens, wider than
    the model's 32, for a task read in one row; 32 for a windowed one)."""

    def __init__(self, zoo, name: str):
        self.zoo, self.name = zoo, name

    @property
    def saved_model(self) -> Path:
        return self.zoo.saved_model(self.name)

    @property
    def dynamic(self) -> Path:
        return self.zoo.tflite(self.name)

    @property
    def static(self) -> Path:
        model = self.zoo.model(self.name)
        windowed = model.export_spec().length_policy(model).windowed
        return self.zoo.tflite(self.name, sequence_length=LENGTH if windowed else STATIC)


@pytest.fixture(scope="module")
def exported(zoo):
    """name -> (the session's model of that task, fitted at sequence_length 32, its `Files`)."""
    def get(name):
        case = "qa_v1" if name == "qa" else name
        return zoo.model(case), Files(zoo, case)
    return get


def run_rows(path: Path, rows: list[dict]) -> dict[str, np.ndarray]:
    runner = LiteRtModel(str(path))
    results = [runner(**row) for row in rows]
    return {name: np.concatenate([r[name] for r in results]) for name in results[0]}


def token_id_signature(loaded, rows: list[dict]) -> dict[str, np.ndarray]:
    """The token-id signature fed the whole rows, batched (padded to the longest)."""
    width = max(r["ids"].shape[1] for r in rows)
    batch = {key: tf.constant(np.concatenate([np.pad(r[name], ((0, 0), (0, width - r[name].shape[1])))
                                              for r in rows]))
             for key, name in (("token_ids", "ids"), ("padding_mask", "mask"),
                               ("segment_ids", "segment_ids"))}
    return {k: v.numpy() for k, v in loaded.signatures["token_ids"](**batch).items()}


# ------------------------------------------------------------------------------- one row per text
@pytest.mark.parametrize("name", ["classifier", "pair_classifier", "multi_label", "regressor",
                                  "embedder"])
def test_every_path_gives_predicts_output_on_inputs_of_every_length(name, exported):
    model, files = exported(name)
    spec = model.export_spec()
    x = PAIRS if model.pair_inputs else SINGLES
    rows = full_rows(model, x)
    assert max(r["ids"].shape[1] for r in rows) > 700  # Past a real BERT's 512 positions.
    expected = predicted_outputs(model, x)

    loaded = tf.saved_model.load(str(files.saved_model))
    texts = spec.raw_text(kbert.preprocessing.as_examples(x))
    raw = loaded.signatures["serving_default"](
        **{n: tf.constant(t) for n, t in zip(spec.text_inputs, texts)})
    static = export.device_features(model, x, STATIC)  # What an app packs for a [1, 48] file.
    paths = {"saved_model raw text": {n: raw[n].numpy() for n in spec.output_names},
             "saved_model token ids": token_id_signature(loaded, rows),
             "litert dynamic": run_rows(files.dynamic, rows)}
    if name in STATIC_CASES:
        paths["litert static 48"] = run_rows(files.static, static)
    for path, outputs in paths.items():
        for output in spec.output_names:
            np.testing.assert_allclose(outputs[output], expected[output], atol=FLOAT32,
                                       err_msg=f"{path}: {output}")


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="pip install --no-deps mediapipe==1.2.2")
@pytest.mark.parametrize("name", ["classifier", "embedder"])
def test_mediapipe_gives_predicts_output_on_texts_of_every_length(name, exported):
    model, files = exported(name)
    expected = predicted_outputs(model, SINGLES)
    if name == "classifier":
        scores = export.mediapipe_classify(files.dynamic, SINGLES)
        got = np.array([[s["neg"], s["pos"]] for s in scores])
        np.testing.assert_allclose(got, expected["probability"], atol=FLOAT32)
    else:
        got = export.mediapipe_embed(files.dynamic, SINGLES)
        np.testing.assert_allclose(got, expected["embedding"], atol=FLOAT32)


@pytest.mark.parametrize("name", ["classifier", "pair_classifier", "embedder"])
def test_verify_feeds_whole_texts_and_agrees_with_predict(name, exported):
    model, files = exported(name)
    x = PAIRS if model.pair_inputs else SINGLES
    for file in (files.dynamic, files.static):
        report = export.verify(file, x, reference=model, threads=(1,),
                               latency_examples=1, mediapipe=name != "pair_classifier"
                               and HAS_MEDIAPIPE and file == files.dynamic)
        assert report["max_abs_difference"] < FLOAT32, (file, report)
        assert report.get("mediapipe_max_abs_difference", 0.0) < FLOAT32, report
        assert report.get("mediapipe_min_cosine", 1.0) > 1 - FLOAT32, report
    saved = export.verify_saved_model(files.saved_model, x, reference=model)
    assert saved["max_abs_difference"] < FLOAT32 and \
        saved["token_ids_max_abs_difference"] < FLOAT32, saved


def test_verify_would_see_a_file_that_cuts_elsewhere(exported, tmp_path, monkeypatch):
    # A file cut at the encoder's 64 positions (the landed behaviour) must not verify as equal.
    from kbert.tasks import exports

    model, _ = exported("classifier")
    wide = exports.LengthPolicy.of(model)
    wide = exports.LengthPolicy(64, wide.cls_id, wide.sep_id, wide.pad_id)
    spec = model.export_spec()
    monkeypatch.setattr(type(model), "export_spec",
                        lambda self: __import__("dataclasses").replace(spec, length=wide))
    export.to_tflite(model, tmp_path / "wide.tflite", metadata=False)
    monkeypatch.undo()
    report = export.verify(tmp_path / "wide.tflite", SINGLES, reference=model, threads=(1,),
                           latency_examples=1)
    assert report["max_abs_difference"] > 1e-3, report


# ------------------------------------------------------------------------------- windowed tasks
def test_a_taggers_exports_read_one_row_as_its_preprocessor_does(exported):
    model, files = exported("tagger")
    sentences = SINGLES
    features = model.preprocessor([tf.constant(sentences)])
    expected = np.asarray(model.predict_on_batch(features))
    real = features["padding_mask"].numpy().astype(bool)
    rows = full_rows(model, sentences)
    loaded = tf.saved_model.load(str(files.saved_model))
    raw = loaded.signatures["serving_default"](text=tf.constant(sentences))["logits"].numpy()
    by_ids = token_id_signature(loaded, rows)["logits"]
    dynamic = [LiteRtModel(str(files.dynamic))(**r)["logits"][0] for r in rows]
    for i, row in enumerate(real):
        n = row.sum()
        assert n == min(len(sentences[i].split()) + 2, LENGTH)
        for got in (raw[i], by_ids[i], dynamic[i]):
            assert got.shape[0] >= n
            np.testing.assert_allclose(got[:n], expected[i, :n], atol=FLOAT32)


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="the on-device pipelines read the file's metadata")
def test_a_taggers_on_device_windows_tag_as_predict_does(exported):
    model, files = exported("tagger")
    sentences = [s.split() for s in SINGLES]
    for file in (files.dynamic, files.static):
        assert export.OnDeviceTagger(file).tag(sentences) == model.predict(sentences)


def test_a_question_answerers_exports_read_one_pair_as_its_preprocessor_does(exported):
    model, files = exported("qa")
    questions, contexts = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    features = model.preprocessor([tf.constant(questions), tf.constant(contexts)])
    expected = np.asarray(model.predict_on_batch(features))
    real = features["padding_mask"].numpy().astype(bool)
    rows = _qa_rows(model, questions, contexts)
    loaded = tf.saved_model.load(str(files.saved_model))
    raw = loaded.signatures["serving_default"](question=tf.constant(questions),
                                                context=tf.constant(contexts))
    by_ids = token_id_signature(loaded, rows)
    runner = LiteRtModel(str(files.dynamic))
    dynamic = [runner(**r) for r in rows]
    for i, row in enumerate(real):
        n = row.sum()
        for j, name in enumerate(("start_logits", "end_logits")):
            for got in (raw[name].numpy()[i], by_ids[name][i], dynamic[i][name][0]):
                np.testing.assert_allclose(got[:n], expected[i, :n, j], atol=FLOAT32)


def _qa_rows(model, questions, contexts) -> list[dict]:
    """Whole `[CLS] question [SEP] context [SEP]` rows (what a client of the token-id signature
    that does not window sends)."""
    policy = model.export_spec().length_policy(model)
    pieces = [model.preprocessor.word_pieces(t).to_list() for t in (questions, contexts)]
    rows = []
    for a, b in zip(*pieces):
        ids = [policy.cls_id] + a + [policy.sep_id] + b + [policy.sep_id]
        segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        rows.append({"ids": np.array([ids], np.int32), "mask": np.ones((1, len(ids)), np.int32),
                     "segment_ids": np.array([segments], np.int32)})
    return rows


@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="the on-device pipelines read the file's metadata")
def test_a_question_answerers_on_device_windows_answer_as_predict_does(exported):
    model, files = exported("qa")
    # Short questions (a question answerer caps them at max_query_length); contexts of every
    # length, read in windows.
    questions = [words(3, i) for i in range(4)]
    contexts = [words(4), words(29, 1), words(45, 2), words(100, 3)]
    expected = model.answer(questions, contexts)
    for file in (files.dynamic, files.static):
        device = export.OnDeviceQuestionAnswerer.from_file(file)
        got = [device.answer(q, c) for q, c in zip(questions, contexts)]
        assert [g["text"] for g in got] == [e["text"] for e in expected], file


# ------------------------------------------------------------------------------- the declaration
def test_the_length_policy_travels_in_kbert_json_and_a_short_static_file_is_refused(
        exported, tmp_path):
    model, files = exported("pair_classifier")
    if HAS_MEDIAPIPE:
        settings = export.file_settings(files.dynamic)
        assert settings["window_length"] == LENGTH
        assert settings["length_policy"] == {"sequence_length": LENGTH,
                                             "truncation": "longest_first", "windowed": False,
                                             "cut_in_graph": True}
    with pytest.raises(export.ExportError, match="static file of 24 tokens would read fewer"):
        export.to_tflite(model, tmp_path / "short.tflite", sequence_length=24, metadata=False)
    assert not list(tmp_path.iterdir())
    tagger, _ = exported("tagger")  # Windowed: its windows are built at the file's length.
    assert tagger.export_spec().length_policy(tagger).windowed


def test_the_graphs_cut_gives_the_packers_ids_for_every_split(exported):
    """`LengthPolicy.cut` on whole rows == the preprocessor's packing, over many lengths."""
    model, _ = exported("pair_classifier")
    policy = model.export_spec().length_policy(model)
    rng = np.random.default_rng(0)
    firsts = [words(int(n), int(o)) for n, o in rng.integers(1, 70, (40, 2))]
    seconds = [words(int(n), int(o)) for n, o in rng.integers(1, 70, (40, 2))]
    for segments in ([firsts], [firsts, seconds]):
        packed = model.preprocessor([tf.constant(s) for s in segments])
        x = firsts if len(segments) == 1 else list(zip(firsts, seconds))
        rows = full_rows(model, x) if len(segments) == 2 else _single_rows(model, firsts)
        width = max(r["ids"].shape[1] for r in rows)
        whole = [np.concatenate([np.pad(r[k], ((0, 0), (0, width - r[k].shape[1]))) for r in rows])
                 for k in ("ids", "mask", "segment_ids")]
        cut = [t.numpy() for t in policy.cut(*map(tf.constant, whole))]
        for got, key in zip(cut, ("token_ids", "padding_mask", "segment_ids")):
            want = packed[key].numpy()
            np.testing.assert_array_equal(got[:, :want.shape[1]], want)


def _single_rows(model, texts):
    policy = model.export_spec().length_policy(model)
    pieces = model.preprocessor.word_pieces(texts).to_list()
    return [{"ids": np.array([[policy.cls_id] + p + [policy.sep_id]], np.int32),
             "mask": np.ones((1, len(p) + 2), np.int32),
             "segment_ids": np.zeros((1, len(p) + 2), np.int32)} for p in pieces]


# ------------------------------------------------------------------------------- JAX
JAX_SCRIPT = textwrap.dedent("""
    import sys
    import kbert
    from kbert import export
    from tests.conftest import one_layer_task
    model = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    model.fit(["a good film", "a bad film"], ["pos", "neg"], epochs=1, batch_size=2, verbose=0)
    for exporter in (lambda: export.to_tflite(model, sys.argv[1] + "/m.tflite", metadata=False),
                     lambda: export.to_saved_model(model, sys.argv[1] + "/sm")):
        try:
            exporter()
        except export.ExportError as error:
            print("REFUSED", str(error))
    model.save(sys.argv[1] + "/model.keras")
""")


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="pip install jax")
def test_a_jax_model_is_refused_with_what_to_do_and_that_works(tmp_path):
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=environment,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    refused = [line for line in done.stdout.splitlines() if line.startswith("REFUSED")]
    assert len(refused) == 2, done.stdout + done.stderr[-3000:]
    for line in refused:
        assert "needs the TensorFlow backend" in line and "KERAS_BACKEND=tensorflow" in line
        assert "model.save" in line
    assert not (tmp_path / "m.tflite").exists() and not (tmp_path / "sm").exists()
    # What the message says works: the saved model, loaded here (TensorFlow), exports. (Without
    # its optimizer: restoring a JAX run's optimizer under TensorFlow fails today on
    # AdamW's `exclude_from_weight_decay`, a training/optimizer matter, not export's.)
    import keras

    model = keras.saving.load_model(str(tmp_path / "model.keras"), compile=False)
    export.to_tflite(model, tmp_path / "m.tflite", metadata=False)
    (row,) = full_rows(model, [words(50)])
    got = LiteRtModel(str(tmp_path / "m.tflite"))(**row)["probability"]
    np.testing.assert_allclose(got, model.predict([words(50)], verbose=0), atol=FLOAT32)
