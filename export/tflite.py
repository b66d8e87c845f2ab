"""Task model to a builtins-only TFLite file with static [1, L] int32 inputs named `ids`, `mask`
and `segment_ids` (the MediaPipe Tasks / BERT-on-device convention)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from ai_edge_litert.interpreter import Interpreter

from kbert.export.checks import ExportError, check_deployable
from kbert.files import atomic_path

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
INPUT_NAMES = ("ids", "mask", "segment_ids")


def device_features(model, x, sequence_length: int,
                    name: str = "x") -> list[dict[str, np.ndarray]]:
    """kbert's own preprocessing of `x` as on-device inputs: one {ids, mask, segment_ids} dict of
    int32 [1, L] arrays per model input row (what an app feeds the interpreter): per text (or
    pair) for classifiers, per window of a sentence for taggers.

    Example:
    >>> device_features(clf, ["a gripping film"], 128)[0]["ids"].shape
    (1, 128)
    """
    encoded = model.prepare(x, name=name).encoded
    return padded_inputs(encoded.token_ids.to_list(), encoded.segment_ids.to_list(),
                         sequence_length, model.preprocessor.pad_id)


def padded_inputs(token_ids: list[list[int]], segment_ids: list[list[int]] | None,
                  sequence_length: int, pad_id: int = 0) -> list[dict[str, np.ndarray]]:
    """Rows of token ids (and segment ids; default all 0) as the interpreter's int32 [1, L]
    inputs `ids`, `mask` (1 on real tokens) and `segment_ids`; rows longer than L are cut."""
    features = []
    for i, row in enumerate(token_ids):
        n = min(len(row), sequence_length)
        ids = np.full((1, sequence_length), pad_id, np.int32)
        mask = np.zeros((1, sequence_length), np.int32)
        segments = np.zeros((1, sequence_length), np.int32)
        ids[0, :n], mask[0, :n] = row[:n], 1
        if segment_ids is not None:
            segments[0, :n] = segment_ids[i][:n]
        features.append({"ids": ids, "mask": mask, "segment_ids": segments})
    return features


def write_token_id_saved_model(model, directory: str, sequence_length: int) -> None:
    """A SavedModel whose serving_default takes `ids`, `mask`, `segment_ids` int32 [1, L]; the
    TFLite converter freezes its variables into constants (converting the Keras model's concrete
    function directly leaves resource variables behind)."""

    def serve(ids, mask, segment_ids):
        outputs = model({"token_ids": ids, "padding_mask": mask, "segment_ids": segment_ids},
                        training=False)
        return model.serving_outputs(outputs)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", serve,
        input_signature=[tf.TensorSpec([1, sequence_length], tf.int32, name=n) for n in INPUT_NAMES])
    archive.write_out(directory, verbose=False)


def convert(saved_model_dir: str, quantization: str | None,
            representative: Iterable[dict[str, np.ndarray]] | None = None,
            float_fallback: int = 0) -> bytes:
    """Converts a SavedModel with builtin ops only; `ExportError` if it cannot be done.
    `float_fallback` (int8 only): see `to_tflite`."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; got {quantization!r}.")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        if representative is None:
            raise ValueError("int8 quantization calibrates on real examples: pass "
                             "representative_data (texts, as for predict).")
        samples = list(representative)
        converter.representative_dataset = lambda: (dict(s) for s in samples)
        # Integer kernels wherever they exist, float ones elsewhere. Token ids stay int32 and the
        # output stays float, so apps feed and read the model the same way as float32.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        if quantization == "int8" and float_fallback:
            return _int8_with_float_fallback(converter, saved_model_dir, samples, float_fallback)
        return converter.convert()
    except Exception as error:  # The converter raises several internal error types.
        message = str(error)
        if "Flex" in message or "Select TensorFlow op" in message or "not supported" in message:
            raise ExportError("the model needs ops outside TFLite's builtin set (it would need "
                              f"Flex (TF Select) ops, which on-device runtimes do not ship): "
                              f"{message.strip().splitlines()[0]}") from None
        raise


