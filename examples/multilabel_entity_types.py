"""Multi-label classification on real data: which entity types (PER, LOC, ORG, MISC) does a
CoNLL-2003 sentence mention? Trains on train.txt, reports micro/macro F1 on valid.txt.

  python examples/multilabel_entity_types.py --conll_dir=../shared/data/conll2003 \
      --model_dir=runs/conll_types
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import keras
from absl import app, flags

import kbert
from kbert.training.run import train_and_evaluate

FLAGS = flags.FLAGS
flags.DEFINE_string("conll_dir", "../shared/data/conll2003", "Folder with train.txt, valid.txt.")
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
flags.DEFINE_string("model_dir", "runs/conll_types", "Output folder.")
flags.DEFINE_integer("epochs", 2, "Epochs.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
flags.DEFINE_integer("max_train_examples", None, "Use only the first N training sentences.")


def sentence_types(path: Path) -> kbert.data.TextExamples:
    """Each sentence as text, labelled with the set of entity types it contains."""
    sentences = kbert.data.read_conll(path)
    return kbert.data.TextExamples(
        [" ".join(words) for words in sentences.words], None,
        [kbert.data.entity_types(tags) for tags in sentences.tags],
        source=sentences.source, rows=sentences.rows, label_field="NER")


def main(argv):
    del argv
    keras.utils.set_random_seed(42)
    train = sentence_types(Path(FLAGS.conll_dir) / "train.txt")
    if FLAGS.max_train_examples:
        train = train.take(FLAGS.max_train_examples)
    valid = sentence_types(Path(FLAGS.conll_dir) / "valid.txt")
    model = kbert.TextClassifier.from_preset(FLAGS.preset, labels=["LOC", "MISC", "ORG", "PER"],
                                             multi_label=True, sequence_length=64)
    model.compile(learning_rate=FLAGS.learning_rate)
    result = train_and_evaluate(model, model.prepare(train), model.prepare(valid),
                                model_dir=FLAGS.model_dir, epochs=FLAGS.epochs,
                                batch_size=FLAGS.batch_size, seed=42,
                                extra_metadata={"command": shlex.join(sys.argv)})
    print({k: round(v, 4) for k, v in result["final"].items()})


if __name__ == "__main__":
    app.run(main)
