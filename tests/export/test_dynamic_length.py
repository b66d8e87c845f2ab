"""Device-ready files in one call (export/tflite.py): inputs of dynamic length [1, -1] by
default, metadata written by the same call, whole rows cut inside the graph to the model's own
length (what `predict` reads), one subgraph and no "gemma" name."""

import builtins

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import kbert
from kbert import export
from kbert.export import tflite as tflite_module
from kbert.export.tflite import full_rows
from tests.conftest import WORDS, one_layer_task

pytest.importorskip("mediapipe", reason="to_tflite writes metadata with MediaPipe's writer: "
                                        "pip install --no-deps mediapipe==1.2.2")

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food",
         "the man plays with a dog and the cat sleeps in paris"]
LABELS = ["pos", "neg", "pos", "neg", "pos"]
# 700 words of the tiny vocabulary: far past the tiny encoder's 64 positions (and past 512).
LONG = " ".join(WORDS[i % 40] for i in range(700))
# What the test at MediaPipe needs: over the tiny encoder's 64 positions.
HUNDRED_WORDS = " ".join(WORDS[i % 40] for i in range(100))


@pytest.fixture(scope="module")
def clf():
    model = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    model.compile(learning_rate=3e-3, warmup_ratio=0.0)
    model.fit(TEXTS, LABELS, epochs=10, batch_size=5, verbose=0)
    return model


@pytest.fixture(scope="module")
def dynamic_file(clf, tmp_path_factory):
    path = tmp_path_factory.mktemp("dynamic") / "model.tflite"
    return path, export.to_tflite(clf, path)


def predicted(model, texts):
    """`predict` on the raw texts: what every exported path must give."""
    return model.predict(texts, verbose=0)


def test_one_call_writes_a_dynamic_file_with_its_metadata(clf, dynamic_file):
    path, info = dynamic_file
    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()
    assert sorted(d["name"] for d in details) == [f"serving_default_{n}:0"
                                                  for n in ("ids", "mask", "segment_ids")]
    assert all(d["shape_signature"].tolist() == [1, -1] for d in details)
    assert info["input_shape"] == [1, -1] and info["sequence_length"] is None
    meta = export.read_metadata(path)
    assert meta["dynamic_length"] and meta["sequence_length"] is None
    assert meta["window_length"] == 32 and meta["labels"] == ["neg", "pos"]
    assert meta["packed_files"] == ["kbert.json", "labels.txt", "vocab.txt"]
    # Each text's whole row at its own length, no padding: what `predict` gives on the texts.
    runner = interpreter.get_signature_runner()
    rows = full_rows(clf, TEXTS + [HUNDRED_WORDS])
    assert [r["ids"].shape[1] for r in rows] == [6, 5, 5, 5, 14, 102]
    device = np.concatenate([runner(**r)["probability"] for r in rows])
    np.testing.assert_allclose(device, predicted(clf, TEXTS + [HUNDRED_WORDS]), atol=1e-5)
    assert meta["length_policy"]["sequence_length"] == 32
    # MediaPipe runs the file as written, tokenizing on its own.
    scores = export.mediapipe_classify(path, TEXTS + [HUNDRED_WORDS])
    np.testing.assert_allclose([[s["neg"], s["pos"]] for s in scores], device, atol=1e-4)


def test_a_static_file_on_request_and_a_bare_one_without_metadata(clf, tmp_path):
    info = export.to_tflite(clf, tmp_path / "static.tflite", sequence_length=48, metadata=False)
    details = Interpreter(model_path=str(tmp_path / "static.tflite")).get_input_details()
    assert all(d["shape_signature"].tolist() == [1, 48] for d in details)
    assert info["input_shape"] == [1, 48] and info["metadata"] is None
    # Wider than the model's 32 tokens: rows packed at 48 are cut to 32 in the graph.
    rows = export.device_features(clf, [HUNDRED_WORDS], 48)
    output = Interpreter(model_path=str(tmp_path / "static.tflite")).get_signature_runner()(
        **rows[0])["probability"]
    np.testing.assert_allclose(output, predicted(clf, [HUNDRED_WORDS]), atol=1e-5)
    with pytest.raises(export.ExportError, match="would read fewer tokens than the model"):
        export.to_tflite(clf, tmp_path / "short.tflite", sequence_length=24, metadata=False)
    assert export.packed_files(tmp_path / "static.tflite") == {}
    with pytest.raises(ValueError, match="holds no TFLite metadata"):
        export.read_metadata(tmp_path / "static.tflite")


def test_without_mediapipe_the_error_says_so_and_nothing_is_written(clf, tmp_path, monkeypatch):
    # An absent writer: importing mediapipe fails (mediapipe aliases its modules once imported,
    # so the import itself is made to fail).
    real_import = builtins.__import__

    def without_mediapipe(name, *args, **kwargs):
        if name.startswith("mediapipe"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_mediapipe)
    with pytest.raises(ImportError, match=r"pip install mediapipe.*metadata=False"):
        export.to_tflite(clf, tmp_path / "m.tflite")
    assert not list(tmp_path.iterdir())


