"""Ways to use a pretrained encoder for SST-2, compared on the same training sentences and the
full dev set (the seeds' feature-extraction vs fine-tuning comparison):

1. logistic regression (scikit-learn) on frozen mean-pooled features of the last layer;
2. logistic regression on frozen last-4-layers-concatenated mean-pooled features;
3. frozen encoder + a trained classification head (kbert's "frozen" fine-tuning mode);
4. full fine-tuning;
5. full fine-tuning with layer-wise learning-rate decay.

  python examples/finetuning_modes.py --train_examples=8000 --out=runs/finetuning_modes.json

The features for 1 and 2 come from one pass of kbert.TextEmbedder(layers="all"), so both read
exactly the same hidden states.
"""

from __future__ import annotations

import json
import time

import numpy as np
from absl import app, flags
from sklearn.linear_model import LogisticRegression

import kbert

FLAGS = flags.FLAGS
flags.DEFINE_string("train_file", "../shared/data/glue/SST-2/train.tsv", "SST-2 train TSV.")
flags.DEFINE_string("eval_file", "../shared/data/glue/SST-2/dev.tsv", "SST-2 dev TSV.")
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
flags.DEFINE_integer("train_examples", 8000, "First N training sentences (all modes).")
flags.DEFINE_integer("sequence_length", 64, "Maximum tokens per sentence.")
flags.DEFINE_integer("batch_size", 32, "Batch size for the trained modes.")
flags.DEFINE_integer("epochs", 2, "Epochs for the fine-tuned modes.")
flags.DEFINE_integer("head_epochs", 5, "Epochs for the frozen encoder + head mode.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate, full fine-tuning.")
flags.DEFINE_float("head_learning_rate", 1e-3, "Peak learning rate, frozen encoder + head.")
flags.DEFINE_float("decay_learning_rate", 1e-4, "Peak learning rate (top layer) with decay.")
flags.DEFINE_float("layer_decay", 0.8, "Layer-wise learning-rate decay factor.")
flags.DEFINE_list("modes", ["lr_mean", "lr_last4", "frozen_head", "full", "full_decay"],
                  "Which modes to run.")
flags.DEFINE_string("out", None, "JSON lines file the rows are appended to.")


def feature_rows(train, dev):
    """Logistic regression on frozen features: the last layer's, and the last four's concat."""
    embedder = kbert.TextEmbedder.from_preset(FLAGS.preset, pooling="mean", layers="all",
                                              sequence_length=FLAGS.sequence_length)
    start = time.perf_counter()
    train_states, dev_states = embedder.embed(train.texts), embedder.embed(dev.texts)
    seconds = time.perf_counter() - start
    y_train, y_dev = np.array(train.labels), np.array(dev.labels)
    views = {"lr_mean": lambda s: s[:, -1], "lr_last4": lambda s: s[:, -4:].reshape(len(s), -1)}
    for mode in ("lr_mean", "lr_last4"):
        if mode not in FLAGS.modes:
            continue
        classifier = LogisticRegression(max_iter=2000, C=1.0)
        classifier.fit(views[mode](train_states), y_train)
        accuracy = float((classifier.predict(views[mode](dev_states)) == y_dev).mean())
        yield {"mode": mode, "accuracy": accuracy, "seconds": round(seconds, 1),
               "dim": int(views[mode](dev_states).shape[1])}


def trained_row(mode, train, dev):
    clf = kbert.TextClassifier.from_preset(FLAGS.preset, labels=sorted(set(train.labels)),
                                           pooling="mean", sequence_length=FLAGS.sequence_length)
    if mode == "frozen_head":
        clf.set_finetuning("frozen")
        clf.compile(learning_rate=FLAGS.head_learning_rate)
        epochs = FLAGS.head_epochs
    elif mode == "full_decay":
        clf.compile(learning_rate=FLAGS.decay_learning_rate, layer_decay=FLAGS.layer_decay)
        epochs = FLAGS.epochs
    else:
        clf.compile(learning_rate=FLAGS.learning_rate)
        epochs = FLAGS.epochs
    start = time.perf_counter()
    clf.fit(train.texts, train.labels, epochs=epochs, batch_size=FLAGS.batch_size, seed=0,
            verbose=2)
    seconds = time.perf_counter() - start
    report = clf.evaluate_metrics(dev.texts, dev.labels)
    return {"mode": mode, "accuracy": report["accuracy"], "seconds": round(seconds, 1),
            "epochs": epochs}


def main(argv):
    del argv
    train = kbert.data.read_table(FLAGS.train_file, "sentence", "label",
                                  max_rows=FLAGS.train_examples)
    dev = kbert.data.read_table(FLAGS.eval_file, "sentence", "label")
    rows = list(feature_rows(train, dev))
    rows += [trained_row(m, train, dev) for m in ("frozen_head", "full", "full_decay")
             if m in FLAGS.modes]
    for row in rows:
        row.update(train_examples=len(train.texts), dev_examples=len(dev.texts))
        print(json.dumps(row), flush=True)
        if FLAGS.out:
            with open(FLAGS.out, "a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    app.run(main)
