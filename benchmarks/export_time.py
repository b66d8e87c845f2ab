"""TFLite export time: kbert's `to_tflite` (the traced token-id function handed to the converter,
`kbert.export.tflite.token_id_function`) against the route it replaced (the same function as a
`keras.export.ExportArchive` endpoint, the archive tracking the model, written as a SavedModel
and read back by `TFLiteConverter.from_saved_model`). Same model, same precision, one process,
the two routes alternating; each pair of files is checked to give the same outputs on the same
rows, so only the time differs."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks import Section, markdown_table

PRECISIONS = (None, "float16", "dynamic", "int8")


def saved_model_route(model, path: Path, quantization, representative) -> None:
    """The comparison: kbert's export before the change, step for step."""
    from kbert.export import tflite

    model = model.merged()
    masking = (tflite.integer_friendly_attention_masks() if quantization == "int8"
               else contextlib.nullcontext())
    with tempfile.TemporaryDirectory() as tmp:
        with masking:
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint("serving_default", tflite.serving_function(model, None),
                                 input_signature=[tf.TensorSpec([1, None], tf.int32, name=n)
                                                  for n in tflite.INPUT_NAMES])
            archive.write_out(tmp, verbose=False)
        path.write_bytes(tflite.convert(tmp, quantization, representative))


def outputs(path: Path, rows) -> np.ndarray:
    from kbert.export.litert_runtime import LiteRtModel

    runner = LiteRtModel(str(path))
    return np.concatenate([runner(**row)["probability"] for row in rows])


def run(flags) -> Section:
    import kbert
    from kbert import export
    from kbert.export import tflite

    texts = list(kbert.data.read_table(flags.train_file, "sentence", max_rows=64).texts)
    repeats = 1 if flags.quick else flags.repeats
    precisions = (None, "dynamic") if flags.quick else PRECISIONS
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # The model an export script meets: a fine-tuned model saved, then loaded back.
        keras.utils.set_random_seed(0)
        kbert.TextClassifier.from_preset(flags.preset, num_classes=2,
                                         sequence_length=flags.sequence_length).save(
            str(tmp / "model.keras"))
        model = kbert.load_model(str(tmp / "model.keras"))
        model.predict(texts[:8], verbose=0)  # As after an evaluation: its functions built.
        rows = export.full_rows(model, texts)
        representative = tflite.calibration_rows(model, texts, None, 200)
        table, ratios = [], []
        for precision in precisions:
            seconds = {"kbert": [], "saved_model": []}
            for _ in range(repeats):
                for route in ("saved_model", "kbert"):
                    path = tmp / f"{route}-{precision}.tflite"
                    start = time.perf_counter()
                    if route == "kbert":
                        export.to_tflite(model, path, quantization=precision,
                                         representative_data=texts, metadata=False)
                    else:
                        saved_model_route(model, path, precision, representative)
                    seconds[route].append(time.perf_counter() - start)
            ours, theirs = (statistics.median(seconds[r]) for r in ("kbert", "saved_model"))
            difference = np.abs(outputs(tmp / f"kbert-{precision}.tflite", rows) -
                                outputs(tmp / f"saved_model-{precision}.tflite", rows)).max()
            sizes = {r: (tmp / f"{r}-{precision}.tflite").stat().st_size
                     for r in ("kbert", "saved_model")}
            ratios.append(ours / theirs)
            table.append([precision or "float32", f"{theirs:.1f}", f"{ours:.1f}",
                          f"{ours / theirs:.2f}", f"{sizes['saved_model']:,} / {sizes['kbert']:,}",
                          f"{difference:.1e}"])
    header = ["precision", "SavedModel route s", "kbert s", "kbert / SavedModel",
              "bytes (SavedModel / kbert)", "max output difference"]
    summary = (f"kbert's export takes **{min(ratios):.2f}x to {max(ratios):.2f}x** the time of "
               f"the SavedModel route, with the same outputs (median of {repeats} runs each, "
               "the routes alternating).")
    setup = (f"{flags.preset} classifier saved and loaded back, a dynamic-length file at "
             f"sequence_length {flags.sequence_length}, no metadata (the same for both), int8 "
             f"calibrated on {len(representative)} SST-2 training sentences; outputs compared "
             f"on those {len(rows)} sentences through LiteRT")
    return Section("TFLite export time: traced function vs SavedModel route (CPU)", setup,
                   markdown_table(header, table), summary)
