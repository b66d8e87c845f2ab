from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import kbert
from kbert import export
from kbert.export import tflite as tflite_module
from kbert.export.checks import ExportError
from tests.conftest import tiny_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"]


@pytest.fixture(scope="module")
def clf():
    model = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
    model.fit(TEXTS, ["pos", "neg", "pos", "neg"], epochs=1, batch_size=2, verbose=0)
    return model


def test_int8_keeps_attention_scores_on_their_own_scale(clf, tmp_path):
    # Keras masks padding with -1e9; an int8 tensor holding that value needs a scale of ~4e6 per
    # step, which flattens every real attention score. Every int8 tensor here must stay at the
    # scale of the data, and the matrix products must run on int8.
    path = tmp_path / "int8.tflite"
    export.to_tflite(clf, path, quantization="int8", representative_data=TEXTS)
    interpreter = Interpreter(model_path=str(path))
    scales = [t["quantization"][0] for t in interpreter.get_tensor_details()
              if t["dtype"] == np.int8]
    assert scales and max(scales) < 10.0
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    kinds = {}
    for op in interpreter._get_ops_details():
        kinds.setdefault(op["op_name"], set()).add(tensors[op["inputs"][0]]["dtype"])
    assert kinds["FULLY_CONNECTED"] == {np.int8} and np.int8 in kinds["BATCH_MATMUL"]
    assert kinds["SOFTMAX"] == {np.float32} and kinds["RSQRT"] == {np.float32}



def test_integer_friendly_masks_compute_what_keras_computes(clf):
    features = export.device_features(clf, TEXTS, 32)
    batch = {name: np.concatenate([f[key] for f in features]) for name, key in
             [("token_ids", "ids"), ("padding_mask", "mask"), ("segment_ids", "segment_ids")]}
    expected = clf(batch, training=False)
    with tflite_module.integer_friendly_attention_masks(), mock.patch.object(
            tflite_module.ops, "min", wraps=tflite_module.ops.min) as row_minimum:
        masked_differently = clf(batch, training=False)
    assert row_minimum.call_count == 2  # once per attention layer of the tiny BERT
    np.testing.assert_allclose(masked_differently, expected, atol=1e-5)


def test_int8_needs_representative_texts(clf, tmp_path):
    with pytest.raises(ValueError, match="representative_data"):
        export.to_tflite(clf, tmp_path / "a.tflite", quantization="int8")
    with pytest.raises(ValueError, match="must be a list of inputs"):
        export.to_tflite(clf, tmp_path / "b.tflite", quantization="int8",
                         representative_data=tf.data.Dataset.from_tensor_slices(TEXTS))
    with pytest.raises(kbert.KbertInputError, match="representative_data, row 1, field 'text': expected a string"):
        export.to_tflite(clf, tmp_path / "c.tflite", quantization="int8",
                         representative_data=["good", 3])
    assert not list(tmp_path.iterdir())


def test_rows_longer_than_the_file_are_refused_not_cut():
    features = tflite_module.padded_inputs([[2, 7, 3]], None, 4)
    assert features[0]["ids"].tolist() == [[2, 7, 3, 0]] and features[0]["mask"].sum() == 3
    with pytest.raises(ValueError, match="row 0 holds 5 tokens but the model file takes 4"):
        tflite_module.padded_inputs([[2, 7, 8, 9, 3]], None, 4)


def test_unknown_quantization_is_refused(clf, tmp_path):
    with pytest.raises(ValueError, match="quantization must be one of"):
        export.to_tflite(clf, tmp_path / "m.tflite", quantization="int2")


def flex_model_bytes(tmp_path) -> bytes:
    """A graph TFLite's builtins cannot run (a string op), converted with Flex allowed."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"length": tf.strings.length(x)},
                           input_signature=[tf.TensorSpec([1], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "flex"), signatures=module.f)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "flex"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    return converter.convert()


def test_a_flex_needing_graph_is_refused_and_leaves_no_file(clf, tmp_path, monkeypatch):
    content = flex_model_bytes(tmp_path)
    assert any(op.startswith("CUSTOM:Flex") for op in export.tflite_ops(content))
    with pytest.raises(ExportError, match="builtin"):
        tflite_module.convert(str(tmp_path / "flex"), None)
    monkeypatch.setattr(tflite_module, "convert", lambda *args: content)
    target = tmp_path / "out" / "model.tflite"
    with pytest.raises(ExportError, match="CUSTOM:Flex"):
        export.to_tflite(clf, target)
    assert not target.parent.exists() or not list(target.parent.iterdir())
