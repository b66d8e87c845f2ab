"""XLA on vs off for fine-tuning on CPU (TF backend): the same classifier on the same examples in
one process; the first epoch includes compilation, the second does not."""

from __future__ import annotations

import time

import keras

from benchmarks import Section, markdown_table


def time_epochs(model, data, batch_size: int, epochs: int = 2, **fit_args) -> list[float]:
    """Wall seconds of each epoch of model.fit."""
    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    model.fit(data, epochs=epochs, batch_size=batch_size, seed=0, callbacks=[Timer()], verbose=0,
              **fit_args)
    return seconds


def run(flags) -> Section:
    import kbert

    count = 256 if flags.quick else flags.examples
    train = kbert.data.read_table(flags.train_file, "sentence", "label", max_rows=count)
    rows, speed, total = [], {}, {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = kbert.TextClassifier.from_preset(flags.preset, num_classes=2,
                                                 sequence_length=flags.sequence_length)
        model.compile(jit_compile=jit)
        first, second = time_epochs(model, model.prepare(train), flags.batch_size)
        speed[jit], total[jit] = count / second, first + second
        rows.append(["on" if jit else "off", f"{first:.1f}", f"{second:.1f}",
                     f"{count / second:.1f}"])
    table = markdown_table(["XLA", "epoch 1 s (with compile)", "epoch 2 s",
                            "examples/s (epoch 2)"], rows)
    summary = (f"XLA on / off, examples per second after compiling: "
               f"**{speed[True] / speed[False]:.2f}x**; both epochs including compilation: "
               f"{total[True]:.0f} s with XLA, {total[False]:.0f} s without.")
    setup = (f"SST-2 fine-tuning, {count} examples per epoch, batch {flags.batch_size}, length "
             f"buckets up to {flags.sequence_length}, {flags.preset}, TF backend")
    return Section("XLA on vs off (CPU)", setup, table, summary)