def test_700_words_through_litert_give_predicts_output(clf, dynamic_file):
    path, _ = dynamic_file
    (row,) = full_rows(clf, [LONG])
    assert row["ids"].shape[1] > 700
    interpreter = Interpreter(model_path=str(path))
    for detail in interpreter.get_input_details():  # What an app does: its real length.
        interpreter.resize_tensor_input(detail["index"], row["ids"].shape, strict=True)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        name = detail["name"].removeprefix("serving_default_").removesuffix(":0")
        interpreter.set_tensor(detail["index"], row[name])
    interpreter.invoke()
    (output,) = interpreter.get_output_details()
    # The graph reads the model's first 32 tokens, as `predict` does (not the encoder's 64).
    np.testing.assert_allclose(interpreter.get_tensor(output["index"]),
                               predicted(clf, [LONG]), atol=1e-5)


def test_mediapipe_runs_a_text_longer_than_the_encoder(clf, dynamic_file):
    # 100 words are past the tiny encoder's 64 positions (a real BERT's 512 needs ~700).
    path, _ = dynamic_file
    (scores,) = export.mediapipe_classify(path, [HUNDRED_WORDS])
    np.testing.assert_allclose([scores["neg"], scores["pos"]], predicted(clf, [HUNDRED_WORDS])[0],
                               atol=1e-4)


@pytest.mark.parametrize("quantization", ["float16", "dynamic", "int8"])
def test_every_precision_exports_dynamically_and_verifies(clf, quantization, tmp_path):
    path = tmp_path / "model.tflite"
    info = export.to_tflite(clf, path, quantization=quantization, representative_data=TEXTS)
    assert info["input_shape"] == [1, -1] and info["metadata"]["dynamic_length"]
    report = export.verify(path, (TEXTS + [LONG], LABELS + ["pos"]), reference=clf,
                           threads=(1,), latency_examples=6)
    assert report["examples"] == 6 and report["max_abs_difference"] < 0.5
    assert report["agreement"] >= 0.8


def test_int8_calibrates_rows_at_the_model_length(clf, tmp_path, monkeypatch):
    """TF's calibrator prepares the graph once, at the first row's shape: rows of other lengths
    then fail in the graph's length cut, so a dynamic file calibrates on rows padded to the
    model's length (the mask marks each row's own tokens)."""
    calibration = []

    def capture(saved_model_dir, quantization, representative=None):
        calibration.extend(representative)
        raise RuntimeError("captured")

    monkeypatch.setattr(tflite_module, "convert", capture)
    with pytest.raises(RuntimeError, match="captured"):
        export.to_tflite(clf, tmp_path / "int8.tflite", quantization="int8",
                         representative_data=TEXTS)
    assert {row["ids"].shape for row in calibration} == {(1, clf.preprocessor.sequence_length)}
    assert [int(row["mask"].sum()) for row in calibration] == [6, 5, 5, 5, 14]


def two_subgraph_bytes() -> bytes:
    """A builtins-only model with a WHILE loop: its condition and body are extra subgraphs."""
    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32)])
    def loop(x):
        return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), (0, x))[1]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([loop.get_concrete_function()])
    return converter.convert()


def test_files_with_several_subgraphs_or_a_gemma_name_are_refused(clf, tmp_path, monkeypatch):
    content = two_subgraph_bytes()
    with pytest.raises(export.ExportError, match="3 subgraphs; kbert exports one"):
        tflite_module.check_deployable(content, "loop")
    with monkeypatch.context() as patch:
        patch.setattr(tflite_module, "convert", lambda *args: content)
        with pytest.raises(export.ExportError, match="EmbeddingGemma"):
            export.to_tflite(clf, tmp_path / "loop.tflite", metadata=False)
    with pytest.raises(ValueError, match="contains 'gemma'.*EmbeddingGemma"):
        export.to_tflite(clf, tmp_path / "named.tflite", name="my-EmbeddingGemma-clone")
    plain = tmp_path / "plain.tflite"
    export.to_tflite(clf, plain, metadata=False)
    with pytest.raises(ValueError, match="contains 'gemma'"):
        export.write_metadata(plain, clf, name="gemma sentiment")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.tflite"]


def test_a_classifiers_labels_and_threshold_travel_in_the_file(tmp_path):
    multi = one_layer_task(kbert.TextClassifier, labels=["PER", "LOC"], multi_label=True,
                      threshold=0.3)
    export.to_tflite(multi, tmp_path / "multi.tflite")
    meta = export.read_metadata(tmp_path / "multi.tflite")
    assert meta["labels"] == ["PER", "LOC"]
    assert meta["settings"] == {"multi_label": True, "threshold": 0.3}
