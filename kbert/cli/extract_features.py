r"""Writes sentence embeddings for a file of texts: embeddings.npy (rows in file order) and
index.tsv (embedding row -> file line), streaming in chunks so files larger than memory work.

  kbert-extract-features --input_file=texts.txt --output_dir=runs/features \
      --pooling=mean --layers=last --normalize

  kbert-extract-features --input_file=../shared/data/imdb/train.jsonl \
      --text_column=text --output_dir=runs/imdb_features --layers=last4_concat

A .txt file holds one text per line (blank lines are skipped and counted); .jsonl/.tsv/.csv
files take --text_column. The .npy is written in place as a memory-mapped array and renamed into
place only when complete.

The same program runs as `kbert-extract-features` (installed with kbert),
`python -m kbert.cli.extract_features`, or `python scripts/extract_features.py` in a clone.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from absl import app, flags, logging

import kbert
from kbert.cli.data_flags import main_for, run_program
from kbert.files import atomic_path

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory "
                    "(e.g. one written by scripts/pretrain_mlm.py).")
flags.DEFINE_string("input_file", None, "Texts: .txt (one per line), .jsonl, .tsv or .csv.")
flags.DEFINE_string("text_column", None, "Text column/field for .jsonl/.tsv/.csv files.")
flags.DEFINE_string("output_dir", None, "Where embeddings.npy and index.tsv go.")
flags.DEFINE_enum("pooling", "mean", ["cls", "pooler", "mean", "max"], "Pooling.")
flags.DEFINE_string("layers", "last", "last, all, last4_concat, or comma-separated indices.")
flags.DEFINE_bool("normalize", False, "L2-normalize the embeddings.")
flags.DEFINE_integer("sequence_length", 128, "Maximum tokens per text.")
flags.DEFINE_integer("chunk_size", 4096, "Texts embedded (and held in memory) at a time.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.mark_flags_as_required(["input_file", "output_dir"])


def texts_with_lines(path: Path):
    """(line number, text) for every non-empty text of the file, streamed."""
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="") as handle:
        if suffix == ".txt":
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line.rstrip("\n")
            return
        if not FLAGS.text_column:
            raise app.UsageError(f"--text_column is needed for a {suffix} file.")
        if suffix == ".jsonl":
            rows = ((n, json.loads(line)) for n, line in enumerate(handle, start=1) if line.strip())
        else:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",",
                                    quoting=csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL)
            rows = ((n, row) for n, row in enumerate(reader, start=2))
        for number, row in rows:
            text = row.get(FLAGS.text_column)
            if not isinstance(text, str):
                raise kbert.KbertInputError(f"no text in field {FLAGS.text_column!r}",
                                            source=str(path), row=number, field=FLAGS.text_column)
            if text.strip():
                yield number, text


def run():
    path = Path(FLAGS.input_file)
    if not path.is_file():
        sys.exit(f"error: {path}: file not found")
    layers = FLAGS.layers if FLAGS.layers in ("last", "all", "last4_concat") else [
        int(i) for i in FLAGS.layers.split(",")]
    embedder = kbert.TextEmbedder.from_preset(
        FLAGS.preset, pooling=FLAGS.pooling, layers=layers, normalize=FLAGS.normalize,
        sequence_length=FLAGS.sequence_length)
    count = sum(1 for _ in texts_with_lines(path))  # First pass: checks every row, counts.
    if count == 0:
        sys.exit(f"error: {path}: no texts")
    dim = embedder.embed(["x"]).shape[1:]
    output = Path(FLAGS.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "embeddings.npy") as tmp_npy, \
            atomic_path(output / "index.tsv") as tmp_index:
        array = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.float32,
                                          shape=(count, *dim))
        with open(tmp_index, "w", encoding="utf-8") as index:
            index.write("row\tline\n")
            row, chunk = 0, []

            def flush():
                nonlocal row
                array[row:row + len(chunk)] = embedder.embed([t for _, t in chunk],
                                                             batch_size=FLAGS.batch_size)
                index.writelines(f"{row + i}\t{n}\n" for i, (n, _) in enumerate(chunk))
                row += len(chunk)
                logging.info("embedded %d / %d texts", row, count)
                chunk.clear()

            for item in texts_with_lines(path):
                chunk.append(item)
                if len(chunk) == FLAGS.chunk_size:
                    flush()
            if chunk:
                flush()
        array.flush()
    print(f"wrote {count} embeddings of shape {tuple(dim)} to {output / 'embeddings.npy'}")


def main() -> None:
    """The `kbert-extract-features` program (`python -m kbert.cli.extract_features`)."""
    run_program(main_for(run), __doc__, __name__)


if __name__ == "__main__":
    main()
