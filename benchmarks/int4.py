"""A smaller TFLite variant through ai-edge-quantizer (int4 blockwise weights, dynamic int8
activations) next to kbert's own precisions, on one SST-2 classifier: file size, LiteRT latency
per dev sentence (CompiledModel, one thread, each sentence at its own length) and dev accuracy /
agreement with Keras.

  python scripts/benchmark.py --what=int4 --examples=4000     # trains a classifier first
  python scripts/benchmark.py --what=int4 --model=runs/sst2/model.keras

ai-edge-quantizer (a kbert dependency since the "int4" precision) rewrites a float32 .tflite;
kbert's float32 file (TensorFlow's converter) is its input. Whatever the quantizer cannot
quantize stays float32, and the table says which tensors those are. This is the measurement
that led to `export.to_tflite(quantization="int4")`, which also stores the word embeddings int4
(the quantizer leaves their GATHER float32).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import Section, markdown_table
from benchmarks.dynamic_length import cpu_flags


def quantize_int4(float_path: Path, path: Path) -> str:
    """int4 blockwise-32 weights with dynamic int8 activations (ai-edge-quantizer's
    dynamic_wi4b32_afp32 recipe), plus an attempt at the word-embedding table (its GATHER);
    returns what happened to the embedding table."""
    from ai_edge_quantizer import qtyping, quantizer, recipe

    def build(with_gather: bool):
        q = quantizer.Quantizer(str(float_path))
        q.load_quantization_recipe(recipe.dynamic_wi4b32_afp32())
        if with_gather:
            q.add_weight_only_config(".*", qtyping.TFLOperationName.GATHER, 4)
        q.quantize().export_model(str(path), overwrite=True)

    try:
        build(with_gather=True)
        return "word embeddings int4 (weight-only GATHER)"
    except Exception as error:  # noqa: BLE001 - the quantizer's refusal is the finding
        build(with_gather=False)
        return f"word embeddings left float32: {str(error).split('. Error')[0]}"


def largest_float_tensor(path: Path) -> str:
    """The largest float32 constant of a .tflite and its size in MB (which weights stayed
    float)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    best = (0, "")
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        buffer = model.Buffers(tensor.Buffer())
        if tensor.Type() == schema.TensorType.FLOAT32 and buffer is not None:
            # Large files keep their buffers after the flatbuffer (offset, size), not inline.
            size = buffer.DataLength() or buffer.Size()
            best = max(best, (size, str([int(d) for d in tensor.ShapeAsNumpy()])))
    return f"{best[1]} ({best[0] / 1e6:.1f} MB)"


def run(flags) -> Section:
    import kbert
    from kbert import export

    dev = kbert.data.read_table(os.path.join(os.path.dirname(flags.train_file), "dev.tsv"),
                                "sentence", "label")
    if flags.quick:
        dev = dev.take(50)
    if flags.model:
        model, trained = kbert.load_model(flags.model), flags.model
    else:
        count = 256 if flags.quick else flags.examples
        model = kbert.TextClassifier.from_preset(flags.preset, num_classes=2,
                                                 sequence_length=flags.sequence_length)
        model.fit(kbert.data.read_table(flags.train_file, "sentence", "label", max_rows=count),
                  epochs=1, batch_size=flags.batch_size, seed=0)
        trained = f"trained here on the first {count} SST-2 sentences, 1 epoch"
    texts, labels = list(dev.texts), np.array(dev.labels, int)
    keras_top = model.predict(texts).argmax(-1)
    keras_accuracy = 100 * np.mean(keras_top == labels)
    directory = Path(flags.export_dir or tempfile.mkdtemp(prefix="kbert_int4_"))
    files = {"float32": directory / "float32.tflite", "dynamic (kbert default)":
             directory / "dynamic.tflite", "int4 blockwise-32 (ai-edge-quantizer)":
             directory / "int4.tflite"}
    export.to_tflite(model, files["float32"], metadata=False)
    export.to_tflite(model, files["dynamic (kbert default)"], quantization="dynamic",
                     metadata=False)
    note = quantize_int4(files["float32"], files["int4 blockwise-32 (ai-edge-quantizer)"])
    features = export.device_features(model, texts, model.preprocessor.sequence_length,
                                      dynamic=True)
    rows, accuracy = [], {}
    for name, path in files.items():
        runner = export.LiteRtModel(path, num_threads=1)
        runner(**features[0])
        probabilities, times = [], []
        for row in features:
            start = time.perf_counter()
            probabilities.append(runner(**row)["probability"][0])
            times.append((time.perf_counter() - start) * 1000)
        top = np.array(probabilities).argmax(-1)
        accuracy[name] = 100 * np.mean(top == labels)
        rows.append([name, f"{path.stat().st_size / 1e6:.1f}", f"{np.mean(times):.2f}",
                     f"{accuracy[name]:.2f}", f"{100 * np.mean(top == keras_top):.2f}",
                     largest_float_tensor(path)])
    table = markdown_table(["file", "MB", "mean ms / sentence (1 thread)", "accuracy %",
                            "top label = Keras %", "largest float32 tensor"], rows)
    int4, default = files["int4 blockwise-32 (ai-edge-quantizer)"], files["dynamic (kbert default)"]
    gap = keras_accuracy - accuracy["int4 blockwise-32 (ai-edge-quantizer)"]
    side = "below" if gap >= 0 else "above"
    summary = (f"Keras accuracy {keras_accuracy:.2f}; int4 file {abs(gap):.2f} points {side} "
               f"Keras (bar: within 1.5), {int4.stat().st_size / default.stat().st_size:.2f}x the size "
               f"of kbert's dynamic-range file. {note}.")
    setup = (f"One SST-2 classifier ({trained}), {len(texts)} SST-2 dev sentences one at a time "
             f"at their own length through LiteRT's CompiledModel (kbert.export.LiteRtModel), "
             f"all files from one run; CPU flags: {cpu_flags()}")
    return Section("int4 through ai-edge-quantizer vs kbert's precisions (CPU)", setup, table,
                   summary)
