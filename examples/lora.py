"""LoRA vs full fine-tuning on real data, the measurements behind RESULTS.md "Issue 20".

  # LoRA's peak learning rate (compile()'s default under LoRA): a sweep on the first 2,000
  # SST-2 sentences, 1 epoch each (and full fine-tuning at 5e-5 for reference)
  python examples/lora.py --what=sweep --train_examples=2000 \
    --sweep_rates=2e-4,5e-4,1e-3,2e-3,5e-3,1e-2 --out=runs/lora/sweep.jsonl
  # SST-2, first 16,000 sentences, full fine-tuning vs LoRA (rank 8, query+value), 1 epoch;
  # then the LoRA model's adapter file, base + adapter round trip, and its default export
  # (float32, dynamic length) through MediaPipe's TextClassifier on the dev set
  python examples/lora.py --what=sst2 --out=runs/lora/sst2.jsonl
  # CoNLL-2003 NER, first 6,000 sentences, entity F1 on valid
  python examples/lora.py --what=conll --epochs=2 --out=runs/lora/conll.jsonl

Both sides of each comparison see the same sentences, seed, batch size, epochs and schedule
shape; each runs at its own `compile()` default peak learning rate (full 5e-5, LoRA
`kbert.tasks.lora.LEARNING_RATE`). Step time is the mean wall time of a training step after
the first 10 (tracing), at batch size 32 on this machine's CPUs.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from absl import app, flags

import kbert
from kbert import export
from kbert.tasks import lora

FLAGS = flags.FLAGS
flags.DEFINE_enum("what", "sst2", ["sweep", "sst2", "conll"], "Which measurement.")
flags.DEFINE_string("data", "../shared/data", "The shared benchmark data.")
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Base encoder.")
flags.DEFINE_integer("train_examples", None, "First N training rows (default: 16,000 SST-2 "
                     "sentences; 6,000 CoNLL sentences).")
flags.DEFINE_integer("epochs", 1, "Epochs, both sides.")
flags.DEFINE_integer("batch_size", 32, "Batch size, both sides.")
flags.DEFINE_integer("sequence_length", 64, "Maximum tokens per row.")
flags.DEFINE_integer("rank", lora.DEFAULT_RANK, "LoRA rank.")
flags.DEFINE_list("targets", list(lora.DEFAULT_TARGETS), "LoRA target projections.")
flags.DEFINE_list("sweep_rates", ["2e-4", "5e-4", "1e-3", "2e-3"], "--what=sweep: peak rates.")
flags.DEFINE_list("modes", ["full", "lora"], "Which sides to run.")
flags.DEFINE_bool("mediapipe", True, "--what=sst2: export the LoRA model and run MediaPipe.")
flags.DEFINE_string("work_dir", "runs/lora", "Where models, adapters and exports go.")
flags.DEFINE_string("out", None, "JSON lines file the rows are appended to.")


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step."""

    def __init__(self):
        super().__init__()
        self.times, self._start = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def mean_after(self, skip: int = 10) -> float:
        times = self.times[skip:] or self.times
        return float(np.mean(times))


