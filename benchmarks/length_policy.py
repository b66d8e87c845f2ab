"""One semantics per model on the real MiniLM (DESIGN decision 7, issue 33 items 1-2): a classifier
trained at 64 tokens and exported with the defaults (dynamic-range int8, dynamic length) gives
MediaPipe's top label == `predict`'s on SST-2 dev and on IMDB reviews longer than 64 tokens
(whole texts in: the file's graph reads the first 64 tokens itself); a pair model (MRPC) through
LiteRT, fed whole rows, gives `predict`'s label on pairs whose second text lies past the window.

  python -m benchmarks.length_policy --output_dir=/tmp/length_policy \
      --train_examples=2000 --pair_train_examples=400 > /tmp/length_policy.log 2>&1

(From the repository root, as a module: see the package's docstring.)

Writes <output_dir>/length_policy.json (the figures) and prints a Markdown summary.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "/tmp/length_policy", "Where the models and figures go.")
flags.DEFINE_string("data_dir", str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                    "../shared/data.")
flags.DEFINE_string("preset", "minilm_l6_uncased", "The encoder.")
flags.DEFINE_integer("sequence_length", 64, "The models' sequence length.")
flags.DEFINE_integer("train_examples", 2000, "SST-2 training sentences.")
flags.DEFINE_integer("pair_train_examples", 400, "MRPC training pairs.")
flags.DEFINE_integer("long_reviews", 200, "IMDB reviews longer than sequence_length tokens.")
flags.DEFINE_integer("long_pairs", 200, "MRPC dev pairs made longer than the window.")
flags.DEFINE_integer("epochs", 1, "Training epochs.")
flags.DEFINE_list("parts", ["single", "pair"], "Which checks: single (SST-2 + IMDB through "
                  "MediaPipe), pair (MRPC through LiteRT).")


def read_tsv(path: Path, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    with open(path, encoding="utf-8-sig") as handle:  # GLUE's MRPC files open with a BOM.
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [tuple(row[c] for c in columns) for row in reader]


def token_count(model, texts: list[str]) -> list[int]:
    return [len(p) for p in model.preprocessor.word_pieces(texts).to_list()]


def main(argv):
    del argv
    out = Path(FLAGS.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(FLAGS.data_dir)
    length = FLAGS.sequence_length
    results: dict = {"preset": FLAGS.preset, "sequence_length": length,
                     "date": time.strftime("%Y-%m-%d")}
    started = time.time()

    if "single" in FLAGS.parts:
        results.update(single_texts(out, data, length))
    if "pair" in FLAGS.parts:
        results.update(pairs_past_the_window(out, data, length))
    results["seconds"] = round(time.time() - started)
    name = "length_policy.json" if len(FLAGS.parts) == 2 else f"length_policy_{FLAGS.parts[0]}.json"
    (out / name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2), flush=True)
    print("| check | texts | top-label agreement | max abs diff |")
    print("|---|---|---|---|")
    for key in ("sst2_dev_mediapipe", "imdb_long_mediapipe", "mrpc_long_pairs_litert"):
        if key in results:
            r = results[key]
            print(f"| {key} | {r.get('texts', r.get('pairs'))} | "
                  f"{r['top_label_agreement']:.4f} | {r['max_abs_probability_difference']:.4f} |")


def single_texts(out: Path, data: Path, length: int) -> dict:
    """SST-2 classifier through MediaPipe: dev sentences and long IMDB reviews."""
    import numpy as np

    import kbert
    from kbert import export

    results, started = {}, time.time()
    train = read_tsv(data / "glue/SST-2/train.tsv", ("sentence", "label"))[:FLAGS.train_examples]
    dev = read_tsv(data / "glue/SST-2/dev.tsv", ("sentence", "label"))
    clf = kbert.TextClassifier.from_preset(FLAGS.preset, num_classes=2, sequence_length=length)
    clf.fit([t for t, _ in train], [int(y) for _, y in train], epochs=FLAGS.epochs,
            batch_size=32, verbose=2)
    path = out / "sst2_dynamic.tflite"
    export.to_tflite(clf, path, quantization="dynamic")
    print(f"exported {path} after {time.time() - started:.0f} s", flush=True)

    reviews = []
    with open(data / "imdb/train.jsonl", encoding="utf-8") as handle:
        for line in handle:
            reviews.append(json.loads(line)["text"])
            if len(reviews) >= 4 * FLAGS.long_reviews:
                break
    counts = token_count(clf, reviews)
    long_reviews = [r for r, n in zip(reviews, counts) if n > length][:FLAGS.long_reviews]
    long_counts = [n for n, r in zip(counts, reviews) if n > length][:FLAGS.long_reviews]

    def mediapipe_vs_predict(texts: list[str]) -> dict:
        keras = clf.predict(texts, verbose=0)
        scores = export.mediapipe_classify(path, texts)
        labels = [str(i) for i in range(keras.shape[1])]
        device = np.array([[s.get(n, 0.0) for n in labels] for s in scores])
        return {"texts": len(texts),
                "top_label_agreement": float(np.mean(device.argmax(-1) == keras.argmax(-1))),
                "max_abs_probability_difference": float(np.abs(device - keras).max()),
                "mean_abs_probability_difference": float(np.abs(device - keras).mean())}

    results["sst2_dev_mediapipe"] = mediapipe_vs_predict([t for t, _ in dev])
    results["imdb_long_mediapipe"] = {
        **mediapipe_vs_predict(long_reviews),
        "tokens_min": int(min(long_counts)), "tokens_median": int(np.median(long_counts)),
        "tokens_max": int(max(long_counts)),
        "over_512_tokens": int(sum(n > 510 for n in long_counts))}
    report = export.verify(path, ([t for t, _ in dev], [int(y) for _, y in dev]), reference=clf,
                           threads=(1,), latency_examples=20)
    results["sst2_dev_litert_verify"] = {k: report[k] for k in (
        "agreement", "max_abs_difference", "mean_abs_difference")}
    results["sst2_dev_litert_verify"]["accuracy"] = report["metrics"]["accuracy"]
    results["sst2_dev_litert_verify"]["keras_accuracy"] = report["keras_metrics"]["accuracy"]
    print(json.dumps(results, indent=2), flush=True)
    return results


def pairs_past_the_window(out: Path, data: Path, length: int) -> dict:
    """MRPC pair model through LiteRT (whole rows in) on pairs longer than the window."""
    import kbert
    from kbert import export

    results = {}
    columns = ("#1 String", "#2 String", "Quality")
    mrpc_train = read_tsv(data / "glue/MRPC/train.tsv", columns)[:FLAGS.pair_train_examples]
    mrpc_dev = read_tsv(data / "glue/MRPC/dev.tsv", columns)
    pair = kbert.TextClassifier.from_preset(FLAGS.preset, num_classes=2, sequence_length=length)
    pair.fit([(a, b) for a, b, _ in mrpc_train], [int(y) for *_, y in mrpc_train],
             epochs=FLAGS.epochs, batch_size=16, verbose=2)
    pair_path = out / "mrpc_dynamic.tflite"
    export.to_tflite(pair, pair_path, quantization="dynamic")
    # Pairs whose second text lies past the window: the second text lengthened with the next
    # dev sentences (kbert trims longest-first, keeping both texts), and the first text
    # lengthened so that the whole second text starts past the window.
    sentences = [a for a, _, _ in mrpc_dev]
    half = FLAGS.long_pairs // 2
    long_second = [(a, " ".join([b] + sentences[i + 1:i + 4]))
                   for i, (a, b, _) in enumerate(mrpc_dev[:half])]
    long_first = [(" ".join([a] + sentences[i + 1:i + 4]), b)
                  for i, (a, b, _) in enumerate(mrpc_dev[half:2 * half])]
    pairs = long_second + long_first
    firsts = token_count(pair, [a for a, _ in pairs])
    totals = [n + m + 3 for n, m in zip(firsts, token_count(pair, [b for _, b in pairs]))]
    report = export.verify(pair_path, pairs, reference=pair, threads=(1,), latency_examples=20)
    results["mrpc_long_pairs_litert"] = {
        "pairs": len(pairs), "top_label_agreement": report["agreement"],
        "max_abs_probability_difference": report["max_abs_difference"],
        "mean_abs_probability_difference": report["mean_abs_difference"],
        "pairs_longer_than_window": int(sum(t > length for t in totals)),
        "pairs_whose_second_text_starts_past_the_window": int(sum(f + 2 >= length
                                                                  for f in firsts))}
    return results


if __name__ == "__main__":
    app.run(main)
