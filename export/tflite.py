"""Task model to a device-ready, builtins-only TFLite file: int32 inputs named `ids`, `mask` and
`segment_ids` (the MediaPipe Tasks / BERT-on-device convention) of dynamic length [1, -1] by
default or static [1, L], with its TFLite metadata written by the same call."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from keras import ops

from kbert.export.checks import ExportError, check_deployable
from kbert.export.metadata import check_metadata_name, check_writer_installed, embed_metadata
from kbert.files import atomic_path
from kbert.verbosity import native_logs_quiet
from kbert.preprocessing.inputs import as_examples

QUANTIZATIONS = (None, "float16", "dynamic", "int8", "int4")
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
                    name: str = "x", dynamic: bool = False) -> list[dict[str, np.ndarray]]:
    """kbert's own preprocessing of `x` as on-device inputs: one {ids, mask, segment_ids} dict of
    int32 [1, L] arrays per model input row (what an app feeds the model), packed at
    `sequence_length` itself the task's way (`export_spec().pack`): per text (or pair) for
    classifiers, per window of a sentence for taggers, per window of a context for QA. With
    `dynamic=True` each row keeps its own length [1, n] (what an app feeds a dynamic file).

    Example:
    >>> device_features(clf, ["a gripping film"], 128)[0]["ids"].shape
    (1, 128)
    >>> device_features(clf, ["a gripping film"], 128, dynamic=True)[0]["ids"].shape
    (1, 5)
    """
    encoded = model.export_spec().pack(x, sequence_length, name).encoded
    return padded_inputs(encoded.token_ids.to_list(), encoded.segment_ids.to_list(),
                         sequence_length, model.preprocessor.pad_id, dynamic=dynamic)


def padded_inputs(token_ids: list[list[int]], segment_ids: list[list[int]] | None,
                  sequence_length: int, pad_id: int = 0,
                  dynamic: bool = False) -> list[dict[str, np.ndarray]]:
    """Rows of token ids (and segment ids; default all 0), packed at most `sequence_length`
    long, as the interpreter's int32 [1, L] inputs `ids`, `mask` (1 on real tokens) and
    `segment_ids`; with `dynamic=True` each row at its own length [1, n], unpadded. A longer
    row is refused: cutting it would drop its final [SEP] (pack it at L instead, e.g. with
    `device_features`).

    Example:
    >>> padded_inputs([[2, 7, 3]], None, 4)[0]["ids"].tolist()
    [[2, 7, 3, 0]]
    """
    features = []
    for i, row in enumerate(token_ids):
        n = len(row)
        if n > sequence_length:
            raise ValueError(f"row {i} holds {n} tokens but the model file takes "
                             f"{sequence_length}: pack the rows at that length "
                             "(kbert.export.device_features) instead of cutting them.")
        width = n if dynamic else sequence_length
        ids = np.full((1, width), pad_id, np.int32)
        mask = np.zeros((1, width), np.int32)
        segments = np.zeros((1, width), np.int32)
        ids[0, :n], mask[0, :n] = row, 1
        if segment_ids is not None:
            segments[0, :n] = segment_ids[i]
        features.append({"ids": ids, "mask": mask, "segment_ids": segments})
    return features


def is_dynamic(input_details: list[dict]) -> bool:
    """Whether an interpreter's inputs (`get_input_details()`) have a dynamic length.

    Example:
    >>> is_dynamic(Interpreter(model_path="out/model.tflite").get_input_details())
    True
    """
    return int(input_details[0]["shape_signature"][-1]) < 0


def pad_features(features: list[dict[str, np.ndarray]], width: int) -> list[dict[str, np.ndarray]]:
    """Rows of inputs [1, n] padded to [1, width] (zeros: padding id 0, mask 0), e.g. to batch a
    dynamic file's rows for Keras.

    Example:
    >>> pad_features([{"ids": np.ones((1, 3), np.int32)}], 5)[0]["ids"].tolist()
    [[1, 1, 1, 0, 0]]
    """
    return [{k: np.pad(v, ((0, 0), (0, width - v.shape[1]))) for k, v in f.items()}
            for f in features]


def stack_rows(rows: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """Outputs of one model call each, [1, n, ...] or [1, ...], concatenated; per-token
    outputs of different lengths (a dynamic file's) are padded with zeros to `width` (default
    the longest).

    Example:
    >>> stack_rows([np.ones((1, 3)), np.ones((1, 5))], 6).shape
    (2, 6)
    """
    if all(r.shape[1:] == rows[0].shape[1:] for r in rows) and (
            width is None or rows[0].ndim < 2 or rows[0].shape[1] == width):
        return np.concatenate(rows)
    width = width or max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, [(0, 0), (0, width - r.shape[1])] + [(0, 0)] * (r.ndim - 2))
                           for r in rows])


def full_rows(model, x, name: str = "x") -> list[dict[str, np.ndarray]]:
    """Each text (or pair) of `x` as its whole packed row, `[CLS] a [SEP] (b [SEP])` with no
    truncation, as int32 [1, n] {ids, mask, segment_ids}: what an app (or MediaPipe) feeds a
    dynamic-length file, which then reads the model's first `sequence_length` tokens itself
    (`LengthPolicy.cut`). kbert's tokenizer, the model's own.

    Example:
    >>> [r["ids"].shape for r in full_rows(clf, ["a film", "a " * 700])]
    [(1, 4), (1, 702)]
    """
    policy = model.export_spec().length_policy(model)
    texts = [list(map(str, segment)) for segment in as_examples(x, name=name).segments]
    pieces = [model.preprocessor.word_pieces(list(segment)).to_list() for segment in texts]
    token_ids, segment_ids = [], []
    for row in zip(*pieces):
        ids, segments = [policy.cls_id], [0]
        for index, tokens in enumerate(row):
            ids += list(tokens) + [policy.sep_id]
            segments += [index] * (len(tokens) + 1)
        token_ids.append(ids)
        segment_ids.append(segments)
    longest = max(len(r) for r in token_ids)
    return padded_inputs(token_ids, segment_ids, longest, policy.pad_id, dynamic=True)


def check_backend(what: str) -> None:
    """Raises `ExportError` in one line unless Keras runs on TensorFlow: export traces the model
    into a TensorFlow graph, which a JAX (or torch) model cannot be.

    Example:
    >>> check_backend("to_tflite")   # passes under KERAS_BACKEND=tensorflow
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ExportError(
            f"{what} needs the TensorFlow backend; this process runs Keras on {backend!r}. Save "
            "the model with model.save('model.keras'), then export kbert.load_model("
            "'model.keras') in a process started with KERAS_BACKEND=tensorflow.")


