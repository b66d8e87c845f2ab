"""Dynamic-length against static TFLite files of one classifier, through MediaPipe's
TextClassifier (what an Android app runs): mean latency per SST-2 dev sentence, and the share of
sentences whose top label equals Keras's. Both files are the default dynamic-range int8 export;
the static one has [1, fixed_length] inputs, the dynamic one [1, -1] (MediaPipe feeds each text
at its own token length).

  python scripts/benchmark.py --what=dynamic --model=runs/sst2/model.keras
  python scripts/benchmark.py --what=dynamic --examples=2000      # trains a classifier first

With --dynamic_task=tagger (CoNLL-2003) or qa (SQuAD v1.1 part-a, first 30 articles train, the
rest evaluate), the two files of a tagger or question answerer run through LiteRT in kbert's
on-device pipelines (`export.verify`: OnDeviceTagger / OnDeviceQuestionAnswerer, each window at
its real length in the dynamic file), reporting latency per window and F1 next to Keras's.
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
    if flags.dynamic_task != "classifier":
        return run_windowed(flags)
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


def run_windowed(flags) -> Section:
    """The tagger or question-answerer comparison (LiteRT through kbert's on-device pipelines)."""
    import kbert
    from kbert import export

    data = Path(flags.train_file).parents[2]  # ../shared/data
    length, count = flags.fixed_length, (200 if flags.quick else flags.examples)
    evaluate = 50 if flags.quick else flags.latency_examples
    if flags.dynamic_task == "tagger":
        train = kbert.data.read_conll(data / "conll2003/train.txt").take(count)
        evaluation = kbert.data.read_conll(data / "conll2003/valid.txt").take(evaluate)
        model = kbert.TokenClassifier.from_preset(flags.preset, sequence_length=length,
                                                  labels=kbert.data.tag_set(train.tags))
        what = f"CoNLL-2003 tagger, first {count} train sentences, {evaluate} valid sentences"
    else:
        train, evaluation = kbert.data.split_by_article(
            kbert.data.read_squad(data / "squad_v1.1/dev-v1.1-part-a.json"), 30)
        train, evaluation = train.select(range(count)), evaluation.select(range(evaluate))
        model = kbert.QuestionAnswerer.from_preset(flags.preset, sequence_length=length,
                                                   doc_stride=length // 2)
        what = (f"SQuAD v1.1 question answerer, {count} questions of the first 30 part-a "
                f"articles, {evaluate} questions of later ones, windows {length}")
    model.compile(learning_rate=flags.learning_rate)
    model.fit(train, epochs=flags.dynamic_epochs, batch_size=flags.batch_size, seed=0)
    directory = Path(flags.export_dir or tempfile.mkdtemp(prefix="kbert_dynamic_"))
    rows, means = [], {}
    for name, sequence_length in (("dynamic [1, -1]", None), (f"static [1, {length}]", length)):
        path = directory / f"{flags.dynamic_task}_{sequence_length or 'dynamic'}.tflite"
        export.to_tflite(model, path, quantization="dynamic", sequence_length=sequence_length)
        report = export.verify(path, evaluation, reference=model, threads=(1,),
                               latency_examples=10_000)
        means[name] = report["latency_ms"]["1"]["mean"]
        rows.append([name, f"{path.stat().st_size / 1e6:.1f}", report["windows"],
                     f"{means[name]:.2f}", f"{report['latency_ms']['1']['p95']:.2f}",
                     f"{report['metrics']['f1']:.2f}", f"{report['keras_metrics']['f1']:.2f}",
                     f"{100 * report['agreement']:.2f}"])
    dynamic, static = means["dynamic [1, -1]"], means[f"static [1, {length}]"]
    scale = 100 if flags.dynamic_task == "tagger" else 1  # seqeval F1 is a fraction.
    for row in rows:
        row[5], row[6] = (f"{float(v) * scale:.2f}" for v in row[5:7])
    table = markdown_table(["file (dynamic-range int8)", "MB", "windows", "mean ms / window",
                            "p95 ms", "F1 (file)", "F1 (Keras, same rows)",
                            "agreement with Keras %"], rows)
    summary = (f"Dynamic / static-{length} mean latency per window: **{dynamic / static:.2f}x** "
               f"({static / dynamic:.1f}x faster).")
    setup = (f"{what}, fine-tuned here ({flags.dynamic_epochs} epochs, lr {flags.learning_rate}); "
             "both files exported in one run and run one window at a time in LiteRT (1 thread) "
             f"through kbert's on-device pipeline; CPU flags: {cpu_flags()}")
    return Section(f"Dynamic-length vs static TFLite, {flags.dynamic_task} (CPU)", setup, table,
                   summary)
