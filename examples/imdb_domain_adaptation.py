"""Masked-LM domain adaptation on IMDB reviews, and what it does for IMDB classification.

  python examples/imdb_domain_adaptation.py --out=runs/imdb_adaptation

1. Split ../shared/data/imdb/train.jsonl (sorted by label, so shuffled with a fixed seed) into
   disjoint parts: masked-LM text, masked-LM held-out text, classification train and eval.
2. Continue pretraining the encoder with kbert.MaskedLM (15% masking, 80/10/10) on the domain
   text; held-out masked-LM loss before and after (same masks both times).
3. Fine-tune the same classifier recipe from the original and from the adapted encoder on the
   same sentences, and evaluate both on the same held-out reviews.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
from absl import app, flags

import kbert

FLAGS = flags.FLAGS
flags.DEFINE_string("imdb_file", "../shared/data/imdb/train.jsonl", "IMDB JSONL (text, label).")
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
flags.DEFINE_integer("mlm_texts", 6000, "Reviews for masked-LM training.")
flags.DEFINE_integer("mlm_heldout", 500, "Reviews for the held-out masked-LM loss.")
flags.DEFINE_integer("mlm_epochs", 1, "Masked-LM epochs.")
flags.DEFINE_float("mlm_learning_rate", 5e-5, "Masked-LM peak learning rate.")
flags.DEFINE_integer("train_examples", 2000, "Classification training reviews.")
flags.DEFINE_integer("eval_examples", 1000, "Classification evaluation reviews.")
flags.DEFINE_integer("epochs", 2, "Classification epochs.")
flags.DEFINE_integer("sequence_length", 128, "Maximum tokens per review (both stages).")
flags.DEFINE_string("out", "runs/imdb_adaptation", "Where the adapted encoder and results go.")


def splits():
    with open(FLAGS.imdb_file, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    order = np.random.default_rng(0).permutation(len(rows))
    sizes = [FLAGS.eval_examples, FLAGS.train_examples, FLAGS.mlm_heldout, FLAGS.mlm_texts]
    parts, start = [], 0
    for size in sizes:
        parts.append([rows[i] for i in order[start:start + size]])
        start += size
    return parts


def classify(encoder, train, evaluation):
    keras.utils.set_random_seed(0)
    clf = kbert.TextClassifier.from_preset(encoder, labels=["0", "1"],
                                           sequence_length=FLAGS.sequence_length)
    clf.compile()
    clf.fit([r["text"] for r in train], [str(r["label"]) for r in train], epochs=FLAGS.epochs,
            batch_size=32, seed=0, verbose=2)
    return clf.evaluate_metrics([r["text"] for r in evaluation],
                                [str(r["label"]) for r in evaluation])


def main(argv):
    del argv
    out = Path(FLAGS.out)
    evaluation, train, heldout, domain = splits()
    keras.utils.set_random_seed(0)
    mlm = kbert.MaskedLM.from_preset(FLAGS.preset, sequence_length=FLAGS.sequence_length)
    mlm.compile(learning_rate=FLAGS.mlm_learning_rate)
    domain_texts = mlm.prepare([r["text"] for r in domain], name="domain")
    heldout_texts = mlm.prepare([r["text"] for r in heldout], name="heldout")
    before = mlm.heldout_loss(heldout_texts)
    mlm.fit(domain_texts, epochs=FLAGS.mlm_epochs, batch_size=32, seed=0, verbose=2)
    after = mlm.heldout_loss(heldout_texts)
    mlm.save_encoder(out / "encoder")
    result = {"mlm_heldout_before": before, "mlm_heldout_after": after,
              "classification_original": classify(FLAGS.preset, train, evaluation),
              "classification_adapted": classify(str(out / "encoder"), train, evaluation),
              "sizes": {"mlm_texts": len(domain), "mlm_heldout": len(heldout),
                        "train": len(train), "eval": len(evaluation)},
              "sequence_length": FLAGS.sequence_length}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
