"""Speed measurements, each written into BENCHMARKS.md with its command, machine and date.
Run from the repository root (`python scripts/benchmark.py ...` is the same program):

  python -m benchmarks --what=xla                      # XLA on vs off, CPU fine-tuning
  python -m benchmarks --what=buckets                  # length buckets vs padding to 128
  python -m benchmarks --what=tokenize                 # kbert vs HF tokenizers, IMDB
  KERAS_BACKEND=jax python -m benchmarks --what=gpu    # Keras/JAX vs transformers/PyTorch
  KERAS_BACKEND=jax python -m benchmarks --what=gpu --gpu_model=tiny --quick   # smoke, any CPU
  python -m benchmarks --what=dynamic --examples=2000  # dynamic vs static TFLite, MediaPipe
  python -m benchmarks --what=int4 --examples=4000     # ai-edge-quantizer int4 alone
  python -m benchmarks --what=export                   # TFLite export time, per precision

These need the bench extras (`pip install -e ".[bench]"`: torch 2.13 CPU, transformers,
onnxruntime, tf2onnx, psutil):
  python -m benchmarks --what=torch --examples=16000   # kbert vs transformers + PyTorch
  python -m benchmarks --what=latency --model=runs/sst2/model.keras   # vs onnxruntime
  python -m benchmarks --what=memory                   # streaming a 1M-row file

The comparisons live in benchmarks/ (one module each); this program picks one, runs it and
appends the result to --output atomically. --quick makes any of them a short smoke run.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

from absl import app, flags

from benchmarks import (append_section, buckets, dynamic_length, export_time, gpu, int4,
                        latency, memory, tokenization, torch_cpu, xla)

BENCHMARKS = {"xla": xla, "buckets": buckets, "tokenize": tokenization, "gpu": gpu,
              "torch": torch_cpu, "latency": latency, "memory": memory,
              "dynamic": dynamic_length, "int4": int4, "export": export_time}

FLAGS = flags.FLAGS
flags.DEFINE_enum("what", "xla", sorted(BENCHMARKS), "Which comparison to run.")
flags.DEFINE_string("preset", "minilm_l6_uncased", "Encoder preset (CPU benchmarks).")
flags.DEFINE_string("train_file", "../shared/data/glue/SST-2/train.tsv", "SST-2 train TSV.")
flags.DEFINE_integer("examples", 1024, "Training examples per epoch.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("sequence_length", 64, "Maximum sequence length.")
flags.DEFINE_float("learning_rate", 5e-5, "--what=torch: peak learning rate.")
flags.DEFINE_list("bucket_lengths", None, "--what=torch: kbert's length buckets (default: "
                  "kbert's default, powers of two).")
flags.DEFINE_integer("fixed_length", 128, "--what=buckets: the fixed padding length; "
                     "--what=dynamic: the static file's length.")
flags.DEFINE_string("tokenize_file", "../shared/data/imdb/train.jsonl", "--what=tokenize: JSONL "
                    "with a text field.")
flags.DEFINE_integer("tokenize_sequence_length", 512, "--what=tokenize: truncation length.")
flags.DEFINE_integer("repeats", 3, "--what=tokenize: timed repeats (the best counts); "
                     "--what=export: runs per route and precision (the median counts).")
flags.DEFINE_list("gpu_batch_sizes", ["32", "128"], "--what=gpu: batch sizes.")
flags.DEFINE_integer("gpu_sequence_length", 128, "--what=gpu: sequence length.")
flags.DEFINE_list("gpu_sides", list(gpu.SIDES), "--what=gpu: configurations to run.")
flags.DEFINE_enum("gpu_model", "base", sorted(gpu.MODELS), "--what=gpu: the encoder's size "
                  "(tiny: 2 layers, hidden 32, a smoke run that proves the harness on any CPU).")
flags.DEFINE_string("model", None, "--what=latency (and dynamic): a fine-tuned kbert classifier "
                    "(model.keras).")
flags.DEFINE_string("export_dir", None, "--what=latency: where the exported files go (reused "
                    "when present); a temporary directory by default.")
flags.DEFINE_integer("latency_examples", 200, "--what=latency: timed examples per runtime.")
flags.DEFINE_enum("dynamic_task", "classifier", ["classifier", "tagger", "qa"],
                  "--what=dynamic: which task's files to compare.")
flags.DEFINE_integer("dynamic_epochs", 2, "--what=dynamic with a tagger or qa: training epochs.")
flags.DEFINE_integer("memory_rows", 1_000_000, "--what=memory: rows of the large file.")
flags.DEFINE_integer("memory_steps", 100, "--what=memory: fit steps from each file.")
flags.DEFINE_bool("quick", False, "A short smoke run.")
flags.DEFINE_string("output", "BENCHMARKS.md", "Markdown file the results are appended to.")


def cpu_flags() -> str:
    """The CPU's vector extensions that int8 and float kernels depend on (AVX2, AVX-512 and its
    VNNI, AMX), as /proc/cpuinfo lists them; "" where it cannot be read."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ""
    wanted = sorted(f for f in flags if f == "avx2" or f.startswith(("avx512", "amx", "avx_vnni")))
    return ", flags " + " ".join(wanted) if wanted else ""


def machine() -> str:
    cpu = (f"{platform.machine()}, {os.cpu_count()} CPU cores{cpu_flags()}, "
           f"{platform.system()}")
    return cpu + (", the device named in the setup line" if FLAGS.what == "gpu" else ", CPU only")


def main(argv):
    del argv
    result = BENCHMARKS[FLAGS.what].run(FLAGS)
    date = datetime.date.today().isoformat()
    section = (f"\n## {result.title}\n\n{result.setup}.\n\n- command: "
               f"`python -m benchmarks {shlex.join(sys.argv[1:])}`\n- machine: {machine()}\n"
               f"- date: {date}\n\n{result.table}\n{result.summary}\n")
    append_section(FLAGS.output, section)
    print(section)


if __name__ == "__main__":
    app.run(main)
