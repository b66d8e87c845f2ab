"""The export report a person reads at a glance: JSON, a Markdown table and a PNG chart of size,
accuracy and latency per variant."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

from kbert.files import atomic_path, write_json

_QUALITY_KEYS = ("accuracy", "micro_f1", "spearman")


def _quality(row: dict) -> tuple[str, float | None, float | None]:
    metrics, keras_metrics = row.get("metrics", {}), row.get("keras_metrics", {})
    # Taggers (entity F1 beside word accuracy) and question answerers are judged by F1.
    f1_first = {"precision", "exact", "exact_match"} & set(metrics)
    for key in (("f1",) if f1_first else ()) + _QUALITY_KEYS:
        if key in metrics:
            return key, metrics[key], keras_metrics.get(key)
    return "quality", None, None


def write_report(rows: list[dict], stem: str | Path, command: str = "",
                 saved_model: dict | None = None) -> None:
    """Writes <stem>.json, <stem>.md and <stem>.png from `export.verify` rows (each with a
    "variant" key; a student's also with "teacher_agreement", its file's agreement with the
    teacher's Keras model) and, if given, the SavedModel check (`export.verify_saved_model`).
    Sizes are also given as a share of the first float32 variant's (the teacher's)."""
    stem = Path(stem)
    meta = {"command": command, "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {platform.system()}, LiteRT on CPU"}
    write_json(stem.with_suffix(".json"), {**meta, "saved_model": saved_model, "variants": rows})
    key, _, keras_value = _quality(rows[0]) if rows else ("quality", None, None)
    # The float32 file of the first model (the teacher, when students are exported beside it):
    # what every size is a share of.
    float32 = next((row["bytes"] for row in rows if row["variant"].endswith("float32")), None)
    teacher = any("teacher_agreement" in row for row in rows)
    mediapipe = any("mediapipe_latency_ms" in row for row in rows)
    header = ["variant", "size MB"] + ["% of float32"] * bool(float32) + [
        key, "agreement with Keras"] + ["agreement with the teacher"] * teacher + [
        "max abs diff", "LiteRT mean / p95 ms (1 thread)", "(2 threads)"] + [
        "MediaPipe mean / p95 ms (1 core)"] * mediapipe
    lines = ["# Export report\n", f"- command: `{command}`", f"- date: {meta['date']}",
             f"- machine: {meta['machine']}",
             f"- Keras {key}: {keras_value:.4f}" if keras_value is not None else "", "",
             "| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]

    def timing(latency: dict | None) -> str:
        return f"{latency['mean']:.1f} / {latency['p95']:.1f}" if latency else ""

    for row in rows:
        _, value, _ = _quality(row)
        latency = row["latency_ms"]
        cells = [row["variant"], f"{row['bytes'] / 1e6:.1f}"]
        cells += [f"{100 * row['bytes'] / float32:.1f}"] * bool(float32)
        cells += ["" if value is None else f"{value:.4f}",
                  f"{row['agreement']:.4f}" if "agreement" in row else ""]
        cells += ([f"{row['teacher_agreement']:.4f}" if "teacher_agreement" in row else ""]
                  * teacher)
        cells += [f"{row['max_abs_difference']:.4f}"]
        cells += [timing(latency.get(t)) for t in ("1", "2")]
        cells += [timing(row.get("mediapipe_latency_ms"))] * mediapipe
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += _bucket_table(rows)
    for row in rows:
        if "mediapipe_agreement" in row:
            lines.append(f"- MediaPipe TextClassifier ({row['variant']}, its own tokenizer): "
                         f"top label agrees with Keras on {row['mediapipe_agreement']:.4f} of "
                         f"the texts; max abs probability difference "
                         f"{row['mediapipe_max_abs_difference']:.4f}.")
        if "mediapipe_min_cosine" in row:
            lines.append(f"- MediaPipe TextEmbedder ({row['variant']}, its own tokenizer): "
                         f"cosine similarity to Keras min {row['mediapipe_min_cosine']:.4f}, "
                         f"mean {row['mediapipe_mean_cosine']:.4f}.")
    if saved_model:
        lines.append(f"- SavedModel raw-string signature vs Keras on {saved_model['examples']} "
                     f"inputs: max abs difference {saved_model['max_abs_difference']:.2e}"
                     + (f", label agreement {saved_model['label_agreement']:.4f}"
                        if "label_agreement" in saved_model else "")
                     + (f"; token-id signature on kbert's rows: max abs difference "
                        f"{saved_model['token_ids_max_abs_difference']:.2e}"
                        if "token_ids_max_abs_difference" in saved_model else "") + ".")
    with atomic_path(stem.with_suffix(".md")) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    _chart(rows, key, stem.with_suffix(".png"))


def _buckets(rows: list[dict]) -> list[str]:
    """The length buckets any row was timed in, in order (16, 32, 64, 128, >128)."""
    seen = {b for row in rows for b in row.get("latency_by_length_ms", {}).get("1", {})}
    return sorted(seen, key=lambda b: (b.startswith(">"), int(b.lstrip(">"))))


def _bucket_table(rows: list[dict]) -> list[str]:
    """Mean latency per length bucket of the rows' real tokens, 1 thread: dynamic-length files
    beside their static twins."""
    buckets = _buckets(rows)
    if not buckets:
        return []
    lines = ["Mean latency per row by real length in tokens, ms (LiteRT 1 thread, MediaPipe on "
             "one core; rows in brackets):", "",
             "| variant | input length | " + " | ".join(f"<= {b}" if b[0] != ">" else b
                                                       for b in buckets) + " |",
             "| --- | --- | " + " | ".join("---" for _ in buckets) + " |"]
    for row in rows:
        length = "dynamic" if row.get("dynamic_length") else "static"
        for runtime, timed in (("", row.get("latency_by_length_ms", {}).get("1", {})),
                               (" (MediaPipe, 1 core)", row.get("mediapipe_latency_by_length_ms"))):
            if timed:
                cells = [f"{timed[b]['mean']:.2f} ({timed[b]['rows']})" if b in timed else ""
                         for b in buckets]
                lines.append(f"| {row['variant']}{runtime} | {length} | "
                             + " | ".join(cells) + " |")
    return lines + [""]


def _chart(rows: list[dict], key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["variant"] for row in rows]
    panels = [("size (MB)", [row["bytes"] / 1e6 for row in rows]),
              (key, [_quality(row)[1] or 0.0 for row in rows]),
              ("p95 latency, 1 thread (ms)", [row["latency_ms"].get("1", {}).get("p95", 0.0)
                                              for row in rows])]
    buckets = _buckets(rows)
    figure, axes = plt.subplots(1, 4 if buckets else 3, figsize=(16 if buckets else 12, 3.5))
    if buckets:  # Mean latency by length: each dynamic file beside its static twin.
        axis = axes[3]
        for row in rows:
            timed = row.get("latency_by_length_ms", {}).get("1", {})
            axis.plot(buckets, [timed.get(b, {}).get("mean", float("nan")) for b in buckets],
                      marker="o", label=row["variant"])
        axis.set_title("mean latency by real length, 1 thread (ms)")
        axis.set_xlabel("tokens <=")
        axis.legend(fontsize=7)
    for axis, (title, values) in zip(axes, panels):
        bars = axis.bar(names, values, color="#4c72b0")
        axis.set_title(title)
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        if title == key and any(values):
            low = min(v for v in values if v) * 0.98
            axis.set_ylim(low, max(values) * 1.005)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