def graph_length(model, sequence_length: int | None) -> tuple[int, bool]:
    """(the length the file reads, whether its graph must cut rows to it) for a file of static
    `sequence_length` (None: dynamic), from the task's `LengthPolicy`; `ExportError` for a static
    file too short for a task read in one row (it would read fewer tokens than `predict`).

    Example:
    >>> graph_length(clf, None)         # clf at sequence_length 128
    (128, True)
    """
    policy = model.export_spec().length_policy(model)
    if sequence_length is None:
        return policy.sequence_length, True
    if sequence_length < policy.sequence_length and not policy.windowed:
        raise ExportError(
            f"a static file of {sequence_length} tokens would read fewer tokens than the model "
            f"(sequence_length {policy.sequence_length}) and disagree with predict on longer "
            f"texts: export it at sequence_length >= {policy.sequence_length}, or dynamic (None).")
    if policy.windowed:  # The task's own windows are cut at the file's length.
        return sequence_length, False
    return policy.sequence_length, sequence_length > policy.sequence_length


def serving_function(model, sequence_length: int | None):
    """The Python function a file serves, for `token_id_function` to trace: `ids`, `mask`,
    `segment_ids` int32 [1, L] in, cut to the model's length policy when the file's length
    calls for it (`LengthPolicy.cut`: the tokens `predict` reads), the task's
    `export_spec().outputs` out. `model` is served as it is (`token_id_function` merges LoRA)."""
    spec = model.export_spec()
    policy = spec.length_policy(model)
    _, cut = graph_length(model, sequence_length)

    def serve(ids, mask, segment_ids):
        if cut:
            ids, mask, segment_ids = policy.cut(ids, mask, segment_ids)
        outputs = model({"token_ids": ids, "padding_mask": mask, "segment_ids": segment_ids},
                        training=False)
        return spec.outputs(outputs)

    return serve