def emit(row: dict) -> None:
    row = {"what": FLAGS.what, "date": time.strftime("%Y-%m-%d"), **row}
    print(json.dumps(row), flush=True)
    if FLAGS.out:
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        with open(FLAGS.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")


def train(model, mode, x, y=None, learning_rate=None):
    if mode == "lora":
        model.set_finetuning("lora", rank=FLAGS.rank, targets=FLAGS.targets)
    model.compile(learning_rate=learning_rate)
    timer = StepTimer()
    start = time.perf_counter()
    model.fit(x, y, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, seed=0, verbose=2,
              callbacks=[timer])
    return {"mode": mode, "peak_learning_rate": model.optimizer._learning_rate.peak,
            "trainable_parameters": lora.trainable_parameters(model),
            "total_parameters": int(model.count_params()),
            "steps": len(timer.times), "step_seconds": round(timer.mean_after(), 4),
            "train_seconds": round(time.perf_counter() - start, 1), "epochs": FLAGS.epochs,
            "batch_size": FLAGS.batch_size}


def sst2(limit):
    data = Path(FLAGS.data) / "glue" / "SST-2"
    train_set = kbert.data.read_table(data / "train.tsv", "sentence", "label", max_rows=limit)
    dev = kbert.data.read_table(data / "dev.tsv", "sentence", "label")
    return train_set, dev


def classifier():
    return kbert.TextClassifier.from_preset(FLAGS.preset, labels=["0", "1"], pooling="mean",
                                            sequence_length=FLAGS.sequence_length)


def run_sweep():
    train_set, dev = sst2(FLAGS.train_examples or 2000)
    # Full fine-tuning at its default rate, for reference; LoRA at each rate.
    runs = [("full", None)] * ("full" in FLAGS.modes) + [
        ("lora", float(rate)) for rate in FLAGS.sweep_rates] * ("lora" in FLAGS.modes)
    for mode, rate in runs:
        keras.utils.set_random_seed(0)
        model = classifier()
        row = train(model, mode, train_set.texts, train_set.labels, learning_rate=rate)
        row["dev_accuracy"] = model.evaluate_metrics(dev.texts, dev.labels)["accuracy"]
        emit({**row, "train_examples": len(train_set.texts), "dev_examples": len(dev.texts)})


def run_sst2():
    train_set, dev = sst2(FLAGS.train_examples or 16000)
    work = Path(FLAGS.work_dir)
    for mode in FLAGS.modes:
        keras.utils.set_random_seed(0)
        model = classifier()
        row = train(model, mode, train_set.texts, train_set.labels)
        probabilities = model.predict(dev.texts)
        row["dev_accuracy"] = model.metrics_for(probabilities, dev.texts,
                                                dev.labels)["accuracy"]
        row.update(train_examples=len(train_set.texts), dev_examples=len(dev.texts))
        model.save(work / f"sst2_{mode}.keras")
        row["model_keras_bytes"] = (work / f"sst2_{mode}.keras").stat().st_size
        if mode == "lora":
            row.update(adapter_round_trip(model, dev.texts, probabilities, work))
        if FLAGS.mediapipe:
            row.update(export_row(model, mode, dev, work))
        emit(row)


def adapter_round_trip(model, texts, probabilities, work: Path) -> dict:
    path = model.save_adapter(work / "sst2.lora.h5")
    rebuilt = kbert.TextClassifier.from_preset(FLAGS.preset, adapter=path)
    again = rebuilt.predict(texts)
    return {"adapter_bytes": os.path.getsize(path),
            "round_trip_max_abs_difference": float(np.abs(again - probabilities).max()),
            "round_trip_same_labels": float(np.mean(again.argmax(-1) ==
                                                    probabilities.argmax(-1)))}


def export_row(model, mode, dev, work: Path) -> dict:
    """The default export (float32, dynamic length, metadata), verified with MediaPipe."""
    path = work / f"sst2_{mode}.tflite"
    info = export.to_tflite(model, path)
    report = export.verify(path, (dev.texts, dev.labels), reference=model, threads=(1,),
                           latency_examples=50, mediapipe=True)
    return {"tflite_bytes": info["bytes"], "tflite_ops": info["ops"],
            "tflite_agreement": report["agreement"],
            "mediapipe_agreement": report["mediapipe_agreement"],
            "mediapipe_max_abs_difference": report["mediapipe_max_abs_difference"],
            "tflite_accuracy": report["metrics"]["accuracy"]}


def run_conll():
    data = Path(FLAGS.data) / "conll2003"
    limit = FLAGS.train_examples or 6000
    train_set = kbert.data.read_conll(data / "train.txt").take(limit)
    valid = kbert.data.read_conll(data / "valid.txt")
    labels = sorted({t for tags in train_set.tags for t in tags})
    for mode in FLAGS.modes:
        keras.utils.set_random_seed(0)
        model = kbert.TokenClassifier.from_preset(FLAGS.preset, labels=labels,
                                                  sequence_length=FLAGS.sequence_length)
        row = train(model, mode, train_set)
        report = model.evaluate_metrics(valid)
        row.update(valid_f1=report["f1"], valid_accuracy=report.get("accuracy"),
                   train_sentences=len(train_set.words), valid_sentences=len(valid.words))
        emit(row)


def main(argv):
    del argv
    Path(FLAGS.work_dir).mkdir(parents=True, exist_ok=True)
    {"sweep": run_sweep, "sst2": run_sst2, "conll": run_conll}[FLAGS.what]()


if __name__ == "__main__":
    app.run(main)
