r"""Fine-tunes a text classifier or regressor and writes model, metrics JSON and TensorBoard logs.

  kbert-train-classifier --preset=minilm_l6_uncased \
      --train_file=../shared/data/glue/SST-2/train.tsv --eval_file=../shared/data/glue/SST-2/dev.tsv \
      --text_column=sentence --label_column=label --model_dir=runs/sst2 --epochs=3

  kbert-train-classifier --dataset=glue/mrpc --model_dir=runs/mrpc    # online

Columns are header names, or 0-based indices for files without a header (CoLA). Pairs add
--text_pair_column. --task=regression for scores (STS-B); --multi_label for label sets.

The same program runs as `kbert-train-classifier` (installed with kbert),
`python -m kbert.cli.train_classifier`, or `python scripts/train_classifier.py` in a clone.
"""

from __future__ import annotations

import shlex
import sys

import keras
from absl import flags, logging

import kbert
from kbert.cli.data_flags import (define_data_flags, define_training_flags, main_for,
                                  read_split, run_program, set_up_training)
from kbert.training.run import train_and_evaluate

FLAGS = flags.FLAGS
define_data_flags()
flags.DEFINE_enum("task", "classification", ["classification", "regression"], "Task type.")
flags.DEFINE_bool("multi_label", False, "Each example has a set of labels (comma-separated "
                  "in TSV/CSV cells, lists in JSONL).")
flags.DEFINE_integer("num_classes", None, "Number of classes (labels named 0..n-1).")
flags.DEFINE_list("labels", None, "Class names in class-id order; default: sorted labels of "
                  "the training data.")
flags.DEFINE_enum("pooling", "mean", ["pooled", "cls", "mean"], "Sentence vector for the head.")
define_training_flags()


def run():
    keras.utils.set_random_seed(FLAGS.seed)
    train, names = read_split("train")
    evaluation, _ = read_split("eval", required=False)
    common = dict(sequence_length=FLAGS.sequence_length, mixed_precision=FLAGS.mixed_precision,
                  pooling=FLAGS.pooling)
    if FLAGS.task == "regression":
        model = kbert.TextRegressor.from_preset(FLAGS.preset, **common)
    else:
        labels = FLAGS.labels or names
        if labels is None and FLAGS.num_classes is None:
            labels = kbert.data.infer_labels(train.labels)
            logging.info("labels from the training data: %s", labels)
        model = kbert.TextClassifier.from_preset(FLAGS.preset, labels=labels,
                                                 num_classes=FLAGS.num_classes,
                                                 multi_label=FLAGS.multi_label, **common)
    set_up_training(model)
    # Every row is checked and tokenized before model_dir is touched: a bad file leaves nothing.
    train = model.prepare(train, name="train")
    evaluation = model.prepare(evaluation, name="eval") if evaluation is not None else None
    result = train_and_evaluate(
        model, train, evaluation, model_dir=FLAGS.model_dir, epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size, seed=FLAGS.seed, checkpoint_every=FLAGS.checkpoint_every,
        resume=FLAGS.resume,
        extra_metadata={"command": shlex.join(sys.argv), "preset": FLAGS.preset,
                        "task": FLAGS.task, "multi_label": FLAGS.multi_label,
                        "labels": getattr(model, "labels", None)})
    print({k: round(v, 4) for k, v in result["final"].items()})


def main() -> None:
    """The `kbert-train-classifier` program (`python -m kbert.cli.train_classifier`)."""
    run_program(main_for(run), __doc__, __name__)


if __name__ == "__main__":
    main()