def token_id_function(model, sequence_length: int | None, *, int4_embeddings: bool = False):
    """(the model's token-id serving function, traced; a `tf.Module` holding the variables it
    reads). The function (`serving_function`) takes `ids`, `mask`, `segment_ids` int32 [1, L]
    (or [1, None] when `sequence_length` is None) and returns the task's outputs. A LoRA model
    is served merged (`Task.merged`): the file holds plain kernels, as a fully fine-tuned one
    does. `int4_embeddings`: the word embeddings are traced as int4 rows
    (`int4_word_embeddings`).

    The converter takes the function itself (`convert`), freezing the variables it captured.
    Not `keras.export.ExportArchive` and a SavedModel on disk, as before: the archive walks the
    model's whole object graph for lookup tables (this graph has none: token ids in) and the
    converter reads the SavedModel back. Files of the same size and outputs (only the
    converter's record of its input differs) now take 0.50x (float32) to 0.77x (int8) of the
    time on MiniLM (BENCHMARKS.md, "TFLite export time").
    """
    model = model.merged()
    lookup = (int4_word_embeddings(model.backbone) if int4_embeddings
              else contextlib.nullcontext())
    signature = [tf.TensorSpec([1, sequence_length], tf.int32, name=n) for n in INPUT_NAMES]
    with lookup:
        function = tf.function(serving_function(model, sequence_length), autograph=False,
                               input_signature=signature).get_concrete_function()
    holder = tf.Module()
    holder.captured = list(function.variables)  # Alive (and saved) with the function.
    return function, holder


def write_token_id_saved_model(model, directory: str, sequence_length: int | None, *,
                               int4_embeddings: bool = False) -> None:
    """`token_id_function` as a SavedModel (its serving_default), for tools that read one
    (tf2onnx in benchmarks/latency.py)."""
    function, holder = token_id_function(model, sequence_length,
                                         int4_embeddings=int4_embeddings)
    tf.saved_model.save(holder, directory, signatures={"serving_default": function})


