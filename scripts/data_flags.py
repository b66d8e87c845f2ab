"""The data flags the scripts share (--train_file, --eval_file, columns...) and reading them."""

from __future__ import annotations

from absl import app, flags

import kbert

FLAGS = flags.FLAGS


def define_data_flags() -> None:
    flags.DEFINE_string("dataset", None, "Hugging Face dataset name, e.g. glue/sst2 (online).")
    flags.DEFINE_string("train_file", None, "Local .tsv/.csv/.jsonl training file.")
    flags.DEFINE_string("eval_file", None, "Local evaluation file (same columns).")
    flags.DEFINE_string("text_column", None, "Text column (name, or index without header).")
    flags.DEFINE_string("text_pair_column", None, "Second text column, for pair tasks.")
    flags.DEFINE_string("label_column", None, "Label column.")
    flags.DEFINE_bool("header", None, "Whether the files have a header row (default: yes, "
                      "unless columns are given as indices).")
    flags.DEFINE_integer("max_train_examples", None, "Use only the first N training examples.")
    flags.DEFINE_integer("max_eval_examples", None, "Use only the first N evaluation examples.")


def _column(value):
    return int(value) if value is not None and value.isdigit() else value


def read_split(split: str, required: bool = True):
    """(examples or None, label names or None) for "train" or "eval" from the flags."""
    if FLAGS.dataset and FLAGS.train_file:
        raise app.UsageError("Give --dataset or --train_file, not both.")
    columns = dict(text_column=FLAGS.text_column, text_pair_column=FLAGS.text_pair_column,
                   label_column=FLAGS.label_column)
    limit = FLAGS.max_train_examples if split == "train" else FLAGS.max_eval_examples
    if FLAGS.dataset:
        return kbert.data.load_hub_dataset(FLAGS.dataset, split, max_rows=limit, **columns)
    path = FLAGS.train_file if split == "train" else FLAGS.eval_file
    if path is None:
        if required:
            raise app.UsageError(f"Give --dataset or --{split}_file.")
        return None, None
    if not FLAGS.text_column or not FLAGS.label_column:
        raise app.UsageError(f"--{split}_file needs --text_column and --label_column.")
    columns = {k: _column(v) for k, v in columns.items()}
    return kbert.data.read_table(path, header=FLAGS.header, max_rows=limit, **columns), None
