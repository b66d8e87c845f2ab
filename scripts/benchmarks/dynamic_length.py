"""Dynamic-length against static TFLite files of one classifier, through MediaPipe's
TextClassifier (what an Android app runs): mean latency per SST-2 dev sentence, and the share of
sentences whose top label equals Keras's. Both files are the default dynamic-range int8 export;
the static one has [1, fixed_length] inputs, the dynamic one [1, -1] (MediaPipe feeds each text
at its own token length).

  python scripts/benchmark.py --what=dynamic --model=runs/sst2/model.keras
  python scripts/benchmark.py --what=dynamic --examples=2000      # trains a classifier first
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import Section, markdown_table


def cpu_flags() -> str:
    """The int8-relevant CPU flags of this machine (int8 latency depends on them)."""
    try:
        flags = set(open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split())
    except (OSError, IndexError):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)


def mediapipe_timed(path: Path, texts: list[str], warmup: int) -> tuple[np.ndarray, list[float]]:
    """Per-text scores (label order of the file) and milliseconds per classify call."""
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.text import TextClassifier, TextClassifierOptions

    options = TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                    max_results=-1)
    scores, times = [], []
    with TextClassifier.create_from_options(options) as classifier:
        for text in texts[:warmup]:
            classifier.classify(text)
        for text in texts:
            start = time.perf_counter()
            (head,) = classifier.classify(text).classifications
            times.append((time.perf_counter() - start) * 1000)
            scores.append({c.category_name: c.score for c in head.categories})
    return scores, times


def run(flags) -> Section:
    import kbert
    from kbert import export

    dev = kbert.data.read_table(os.path.join(os.path.dirname(flags.train_file), "dev.tsv"),
                                "sentence", "label")
    if flags.quick:
        dev = dev.take(50)
    length = flags.fixed_length
    if flags.model:
        model, trained = kbert.load_model(flags.model), flags.model
    else:
        count = 256 if flags.quick else flags.examples
        model = kbert.TextClassifier.from_preset(flags.preset, num_classes=2,
                                                 sequence_length=length)
        model.fit(kbert.data.read_table(flags.train_file, "sentence", "label", max_rows=count),
                  epochs=1, batch_size=flags.batch_size, seed=0)
        trained = f"trained here on the first {count} SST-2 sentences, 1 epoch"
    keras_top = model.predict(dev.texts).argmax(-1)
    directory = Path(flags.export_dir or tempfile.mkdtemp(prefix="kbert_dynamic_"))
    files = {"dynamic [1, -1]": directory / "dynamic.tflite",
             f"static [1, {length}]": directory / f"static{length}.tflite"}
    rows, means = [], {}
    for name, path in files.items():
        export.to_tflite(model, path, quantization="dynamic",
                         sequence_length=None if name.startswith("dynamic") else length)
        scores, times = mediapipe_timed(path, list(dev.texts), warmup=20)
        top = np.array([[row.get(label, 0.0) for label in model.labels]
                        for row in scores]).argmax(-1)
        means[name] = float(np.mean(times))
        rows.append([name, f"{path.stat().st_size / 1e6:.1f}", f"{means[name]:.2f}",
                     f"{np.percentile(times, 95):.2f}",
                     f"{100 * np.mean(top == keras_top):.2f}",
                     f"{100 * np.mean(top == np.array(dev.labels, int)):.2f}"])
    dynamic, static = means["dynamic [1, -1]"], means[f"static [1, {length}]"]
    table = markdown_table(["file (dynamic-range int8)", "MB", "mean ms / sentence", "p95 ms",
                            "top label = Keras %", "accuracy %"], rows)
    summary = (f"Dynamic / static-{length} mean latency: **{dynamic / static:.2f}x** "
               f"({static / dynamic:.1f}x faster; goal <= 0.35x), MediaPipe's own tokenization "
               "included.")
    setup = (f"One SST-2 classifier ({trained}), {len(dev)} SST-2 dev sentences one at a time "
             f"through MediaPipe 1.2.2's TextClassifier (after 20 warm-up calls), both files "
             f"exported in one run; CPU flags: {cpu_flags()}")
    return Section("Dynamic-length vs static TFLite in MediaPipe (CPU)", setup, table, summary)