def convert(source, quantization: str | None,
            representative: Iterable[dict[str, np.ndarray]] | None = None) -> bytes:
    """Converts `token_id_function`'s (function, holder), or a SavedModel directory, with
    builtin ops only; `ExportError` if it cannot be done."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; got {quantization!r}.")
    if isinstance(source, (str, Path)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(source))
    else:
        function, holder = source
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], holder)
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
    if quantization == "int4":
        converter.optimizations = []  # float32 out; int4_weights quantizes it below.
    try:
        # The MLIR passes and the SavedModel reader log through absl's C++ logging, which only
        # a redirected stderr keeps quiet (kbert.verbosity); its errors carry their diagnostics.
        with native_logs_quiet(replay_on_error=False):
            if quantization == "int8":
                # TF's selective quantization: the debugger's non-debug model is the converter's
                # int8 model with the denylisted op types left in float.
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=converter, debug_dataset=lambda: (dict(s) for s in samples[:1]),
                    debug_options=tf.lite.experimental.QuantizationDebugOptions(
                        denylisted_ops=list(INT8_FLOAT_OPS)))
                return debugger.get_nondebug_quantized_model()
            content = converter.convert()
            return int4_weights(content) if quantization == "int4" else content
    except Exception as error:  # The converter raises several internal error types.
        message = str(error)
        if "Flex" in message or "Select TensorFlow op" in message or "not supported" in message:
            raise ExportError("the model needs ops outside TFLite's builtin set (it would need "
                              f"Flex (TF Select) ops, which on-device runtimes do not ship): "
                              f"{message.strip().splitlines()[0]}") from None
        raise


def int4_weights(content: bytes) -> bytes:
    """The float32 file `content` with the weights of its matrix products (FULLY_CONNECTED,
    BATCH_MATMUL, ...) int4 in blocks of 32 and dynamic int8 activations: ai-edge-quantizer's
    `dynamic_wi4b32_afp32` recipe (Google's LiteRT quantizer; TensorFlow's converter has no
    int4). The quantizer does not take GATHER (the word-embedding lookup); `int4_word_embeddings`
    makes the table int4 before conversion instead."""
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(bytes(content))
    q.load_quantization_recipe(recipe.dynamic_wi4b32_afp32())
    return inline_buffers(bytes(q.quantize().quantized_model))


def inline_buffers(content: bytes) -> bytes:
    """`content` with every weight buffer inside its flatbuffer. ai-edge-quantizer writes its
    models in the large-model layout (buffers after the flatbuffer, found by offset), which
    TFLite metadata cannot be written into; a file under 2 GB does not need it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    if not any(model.Buffers(i).Offset() > 1 for i in range(model.BuffersLength())):
        return content
    whole = schema.ModelT.InitFromObj(model)
    data = np.frombuffer(content, np.uint8)
    for buffer in whole.buffers:
        if buffer.offset > 1:
            buffer.data = data[buffer.offset:buffer.offset + buffer.size].copy()
            buffer.offset = buffer.size = 0
    builder = flatbuffers.Builder(len(content) + (1 << 20))
    builder.Finish(whole.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def int4_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`table` [rows, width] as symmetric int4 per row, two values a byte: (packed int8
    [rows, ceil(width / 2)], scale float32 [rows]), row r ~= values * scale[r]. A byte holds
    value 2j in its low nibble and 2j + 1 in its high one, so its signed int8 value is
    high * 16 + (low mod 16), which `int4_lookup` takes apart with float arithmetic.

    Example:
    >>> packed, scale = int4_rows(np.array([[0.7, -0.8, 0.1, 0.0]]))
    >>> packed.shape, scale     # values [7, -8, 1, 0] * 0.1
    ((1, 2), array([0.1], dtype=float32))
    """
    table = np.asarray(table, np.float32)
    if table.shape[1] % 2:
        table = np.pad(table, ((0, 0), (0, 1)))
    peak = np.abs(table).max(axis=1)
    # Symmetric: the larger of max / 7 and -min / 8 (int4 holds -8..7).
    scale = np.maximum(table.max(axis=1) / 7.0, -table.min(axis=1) / 8.0)
    scale = np.where(peak > 0, scale, 1.0).astype(np.float32)
    values = np.clip(np.round(table / scale[:, None]), -8, 7).astype(np.int16)
    packed = values[:, 1::2] * 16 + (values[:, 0::2] & 0x0F)
    return packed.astype(np.int8), scale


def int4_lookup(packed: np.ndarray, scale: np.ndarray, width: int, ids):
    """The rows `ids` of an `int4_rows` table as float32 [..., width], with builtin TFLite ops
    only: GATHER of the packed int8 rows and their scales, then CAST, FLOOR, MUL, SUB, PACK
    and RESHAPE on the gathered rows alone. The table itself is never unpacked in the graph, so
    the file holds it at half a byte a value."""
    rows = tf.cast(tf.gather(tf.constant(packed), ids), tf.float32)
    high = tf.floor(rows * (1.0 / 16.0))                  # signed high nibble, -8..7
    low = rows - 16.0 * high                              # low nibble, 0..15
    low = low - 16.0 * tf.floor(low * (1.0 / 8.0))        # signed, -8..7
    values = tf.reshape(tf.stack([low, high], axis=-1),
                        tf.concat([tf.shape(ids), [packed.shape[1] * 2]], axis=0))
    return values[..., :width] * tf.expand_dims(tf.gather(tf.constant(scale), ids), -1)


@contextlib.contextmanager
def int4_word_embeddings(backbone):
    """While tracing an "int4" export: the backbone's word embeddings (`token_embedding`) are
    looked up from int4 rows (`int4_rows`, `int4_lookup`), their value read when traced.

    The word-embedding table is half of a small encoder's weights (MiniLM: 11.7M of 22.7M), and
    LiteRT's quantizer leaves GATHER in float32 (ai-edge-quantizer 0.10 refuses it), which kept
    an int4 file at 53.9 MB of MiniLM's 90.6. Written here because no maintained converter or
    quantizer stores a gathered table below int8 with builtin ops.
    """
    layer = backbone.token_embedding
    original = layer.call  # The bound method; a tied output projection (reverse=True) keeps it.

    def call(inputs, *args, **kwargs):
        if args or kwargs.get("reverse"):
            return original(inputs, *args, **kwargs)
        with tf.init_scope():  # The table's value, read eagerly while the graph is traced.
            packed, scale = int4_rows(ops.convert_to_numpy(layer.embeddings))
        return int4_lookup(packed, scale, layer.output_dim, tf.cast(inputs, tf.int32))

    layer.call = call
    try:
        yield
    finally:
        del layer.call  # The class's method again.


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


def calibration_rows(model, representative_data, sequence_length: int | None,
                     max_examples: int) -> list[dict[str, np.ndarray]]:
    """The int8 calibration rows: at most `max_examples` of the user's inputs packed the task's
    way at the file's length (so every row ends with its [SEP]); for a dynamic file
    (`sequence_length` None) at the model's window length, padded to it.

    Example:
    >>> [r["ids"].shape for r in calibration_rows(clf, ["a film", "a dull book"], None, 200)]
    [(1, 128), (1, 128)]
    """
    if isinstance(representative_data, (str, bytes, tf.data.Dataset)) or not hasattr(
            representative_data, "__len__"):
        raise ValueError("representative_data must be a list of inputs like the model's "
                         "training inputs (texts, pairs, word lists for a tagger, SQuAD "
                         f"examples for QA), not {type(representative_data).__name__}.")
    if isinstance(representative_data, (list, tuple)):
        representative_data = representative_data[:max_examples]
    length = sequence_length or model.preprocessor.sequence_length
    # Every row padded to one width, also for a dynamic file: TF's calibrator prepares the
    # graph once, at the first row's shape, and a later row of another length fails there
    # ("shapes [1,5] and [1,6] are not broadcastable") in the graph's length cut.
    return device_features(model, representative_data, length, name="representative_data",
                           dynamic=False)[:max_examples]


def to_tflite(model, path: str | Path, quantization: str | None = None,
              representative_data=None, sequence_length: int | None = None,
              max_calibration_examples: int = 200, *, metadata: bool = True,
              name: str | None = None, description: str | None = None,
              version: str = "1") -> dict:
    """Exports a kbert task model to a device-ready .tflite file (builtin ops only, TFLite
    metadata inside), written atomically.

    Example:
    >>> info = export.to_tflite(clf, "out/model.tflite", quantization="dynamic")
    >>> info["ops"][:3], info["input_shape"], info["metadata"]["labels"]
    (['ADD', 'BATCH_MATMUL', 'CAST'], [1, -1], ['negative', 'positive'])
    >>> # mediapipe.tasks.python.text.TextClassifier loads out/model.tflite as it is.

    Inputs are int32 `ids`, `mask`, `segment_ids`. By default their length is dynamic (shape
    signature [1, -1]): MediaPipe and LiteRT feed each text at its own token length, so short
    texts do not pay for padding. Whatever its length, a row is cut inside the graph to the
    model's length policy (`export_spec().length`: the model's `sequence_length`, pairs trimmed
    longest-first, every text ending with [SEP]), so MediaPipe or an app feeding a text's whole
    row gets exactly what `predict` gives. `sequence_length=L` makes the inputs static [1, L]
    (3 <= L <= the encoder's positions; at least the model's own length for a task read in one
    row, which a wider file then cuts to; a tagger's or question answerer's windows are built at
    L). Outputs are the task's `export_spec().output_names`. Export needs the TensorFlow
    backend: a model trained under JAX is refused with what to do (save, then export the loaded
    model under KERAS_BACKEND=tensorflow).

    quantization: None (float32), "float16" (float16 weights), "dynamic" (int8 weights, float
    activations), "int8" (int8 weights and activations, calibrated on `representative_data`:
    real training inputs, as for `predict`: texts or pairs, word lists for a tagger, SQuAD
    examples for a question answerer; at most `max_calibration_examples` rows are used, packed
    at the file's length, or for a dynamic file each at its own length) or "int4" (the smallest:
    int4 weights in blocks of 32 with dynamic int8 activations through ai-edge-quantizer, and
    the word-embedding table int4 per row: `int4_word_embeddings`).

    metadata: the file gets its TFLite Model Metadata in the same atomic write (what
    `write_metadata` embeds: tokenizer process unit with vocab.txt, labels.txt, and kbert.json
    with the window length and the task's settings; `name`, `description`, `version` are its
    general fields). That uses MediaPipe's metadata writer: without mediapipe installed this
    raises `ImportError` saying how to install it, before any work; `metadata=False` writes the
    bare model (for `write_metadata` later, or runtimes that need none).

    The converted file is checked and refused (no file written) if it needs Flex ops, holds
    resource variables or more than one subgraph, or its metadata name contains "gemma"
    (MediaPipe's master would run it as EmbeddingGemma); a task with nothing to export
    (`kbert.MaskedLM`) raises `ExportError`. Returns path, quantization, bytes, sequence_length
    (None when dynamic), input_shape, ops, and the embedded metadata (`read_metadata`'s view).
    """
    model.export_spec()  # A task with nothing to export (MaskedLM) says so before any work.
    check_backend("export.to_tflite")
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; got {quantization!r}.")
    if sequence_length is not None:
        sequence_length = int(sequence_length)
        if not 2 < sequence_length <= model.backbone.max_sequence_length:
            raise ValueError(f"sequence_length={sequence_length} is outside what the encoder "
                             f"takes (3 to {model.backbone.max_sequence_length}), or None for "
                             "a dynamic length.")
    graph_length(model, sequence_length)  # A static file too short for the model is refused.
    if metadata:
        check_writer_installed()
        check_metadata_name(name or model.name, str(path))
    representative = None
    if quantization == "int8" and representative_data is not None:
        representative = calibration_rows(model, representative_data, sequence_length,
                                          max_calibration_examples)
    masking = (integer_friendly_attention_masks() if quantization == "int8"
               else contextlib.nullcontext())
    with masking:
        traced = token_id_function(model, sequence_length,
                                   int4_embeddings=quantization == "int4")
    content = convert(traced, quantization, representative)
    what = f"{model.name} ({quantization or 'float32'})"
    ops = check_deployable(content, what)
    embedded = None
    if metadata:
        content, embedded = embed_metadata(content, model, what=str(path), name=name,
                                           description=description, version=version)
    with atomic_path(path) as tmp_path:
        Path(tmp_path).write_bytes(content)
    logging.info("wrote %s (%s, %s length, %.1f MB, %d op types%s)", path,
                 quantization or "float32",
                 "dynamic" if sequence_length is None else f"static {sequence_length}",
                 len(content) / 1e6, len(ops), ", with metadata" if metadata else "")
    return {"path": str(path), "quantization": quantization or "float32", "bytes": len(content),
            "sequence_length": sequence_length,
            "input_shape": [1, -1 if sequence_length is None else sequence_length],
            "ops": ops, "metadata": embedded}
