r"""Fine-tunes a word tagger (NER, POS) and writes model, metrics JSON (per entity type) and
TensorBoard logs.

  kbert-train-tagger --train_file=../shared/data/conll2003/train.txt \
      --eval_file=../shared/data/conll2003/valid.txt --model_dir=runs/ner --epochs=3

  kbert-train-tagger ... --tag_column=1 --scheme=none --model_dir=runs/pos  # POS

  kbert-train-tagger --dataset=conll2003 --model_dir=runs/ner          # online

Files are CoNLL (one `word ... tag` line per word, blank lines between sentences, -DOCSTART-
lines ignored). --tag_column picks the tags (-1: the last column, NER in CoNLL-2003; 1: POS).
--scheme says how to read them: IOB2 (entities opened by B-X), IOB1 (converted to IOB2 as read,
then trained and scored as IOB2), none (plain tags, even ones that look like IOB, e.g. chunk
tags read as labels: each word's argmax, accuracy and macro F1, no entity scores), or auto (the
default: from the tags, `kbert.tasks.tag_decoding.tag_scheme`).

The same program runs as `kbert-train-tagger` (installed with kbert),
`python -m kbert.cli.train_tagger`, or `python scripts/train_tagger.py` in a clone.
"""

from __future__ import annotations

import shlex
import sys

import keras
from absl import app, flags, logging

import kbert
from kbert.cli.data_flags import define_training_flags, main_for, run_program, set_up_training
from kbert.training.run import train_and_evaluate

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, "Hugging Face dataset name, e.g. conll2003 (online).")
flags.DEFINE_string("hub_tag_column", "ner_tags", "With --dataset: ner_tags or pos_tags.")
flags.DEFINE_string("train_file", None, "Local CoNLL training file.")
flags.DEFINE_string("eval_file", None, "Local CoNLL evaluation file.")
flags.DEFINE_integer("tag_column", -1, "Column of the tags (-1: last; 1: POS in CoNLL-2003).")
flags.DEFINE_enum("scheme", "auto", ["auto", "IOB1", "IOB2", "none"],
                  "Tag scheme of the data (IOB1 is converted to IOB2; none: plain tags, no "
                  "entity decoding or scores; auto: from the tags).")
flags.DEFINE_list("labels", None, "Tag names; default: the tags of the training data.")
flags.DEFINE_bool("label_all_subtokens", False, "Train every sub-token of a word, not only "
                  "its first.")
flags.DEFINE_integer("window_stride", None, "Sub-tokens between overlapping windows of long "
                     "sentences (default: half the sequence length).")
flags.DEFINE_integer("max_train_examples", None, "Use only the first N training sentences.")
flags.DEFINE_integer("max_eval_examples", None, "Use only the first N evaluation sentences.")
define_training_flags()



def read_split(split: str):
    """(sentences or None, tag names or None) for "train" or "eval" from the flags."""
    limit = FLAGS.max_train_examples if split == "train" else FLAGS.max_eval_examples
    if FLAGS.dataset:
        if FLAGS.train_file:
            raise app.UsageError("Give --dataset or --train_file, not both.")
        sentences, names = kbert.data.load_hub_tagging(
            FLAGS.dataset, split, tag_column=FLAGS.hub_tag_column, max_rows=limit)
        if FLAGS.scheme == "IOB1":
            sentences.tags = [kbert.data.to_iob2(tags) for tags in sentences.tags]
            names = None  # The converted tags hold B- tags the hub's names may lack.
        return sentences, names
    path = FLAGS.train_file if split == "train" else FLAGS.eval_file
    if path is None:
        if split == "train":
            raise app.UsageError("Give --dataset or --train_file.")
        return None, None
    # Tags are kept as written, except IOB1's, converted to IOB2.
    sentences = kbert.data.read_conll(path, tag_column=FLAGS.tag_column,
                                      scheme="IOB1" if FLAGS.scheme == "IOB1" else "IOB2")
    if limit is not None:
        sentences = sentences.take(limit)
    return sentences, None


def run():
    keras.utils.set_random_seed(FLAGS.seed)
    train, names = read_split("train")
    evaluation, _ = read_split("eval")
    labels = FLAGS.labels or names or kbert.data.tag_set(train.tags)
    logging.info("%d tags: %s", len(labels), labels)
    model = kbert.TokenClassifier.from_preset(
        FLAGS.preset, labels=labels, sequence_length=FLAGS.sequence_length,
        mixed_precision=FLAGS.mixed_precision, label_all_subtokens=FLAGS.label_all_subtokens,
        window_stride=FLAGS.window_stride,
        # What the model decodes and scores; IOB1 data was converted to IOB2 as read.
        scheme={"none": None, "IOB1": "IOB2"}.get(FLAGS.scheme, FLAGS.scheme))
    set_up_training(model)
    # Every sentence is checked and tokenized before model_dir is touched.
    train = model.prepare(train, name="train")
    evaluation = model.prepare(evaluation, name="eval") if evaluation is not None else None
    result = train_and_evaluate(
        model, train, evaluation, model_dir=FLAGS.model_dir, epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size, seed=FLAGS.seed, checkpoint_every=FLAGS.checkpoint_every,
        resume=FLAGS.resume,
        extra_metadata={"command": shlex.join(sys.argv), "preset": FLAGS.preset,
                        "task": "tagging", "labels": model.labels})
    print({k: round(v, 4) for k, v in result["final"].items() if not k[:3] in ("pre", "rec", "sup")})


def main() -> None:
    """The `kbert-train-tagger` program (`python -m kbert.cli.train_tagger`)."""
    run_program(main_for(run), __doc__, __name__)


if __name__ == "__main__":
    main()
