"""Length buckets against fixed padding: fine-tuning throughput on the same SST-2 sentences, one
process. Bucketed: batches of similar length padded to kbert's power-of-two buckets (the
default). Fixed: every batch padded to the maximum length (what a plain pipeline does)."""

from __future__ import annotations

import keras

from benchmarks import Section, markdown_table
from benchmarks.xla import time_epochs


def run(flags) -> Section:
    import kbert

    count = 256 if flags.quick else flags.examples
    length = flags.fixed_length
    train = kbert.data.read_table(flags.train_file, "sentence", "label", max_rows=count)
    rows, speed = [], {}
    for bucketed in (True, False):
        keras.utils.set_random_seed(0)
        model = kbert.TextClassifier.from_preset(flags.preset, num_classes=2,
                                                 sequence_length=length)
        if not bucketed:
            model.preprocessor.bucket_lengths = [length]
        model.compile()
        # Epoch 1 warms up (graph tracing per shape); epoch 2 is timed.
        _, seconds = time_epochs(model, model.prepare(train), flags.batch_size,
                                 group_by_length=bucketed)
        name = "length buckets (default)" if bucketed else f"fixed padding to {length}"
        speed[bucketed] = count / seconds
        rows.append([name, f"{seconds:.1f}", f"{count / seconds:.1f}"])
    table = markdown_table(["padding", "epoch 2 s", "examples/s"], rows)
    summary = (f"Buckets / fixed padding, examples per second: **{speed[True] / speed[False]:.2f}x**"
               " (goal >= 3x).")
    setup = (f"SST-2 fine-tuning, first {count} training sentences, batch {flags.batch_size}, "
             f"maximum length {length}, {flags.preset}, TF backend, XLA per Keras's default")
    return Section("Length buckets vs fixed padding (CPU)", setup, table, summary)
