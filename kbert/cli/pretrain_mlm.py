r"""Masked-LM domain adaptation: continues pretraining the encoder on raw domain text and writes
the adapted encoder as a preset directory any kbert task loads, with the held-out masked-LM loss
before and after.

  kbert-pretrain-mlm --train_file=../shared/data/imdb/train.jsonl --text_column=text \
      --output_dir=runs/imdb_encoder --epochs=1 --sequence_length=128
  kbert-train-classifier --preset=runs/imdb_encoder/encoder ...   # then fine-tune

A .txt file holds one text per line; .jsonl/.tsv/.csv files take --text_column. The last
--heldout_examples texts (or --eval_file) measure the loss with fixed masks.

The same program runs as `kbert-pretrain-mlm` (installed with kbert),
`python -m kbert.cli.pretrain_mlm`, or `python scripts/pretrain_mlm.py` in a clone.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import keras
from absl import app, flags, logging

import kbert
from kbert.cli.data_flags import main_for, run_program
from kbert.files import write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
flags.DEFINE_string("train_file", None, "Domain text: .txt (one text per line), .jsonl, .tsv, .csv.")
flags.DEFINE_string("eval_file", None, "Held-out text (default: the last --heldout_examples).")
flags.DEFINE_string("text_column", None, "Text column/field for .jsonl/.tsv/.csv files.")
flags.DEFINE_integer("max_train_examples", None, "Use only the first N texts.")
flags.DEFINE_integer("heldout_examples", 500, "Texts kept aside to measure the loss.")
flags.DEFINE_bool("whole_word_masking", False, "Mask whole words rather than sub-tokens.")
flags.DEFINE_float("mask_rate", 0.15, "Share of tokens (or words) selected per text.")
flags.DEFINE_integer("sequence_length", 128, "Maximum tokens per text.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("epochs", 1, "Epochs.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate.")
flags.DEFINE_integer("seed", 42, "Random seed.")
flags.DEFINE_string("output_dir", None, "Where the adapted encoder preset and metrics.json go.")
flags.mark_flags_as_required(["train_file", "output_dir"])


def read_texts(path: str, limit: int | None = None) -> list[str]:
    if Path(path).suffix.lower() == ".txt":
        if not Path(path).is_file():
            raise kbert.KbertInputError("file not found", source=path)
        with open(path, encoding="utf-8") as handle:
            texts = [line.rstrip("\n") for line in handle if line.strip()]
        return texts[:limit]
    if not FLAGS.text_column:
        raise app.UsageError(f"--text_column is needed for {path}.")
    column = int(FLAGS.text_column) if FLAGS.text_column.isdigit() else FLAGS.text_column
    return list(kbert.data.read_table(path, column, max_rows=limit).texts)


def run():
    keras.utils.set_random_seed(FLAGS.seed)
    texts = read_texts(FLAGS.train_file, FLAGS.max_train_examples)
    if FLAGS.eval_file:
        heldout = read_texts(FLAGS.eval_file, FLAGS.heldout_examples)
    else:
        if len(texts) <= FLAGS.heldout_examples:
            raise app.UsageError(f"{len(texts)} texts leave none for training after "
                                 f"--heldout_examples={FLAGS.heldout_examples}.")
        texts, heldout = texts[:-FLAGS.heldout_examples], texts[-FLAGS.heldout_examples:]
    mlm = kbert.MaskedLM.from_preset(FLAGS.preset, sequence_length=FLAGS.sequence_length,
                                     mask_rate=FLAGS.mask_rate,
                                     whole_word_masking=FLAGS.whole_word_masking)
    mlm.compile(learning_rate=FLAGS.learning_rate)
    train, heldout = mlm.prepare(texts, name="train"), mlm.prepare(heldout, name="heldout")
    before = mlm.heldout_loss(heldout)
    logging.info("held-out masked-LM loss before: %s", before)
    output = Path(FLAGS.output_dir)
    history = mlm.fit(train, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
                      callbacks=[keras.callbacks.TensorBoard(str(output / "logs"))])
    after = mlm.heldout_loss(heldout)
    logging.info("held-out masked-LM loss after: %s", after)
    mlm.save_encoder(output / "encoder")
    write_json(output / "metrics.json", {
        "command": shlex.join(sys.argv), "preset": FLAGS.preset, "train_texts": len(texts),
        "heldout_texts": len(heldout.examples), "heldout_before": before,
        "heldout_after": after, "epochs": history.history})
    print({"before": round(before["loss"], 4), "after": round(after["loss"], 4)})


def main() -> None:
    """The `kbert-pretrain-mlm` program (`python -m kbert.cli.pretrain_mlm`)."""
    run_program(main_for(run), __doc__, __name__)


if __name__ == "__main__":
    main()
