"""Memory while streaming a large file: a 1,000,000-row TSV (real SST-2 training rows repeated)
goes through kbert's streaming input path (kbert.data.stream_table -> the fit pipeline: batched
tokenization, length buckets, padding, prefetch).

Two measurements, each in a fresh process (`python -m benchmarks.memory pipeline|fit
'<json>'`), so every peak is its own:
- pipeline: every row of the file through the input pipeline, resident memory (RSS) read after
  10k, 100k and all 1M rows;
- fit: TextClassifier.fit for a fixed number of steps from a 10,000-row file and from the
  1,000,000-row file: peak RSS of each (a reader that loaded the file would show it here).
"""

from __future__ import annotations

import json
import sys
import time


def _rss_mb() -> float:
    import psutil  # bench extras; imported here so that the other benchmarks run without it
    return psutil.Process().memory_info().rss / 1e6


def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kilobytes on Linux


def pipeline(args: dict) -> dict:
    import kbert
    from kbert.preprocessing import pipeline as batches

    model = kbert.TextClassifier.from_preset(args["preset"], num_classes=2,
                                             sequence_length=args["sequence_length"])
    data = kbert.data.stream_table(args["file"], "sentence", "label", labels=["0", "1"])
    stream = batches.streaming_batches(model.preprocessor, data, args["batch_size"])
    readings, rows, start = {}, 0, time.perf_counter()
    marks = [m for m in (10_000, 100_000) if m < args["rows"]]
    for features, _ in stream:
        rows += int(features["token_ids"].shape[0])
        while marks and rows >= marks[0]:
            readings[marks.pop(0)] = _rss_mb()
    readings[rows] = _rss_mb()
    return {"rss_mb": readings, "rows": rows, "seconds": time.perf_counter() - start,
            "peak_rss_mb": _peak_rss_mb()}


def fit(args: dict) -> dict:
    import keras

    import kbert

    keras.utils.set_random_seed(0)
    model = kbert.TextClassifier.from_preset(args["preset"], num_classes=2,
                                             sequence_length=args["sequence_length"])
    model.compile()
    data = kbert.data.stream_table(args["file"], "sentence", "label", labels=model.labels)
    before = _rss_mb()
    start = time.perf_counter()
    model.fit(data, epochs=1, batch_size=args["batch_size"], steps_per_epoch=args["steps"],
              verbose=0)
    return {"rss_before_fit_mb": before, "rss_after_fit_mb": _rss_mb(),
            "peak_rss_mb": _peak_rss_mb(), "seconds": time.perf_counter() - start}


def write_rows(source: str, path, count: int) -> None:
    """`count` data rows made by repeating the source TSV's rows (header kept)."""
    with open(source, encoding="utf-8") as handle:
        header, *rows = handle.read().splitlines()
    with open(path, "w", encoding="utf-8") as out:
        out.write(header + "\n")
        for i in range(count):
            out.write(rows[i % len(rows)] + "\n")


def run(flags):
    import os
    import tempfile

    from benchmarks import Section, error_line, in_subprocess, markdown_table

    small, large = (1_000, 20_000) if flags.quick else (10_000, flags.memory_rows)
    steps = 20 if flags.quick else flags.memory_steps
    common = {"preset": flags.preset, "sequence_length": flags.sequence_length,
              "batch_size": flags.batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for count in (small, large):
            files[count] = os.path.join(tmp, f"sst2_x{count}.tsv")
            write_rows(flags.train_file, files[count], count)
        streamed = in_subprocess(__spec__.name, "pipeline", json.dumps(
            {**common, "file": files[large], "rows": large}))
        print(json.dumps(streamed), flush=True)
        fits = {count: in_subprocess(__spec__.name, "fit", json.dumps(
            {**common, "file": files[count], "steps": steps})) for count in (small, large)}
        print(json.dumps(fits), flush=True)
        size_mb = {count: os.path.getsize(path) / 1e6 for count, path in files.items()}
    rows = []
    if "error" in streamed:
        rows.append(["input pipeline, whole file", f"{large:,}",
                     "failed: " + error_line(streamed), "", ""])
    else:
        readings = ", ".join(f"{int(k):,} rows: {v:.0f} MB" for k, v in
                             streamed["rss_mb"].items())
        rows.append(["input pipeline, every row", f"{large:,} ({size_mb[large]:.1f} MB)",
                     readings, f"{streamed['peak_rss_mb']:.0f}",
                     f"{streamed['rows'] / streamed['seconds']:,.0f} rows/s"])
    for count, r in fits.items():
        if "error" in r:
            rows.append([f"fit, {steps} steps", f"{count:,}", "failed: " + error_line(r), "", ""])
            continue
        rows.append([f"fit, {steps} steps of {flags.batch_size}",
                     f"{count:,} ({size_mb[count]:.1f} MB)",
                     f"before fit {r['rss_before_fit_mb']:.0f} MB, after {r['rss_after_fit_mb']:.0f} MB",
                     f"{r['peak_rss_mb']:.0f}", f"{r['seconds']:.0f} s"])
    table = markdown_table(["what", "file rows", "RSS", "peak RSS MB", "speed"], rows)
    summary = "n/a (a run failed)"
    if "error" not in streamed and all("error" not in r for r in fits.values()):
        readings = list(streamed["rss_mb"].values())
        summary = (f"Input pipeline: RSS after all {large:,} rows / after the first "
                   f"{min(int(k) for k in streamed['rss_mb']):,}: **{readings[-1] / readings[0]:.2f}x**; "
                   f"fit peak RSS, {large:,}-row file / {small:,}-row file: "
                   f"**{fits[large]['peak_rss_mb'] / fits[small]['peak_rss_mb']:.2f}x** "
                   "(goal: flat, i.e. about 1.0x).")
    setup = (f"SST-2 training rows repeated into TSV files of {small:,} and {large:,} rows, read "
             f"by kbert.data.stream_table, {flags.preset}, batch {flags.batch_size}, maximum "
             f"length {flags.sequence_length}, length buckets; RSS from psutil, peak from "
             "getrusage, each measurement in a fresh process")
    return Section("Memory: streaming a 1,000,000-row file", setup, table, summary)


if __name__ == "__main__":
    runner = {"pipeline": pipeline, "fit": fit}[sys.argv[1]]
    print(json.dumps(runner(json.loads(sys.argv[2]))))