def _int8_with_float_fallback(converter, saved_model_dir: str, samples: list[dict],
                              count: int) -> bytes:
    """Full int8, except the `count` nodes whose int8 outputs stray furthest from float (root
    mean squared error over the quantization scale, measured by TFLite's QuantizationDebugger on
    the calibration samples), which stay float. Transformer activations have outlier channels
    that per-tensor int8 cannot hold; this keeps the few layers they pass through in float."""
    # The debugger feeds inputs by position, in the converted model's own input order, which a
    # plain conversion of the same SavedModel reveals.
    plain = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert()
    order = [detail["name"].removeprefix("serving_default_").removesuffix(":0")
             for detail in Interpreter(model_content=plain).get_input_details()]
    debug_data = lambda: ([s[name] for name in order] for s in samples[:32])  # noqa: E731
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter,
                                                         debug_dataset=debug_data)
    debugger.run()
    errors = sorted(((float(np.mean(stats["mean_squared_error"])) ** 0.5
                      / (float(np.mean(stats["scale"])) or 1.0), name)
                     for name, stats in debugger.layer_statistics.items()), reverse=True)
    worst = [name for _, name in errors[:count]]
    logging.info("int8: keeping %d nodes in float: %s", len(worst), worst)
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=worst)
    return tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=debug_data,
        debug_options=options).get_nondebug_quantized_model()


def to_tflite(model, path: str | Path, quantization: str | None = None,
              representative_data=None, sequence_length: int | None = None,
              max_calibration_examples: int = 200, int8_float_fallback: int = 0) -> dict:
    """Exports a kbert task model to a builtins-only .tflite file, written atomically.

    Example:
    >>> info = export.to_tflite(clf, "out/model.tflite", quantization="dynamic")
    >>> info["ops"][:3], info["bytes"]
    (['ADD', 'BATCH_MATMUL', 'CAST'], 23123456)

    quantization: None (float32), "float16" (float16 weights), "dynamic" (int8 weights, float
    activations) or "int8" (int8 weights and activations, calibrated on `representative_data`:
    real training texts, as for `predict`; at most `max_calibration_examples` are used). Inputs
    are int32 [1, sequence_length] named ids, mask, segment_ids (sequence_length defaults to the
    model's). The converted file is checked and refused (no file written) if it needs Flex ops
    or holds resource variables. `int8_float_fallback=k` keeps the k nodes that int8 distorts
    most (measured on the calibration data) in float, for encoders whose activations have
    outliers that full int8 cannot represent.
    """
    sequence_length = int(sequence_length or model.preprocessor.sequence_length)
    if sequence_length > model.backbone.max_sequence_length:
        raise ValueError(f"sequence_length={sequence_length} exceeds the encoder's maximum "
                         f"({model.backbone.max_sequence_length}).")
    representative = None
    if quantization == "int8" and representative_data is not None:
        if isinstance(representative_data, (str, bytes, tf.data.Dataset)) or not hasattr(
                representative_data, "__len__"):
            raise ValueError("representative_data must be a list of inputs like the model's "
                             "training inputs (texts, pairs, or word lists for a tagger), not "
                             f"{type(representative_data).__name__}.")
        texts = list(representative_data)[:max_calibration_examples]
        representative = device_features(model, texts, sequence_length, name="representative_data")
    with tempfile.TemporaryDirectory() as tmp:
        write_token_id_saved_model(model, tmp, sequence_length)
        content = convert(tmp, quantization, representative, int8_float_fallback)
    ops = check_deployable(content, f"{model.name} ({quantization or 'float32'})")
    with atomic_path(path) as tmp_path:
        Path(tmp_path).write_bytes(content)
    logging.info("wrote %s (%s, %.1f MB, %d op types)", path, quantization or "float32",
                 len(content) / 1e6, len(ops))
    return {"path": str(path), "quantization": quantization or "float32", "bytes": len(content),
            "sequence_length": sequence_length, "ops": ops}
