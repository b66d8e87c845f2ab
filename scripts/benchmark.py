"""Speed measurements, written into BENCHMARKS.md with command, machine and date.

  python scripts/benchmark.py --what=xla --train_file=../shared/data/glue/SST-2/train.tsv

--what=xla: fine-tuning throughput of the same classifier with XLA on and off (TF backend),
on the same examples, in one process: the first epoch includes compilation, the second does not.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import keras
from absl import app, flags

import kbert

FLAGS = flags.FLAGS
flags.DEFINE_enum("what", "xla", ["xla"], "Which comparison to run.")
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset.")
flags.DEFINE_string("train_file", "../shared/data/glue/SST-2/train.tsv", "SST-2 train TSV.")
flags.DEFINE_integer("examples", 1024, "Training examples per epoch.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("sequence_length", 64, "Maximum sequence length.")
flags.DEFINE_bool("quick", False, "A short run (256 examples).")
flags.DEFINE_string("output", "BENCHMARKS.md", "Markdown file the results are appended to.")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}, TF backend, CPU only"


def time_epochs(model, data, epochs=2):
    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    model.fit(data, epochs=epochs, batch_size=FLAGS.batch_size, seed=0, callbacks=[Timer()],
              verbose=0)
    return seconds


def xla_rows():
    count = 256 if FLAGS.quick else FLAGS.examples
    train = kbert.data.read_table(FLAGS.train_file, "sentence", "label", max_rows=count)
    rows = {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = kbert.TextClassifier.from_preset(FLAGS.preset, num_classes=2,
                                                 sequence_length=FLAGS.sequence_length)
        model.compile(jit_compile=jit)
        prepared = model.prepare(train)
        first, second = time_epochs(model, prepared)
        rows[jit] = (first, second, count / second)
    header = ("| XLA | epoch 1 s (with compile) | epoch 2 s | examples/s (epoch 2) |\n"
              "| --- | --- | --- | --- |\n")
    body = "".join(f"| {'on' if jit else 'off'} | {a:.1f} | {b:.1f} | {c:.1f} |\n"
                   for jit, (a, b, c) in rows.items())
    ratio = rows[True][2] / rows[False][2]
    total = rows[True][0] + rows[True][1], rows[False][0] + rows[False][1]
    summary = (f"\nXLA on / off, examples per second after compiling: **{ratio:.2f}x**; "
               f"both epochs including compilation: {total[0]:.0f} s with XLA, {total[1]:.0f} s "
               "without.\n")
    title = (f"SST-2 fine-tuning, {count} examples per epoch, batch {FLAGS.batch_size}, length "
             f"buckets up to {FLAGS.sequence_length}, {FLAGS.preset}")
    return title, header + body + summary


def main(argv):
    del argv
    title, table = xla_rows()
    date = datetime.date.today().isoformat()
    section = (f"\n## XLA on vs off (CPU)\n\n{title}.\n\n- command: `python "
               f"{shlex.join(sys.argv)}`\n- machine: {machine()}\n- date: {date}\n\n{table}")
    path = Path(FLAGS.output)
    if not path.exists():
        path.write_text("# Benchmarks\n\nEach section: the command that produced it, the machine, "
                        "the date, the raw figures and the ratio.\n")
    with path.open("a") as handle:
        handle.write(section)
    print(section)


if __name__ == "__main__":
    app.run(main)
