"""Fit, save, load, fit again: the second fit trains on (issue 18's first bug, on real data).

The real MiniLM fine-tunes on the first --train_examples SST-2 sentences, is saved and loaded
with kbert.load_model, then fits on the next --train_examples sentences. The script reports dev
accuracy after each stage, the learning rate the second fit's steps ran at, and how many
weights the second fit changed (before the fix: lr 0.0, none).

  python examples/continue_training.py --train_examples=2000 --out=runs/continue_training.json
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from absl import app, flags

import kbert

FLAGS = flags.FLAGS
flags.DEFINE_string("train_file", "../shared/data/glue/SST-2/train.tsv", "SST-2 train TSV.")
flags.DEFINE_string("eval_file", "../shared/data/glue/SST-2/dev.tsv", "SST-2 dev TSV.")
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
flags.DEFINE_integer("train_examples", 2000, "Sentences per fit (two fits, disjoint).")
flags.DEFINE_integer("sequence_length", 64, "Maximum tokens per sentence.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate.")
flags.DEFINE_integer("seed", 0, "Seed of both fits.")
flags.DEFINE_string("out", "runs/continue_training.json", "Where the JSON report goes.")


class RecordRates(keras.callbacks.Callback):
    """The learning rate each training step runs at."""

    def __init__(self):
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


def main(argv):
    del argv
    keras.utils.set_random_seed(FLAGS.seed)
    train = kbert.data.read_table(FLAGS.train_file, "sentence", "label")
    dev = kbert.data.read_table(FLAGS.eval_file, "sentence", "label")
    n = FLAGS.train_examples
    first = train.take(n)
    second = kbert.data.TextExamples(train.texts[n:2 * n], labels=train.labels[n:2 * n],
                                     source=train.source, rows=train.rows[n:2 * n],
                                     text_field="sentence")
    clf = kbert.TextClassifier.from_preset(FLAGS.preset, num_classes=2,
                                           sequence_length=FLAGS.sequence_length)
    clf.compile(learning_rate=FLAGS.learning_rate)
    report = {"command": "python examples/continue_training.py " + " ".join(
        f"--{k}={getattr(FLAGS, k)}" for k in ("train_examples", "sequence_length",
                                               "learning_rate", "seed")),
        "date": time.strftime("%Y-%m-%d")}
    start = time.time()
    clf.fit(first, epochs=1, batch_size=32, seed=FLAGS.seed)
    report["first_fit"] = {"dev_accuracy": clf.evaluate_metrics(dev)["accuracy"],
                           "steps": int(clf.optimizer.iterations.numpy()),
                           "seconds": round(time.time() - start, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        clf.save(Path(tmp) / "model.keras")
        loaded = kbert.load_model(str(Path(tmp) / "model.keras"))
    same = float(np.abs(loaded.predict(dev.texts[:64]) - clf.predict(dev.texts[:64])).max())
    before = [w.numpy().copy() for w in loaded.trainable_weights]
    rates = RecordRates()
    start = time.time()
    loaded.fit(second, epochs=1, batch_size=32, seed=FLAGS.seed, callbacks=[rates])
    changed = sum(not np.array_equal(a, w.numpy()) for a, w in zip(before, loaded.trainable_weights))
    report["loaded_model"] = {"max_abs_prediction_difference": same}
    report["second_fit"] = {
        "dev_accuracy": loaded.evaluate_metrics(dev)["accuracy"],
        "steps": len(rates.rates), "first_rate": rates.rates[0],
        "peak_rate": max(rates.rates), "last_rate": rates.rates[-1],
        "weights_changed": f"{changed} of {len(before)}",
        "optimizer_steps_after": int(loaded.optimizer.iterations.numpy()),
        "seconds": round(time.time() - start, 1)}
    Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
    Path(FLAGS.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
