"""Task model to a builtins-only TFLite file with static [1, L] int32 inputs named `ids`, `mask`
and `segment_ids` (the MediaPipe Tasks / BERT-on-device convention)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterable

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from keras import ops

from kbert.export.checks import ExportError, check_deployable
from kbert.files import atomic_path

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
# Op types an "int8" export keeps in float: LayerNorm (MEAN, SQUARED_DIFFERENCE, RSQRT), the
# residual ADDs, MUL, GELU and the attention softmax. BERT's residual stream has a few outlier
# dimensions, and one int8 scale per tensor cannot hold them and the rest; the matrix products
# (FULLY_CONNECTED, BATCH_MATMUL: nearly all the compute) stay int8. Measured on 300 SST-2 dev
# sentences (Keras 90.0%), attention masks already int8-friendly (below): all ops int8 84.0%,
# LayerNorm in float 87.7%, this set 88.7%.
INT8_FLOAT_OPS = ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "ADD", "MUL", "SUB", "NEG", "GELU",
                  "SOFTMAX", "SELECT_V2")
INPUT_NAMES = ("ids", "mask", "segment_ids")


def device_features(model, x, sequence_length: int,
                    name: str = "x") -> list[dict[str, np.ndarray]]:
    """kbert's own preprocessing of `x` as on-device inputs: one {ids, mask, segment_ids} dict of
    int32 [1, L] arrays per model input row (what an app feeds the interpreter), packed at
    `sequence_length` itself the task's way (`export_spec().pack`): per text (or pair) for
    classifiers, per window of a sentence for taggers, per window of a context for QA.

    Example:
    >>> device_features(clf, ["a gripping film"], 128)[0]["ids"].shape
    (1, 128)
    """
    encoded = model.export_spec().pack(x, sequence_length, name).encoded
    return padded_inputs(encoded.token_ids.to_list(), encoded.segment_ids.to_list(),
                         sequence_length, model.preprocessor.pad_id)


def padded_inputs(token_ids: list[list[int]], segment_ids: list[list[int]] | None,
                  sequence_length: int, pad_id: int = 0) -> list[dict[str, np.ndarray]]:
    """Rows of token ids (and segment ids; default all 0), packed at most `sequence_length`
    long, as the interpreter's int32 [1, L] inputs `ids`, `mask` (1 on real tokens) and
    `segment_ids`. A longer row is refused: cutting it would drop its final [SEP] (pack it at
    L instead, e.g. with `device_features`)."""
    features = []
    for i, row in enumerate(token_ids):
        n = len(row)
        if n > sequence_length:
            raise ValueError(f"row {i} holds {n} tokens but the model file takes "
                             f"{sequence_length}: pack the rows at that length "
                             "(kbert.export.device_features) instead of cutting them.")
        ids = np.full((1, sequence_length), pad_id, np.int32)
        mask = np.zeros((1, sequence_length), np.int32)
        segments = np.zeros((1, sequence_length), np.int32)
        ids[0, :n], mask[0, :n] = row, 1
        if segment_ids is not None:
            segments[0, :n] = segment_ids[i]
        features.append({"ids": ids, "mask": mask, "segment_ids": segments})
    return features


def write_token_id_saved_model(model, directory: str, sequence_length: int) -> None:
    """A SavedModel whose serving_default takes `ids`, `mask`, `segment_ids` int32 [1, L]; the
    TFLite converter freezes its variables into constants (converting the Keras model's concrete
    function directly leaves resource variables behind)."""

    spec = model.export_spec()

    def serve(ids, mask, segment_ids):
        outputs = model({"token_ids": ids, "padding_mask": mask, "segment_ids": segment_ids},
                        training=False)
        return spec.outputs(outputs)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", serve,
        input_signature=[tf.TensorSpec([1, sequence_length], tf.int32, name=n) for n in INPUT_NAMES])
    archive.write_out(directory, verbose=False)


def convert(saved_model_dir: str, quantization: str | None,
            representative: Iterable[dict[str, np.ndarray]] | None = None) -> bytes:
    """Converts a SavedModel with builtin ops only; `ExportError` if it cannot be done."""
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
        if quantization == "int8":
            # TF's selective quantization: the debugger's non-debug model is the converter's
            # int8 model with the denylisted op types left in float.
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=lambda: (dict(s) for s in samples[:1]),
                debug_options=tf.lite.experimental.QuantizationDebugOptions(
                    denylisted_ops=list(INT8_FLOAT_OPS)))
            return debugger.get_nondebug_quantized_model()
        return converter.convert()
    except Exception as error:  # The converter raises several internal error types.
        message = str(error)
        if "Flex" in message or "Select TensorFlow op" in message or "not supported" in message:
            raise ExportError("the model needs ops outside TFLite's builtin set (it would need "
                              f"Flex (TF Select) ops, which on-device runtimes do not ship): "
                              f"{message.strip().splitlines()[0]}") from None
        raise


# How far below a row's smallest attention score the padded positions are put for int8 export:
# their softmax weight is then at most e^-16 of the largest (under 4e-5 in all over 384 tokens).
MASKED_SCORE_MARGIN = 16.0


@contextlib.contextmanager
def integer_friendly_attention_masks():
    """While tracing for int8: attention masking that keeps every tensor's range that of the data.

    Keras's Softmax masks padded positions with -1e9 (`where(mask, scores, -1e9)`). Full-integer
    quantization gives each tensor one scale over its calibrated range, and the quantizer makes
    the scores tensor share the select's scale, so with -1e9 in range every real score rounds to
    the same int8 value and attention becomes uniform (SST-2 int8 accuracy fell 15.7 points).
    Here padded positions take the row's smallest score minus MASKED_SCORE_MARGIN instead: the
    softmax is the same to within e^-16 per position, and the range stays the scores' own.
    """
    original = keras.layers.Softmax.call

    def call(self, inputs, mask=None):
        if mask is None:
            return original(self, inputs)
        mask = ops.greater(ops.cast(mask, "float32"), 0.5)
        floor = ops.min(inputs, axis=self.axis, keepdims=True) - MASKED_SCORE_MARGIN
        outputs = original(self, ops.where(mask, inputs, floor))
        return ops.where(mask, outputs, 0.0)

    keras.layers.Softmax.call = call
    try:
        yield
    finally:
        keras.layers.Softmax.call = original


def to_tflite(model, path: str | Path, quantization: str | None = None,
              representative_data=None, sequence_length: int | None = None,
              max_calibration_examples: int = 200) -> dict:
    """Exports a kbert task model to a builtins-only .tflite file, written atomically.

    Example:
    >>> info = export.to_tflite(clf, "out/model.tflite", quantization="dynamic")
    >>> info["ops"][:3], info["bytes"]
    (['ADD', 'BATCH_MATMUL', 'CAST'], 23123456)

    quantization: None (float32), "float16" (float16 weights), "dynamic" (int8 weights, float
    activations) or "int8" (int8 weights and activations, calibrated on `representative_data`:
    real training inputs, as for `predict`: texts or pairs, word lists for a tagger, SQuAD
    examples for a question answerer; at most `max_calibration_examples` rows are used). Inputs
    are int32 [1, sequence_length] named ids, mask, segment_ids (sequence_length defaults to the
    model's; calibration rows are packed at it, windows rebuilt at it). Outputs are the task's
    `export_spec().output_names`. The converted file is checked and refused (no file written)
    if it needs Flex ops or holds resource variables; a task with nothing to export
    (`kbert.MaskedLM`) raises `ExportError`.
    """
    model.export_spec()  # A task with nothing to export (MaskedLM) says so before any work.
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; got {quantization!r}.")
    sequence_length = int(sequence_length or model.preprocessor.sequence_length)
    if not 2 < sequence_length <= model.backbone.max_sequence_length:
        raise ValueError(f"sequence_length={sequence_length} is outside what the encoder takes "
                         f"(3 to {model.backbone.max_sequence_length}).")
    representative = None
    if quantization == "int8" and representative_data is not None:
        if isinstance(representative_data, (str, bytes, tf.data.Dataset)) or not hasattr(
                representative_data, "__len__"):
            raise ValueError("representative_data must be a list of inputs like the model's "
                             "training inputs (texts, pairs, word lists for a tagger, SQuAD "
                             f"examples for QA), not {type(representative_data).__name__}.")
        if isinstance(representative_data, (list, tuple)):
            representative_data = representative_data[:max_calibration_examples]
        # Packed at the file's own length, so every calibration row ends with its [SEP].
        representative = device_features(model, representative_data, sequence_length,
                                         name="representative_data")[:max_calibration_examples]
    masking = (integer_friendly_attention_masks() if quantization == "int8"
               else contextlib.nullcontext())
    with tempfile.TemporaryDirectory() as tmp:
        with masking:
            write_token_id_saved_model(model, tmp, sequence_length)
        content = convert(tmp, quantization, representative)
    ops = check_deployable(content, f"{model.name} ({quantization or 'float32'})")
    with atomic_path(path) as tmp_path:
        Path(tmp_path).write_bytes(content)
    logging.info("wrote %s (%s, %.1f MB, %d op types)", path, quantization or "float32",
                 len(content) / 1e6, len(ops))
    return {"path": str(path), "quantization": quantization or "float32", "bytes": len(content),
            "sequence_length": sequence_length, "ops": ops}
