"""The "int4" precision's word-embedding table (export.tflite.int4_rows / int4_lookup /
int4_word_embeddings): packed as Keras packs int4 (keras.quantizers.pack_int4, the reference),
looked up in the graph as the dequantized table would give, and stored in the file at half a
byte a value. The precision as a whole (every task, verify, MediaPipe) runs in
test_every_task_exports.py's matrix."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema
from keras import quantizers

import kbert
from kbert import export
from kbert.export.tflite import int4_lookup, int4_rows, int4_word_embeddings
from tests.conftest import VOCAB, tiny_task


def dequantized(table: np.ndarray) -> np.ndarray:
    packed, scale = int4_rows(table)
    values = quantizers.unpack_int4(packed, table.shape[1] + table.shape[1] % 2, axis=-1)
    return np.asarray(values, np.float32)[:, :table.shape[1]] * scale[:, None]


@pytest.mark.parametrize("width", [8, 7])
def test_rows_pack_as_keras_packs_int4_and_stay_within_half_a_step(width):
    table = np.random.default_rng(0).normal(size=(50, width)).astype(np.float32)
    table[3] = 0.0  # An all-zero row keeps a usable scale.
    packed, scale = int4_rows(table)
    values = np.clip(np.round(np.pad(table, ((0, 0), (0, width % 2))) / scale[:, None]), -8, 7)
    expected, _, _ = quantizers.pack_int4(values.astype(np.int8), axis=-1)
    np.testing.assert_array_equal(packed, np.asarray(expected))
    assert packed.dtype == np.int8 and packed.shape == (50, (width + 1) // 2)
    error = np.abs(dequantized(table) - table)
    assert np.all(error <= scale[:, None] / 2 + 1e-6)
    assert np.all(dequantized(table)[3] == 0.0)


def test_the_lookup_in_the_graph_gives_the_dequantized_rows():
    table = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    packed, scale = int4_rows(table)
    ids = np.array([[0, 5, 39, 5], [1, 2, 3, 4]], np.int32)
    looked_up = tf.function(lambda i: int4_lookup(packed, scale, 6, i))(tf.constant(ids))
    np.testing.assert_allclose(looked_up.numpy(), dequantized(table)[ids], atol=1e-6)


def test_the_model_traced_with_int4_rows_equals_the_model_with_the_dequantized_table():
    model = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
    texts = ["the film was great", "a dull book and a slow service"]
    layer = model.backbone.token_embedding
    table = np.asarray(layer.embeddings.numpy())
    with int4_word_embeddings(model.backbone):
        traced = model.predict(texts, verbose=0)
    assert "call" not in vars(layer)  # The class's own call is back.
    layer.embeddings.assign(dequantized(table))
    np.testing.assert_allclose(traced, model.predict(texts, verbose=0), atol=1e-6)


def test_the_file_holds_the_table_as_packed_int8(tmp_path):
    model = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
    path = tmp_path / "int4.tflite"
    export.to_tflite(model, path, quantization="int4", metadata=False)
    content = path.read_bytes()
    graph = schema.Model.GetRootAs(content, 0).Subgraphs(0)
    shapes = {(graph.Tensors(i).Type(), tuple(graph.Tensors(i).ShapeAsNumpy()))
              for i in range(graph.TensorsLength()) if graph.Tensors(i).ShapeLength() == 2}
    hidden = model.backbone.hidden_dim
    assert (schema.TensorType.INT8, (len(VOCAB), hidden // 2)) in shapes
    assert (schema.TensorType.FLOAT32, (len(VOCAB), hidden)) not in shapes
