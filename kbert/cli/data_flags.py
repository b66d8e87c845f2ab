"""What the programs share: the data flags (--train_file, --eval_file, columns...) and reading
them, the training flags, and one-line errors instead of tracebacks.

Example (a program of kbert.cli):
>>> from kbert.cli.data_flags import define_data_flags, main_for, read_split, run_program
>>> define_data_flags()
>>> def run():
...     train, names = read_split("train")
>>> run_program(main_for(run), __doc__, __name__)
"""

from __future__ import annotations

import contextlib
import os
import sys

from absl import app, flags

import kbert
from kbert.training import distribute
from kbert.training.checkpoint import TrainingDiverged

FLAGS = flags.FLAGS
# Every program that runs under main_for can be one task of a cluster (TF_CONFIG).
flags.DEFINE_float("cluster_timeout", distribute.DEFAULT_CLUSTER_TIMEOUT, "With a cluster in "
                   "TF_CONFIG: seconds to wait for the other tasks to start before giving up.")


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


def define_training_flags(*, sequence_length: int = 128, epochs: int = 3,
                          model_dir_help: str = "Where the model, metrics.json and logs go.") -> None:
    """--preset, --sequence_length, the optimizer recipe, --seed, checkpointing, --model_dir."""
    flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
    flags.DEFINE_integer("sequence_length", sequence_length, "Maximum tokens per example/window.")
    flags.DEFINE_integer("batch_size", 32, "Batch size.")
    flags.DEFINE_integer("epochs", epochs, "Epochs.")
    flags.DEFINE_string("finetuning", "full", "Which encoder weights train: full, frozen, "
                        "lora (low-rank adapters, see --lora_rank, --lora_targets), or a number "
                        "k of top layers. The head always trains.")
    flags.register_validator(
        "finetuning", lambda v: v in ("full", "frozen", "lora") or v.isdigit(),
        "--finetuning must be full, frozen, lora or a number of top layers.")
    flags.DEFINE_integer("lora_rank", kbert.tasks.lora.DEFAULT_RANK,
                         "--finetuning=lora: the adapters' rank.")
    flags.DEFINE_list("lora_targets", list(kbert.tasks.lora.DEFAULT_TARGETS),
                      "--finetuning=lora: the encoder projections that get adapters (query, "
                      "key, value, attention_output, feedforward_intermediate_dense, "
                      "feedforward_output_dense).")
    flags.DEFINE_float("learning_rate", None, "Peak learning rate. Default: 5e-5, or with "
                       f"--finetuning=lora {kbert.tasks.lora.LEARNING_RATE}.")
    flags.DEFINE_float("warmup_ratio", 0.1, "Share of steps with linear warmup.")
    flags.DEFINE_float("layer_decay", None, "Layer-wise learning-rate decay, e.g. 0.9: each "
                       "encoder layer learns at the rate of the one above times this (the head "
                       "at --learning_rate). Default: one rate for all.")
    flags.register_validator("layer_decay", lambda v: v is None or 0.0 < v <= 1.0,
                             "--layer_decay must be in (0, 1].")
    flags.DEFINE_bool("lazy_embeddings", False, "Update the word-embedding table only in each "
                      "batch's rows (a faster CPU step; BENCHMARKS.md).")
    flags.DEFINE_integer("seed", 42, "Random seed.")
    flags.DEFINE_bool("mixed_precision", False, "Run the encoder in bfloat16.")
    flags.DEFINE_integer("checkpoint_every", 500, "Steps between checkpoints of the full training "
                         "state in <model_dir>/checkpoint (0: none).")
    flags.DEFINE_bool("resume", True, "Continue from <model_dir>/checkpoint if a run was "
                      "interrupted (--noresume starts over).")
    flags.DEFINE_string("model_dir", None, model_dir_help)
    flags.mark_flag_as_required("model_dir")


def compile_recipe() -> dict:
    """The optimizer flags as keyword arguments of `model.compile`."""
    return dict(learning_rate=FLAGS.learning_rate, warmup_ratio=FLAGS.warmup_ratio,
                layer_decay=FLAGS.layer_decay, lazy_embeddings=FLAGS.lazy_embeddings)


def set_up_training(model) -> None:
    """The fine-tuning mode flags (`model.set_finetuning`), then the optimizer flags
    (`model.compile`)."""
    mode = FLAGS.finetuning
    try:
        if mode == "lora":
            model.set_finetuning("lora", rank=FLAGS.lora_rank, targets=FLAGS.lora_targets)
        else:
            model.set_finetuning(int(mode) if mode.isdigit() else mode)
    except ValueError as error:  # Targets the encoder lacks, more top layers than it has.
        raise app.UsageError(str(error)) from None
    model.compile(**compile_recipe())


def run_program(main, doc: str | None = None, module: str | None = None) -> None:
    """Runs an absl `main` as a program (`absl.app.run`) defined in the module named `module`.

    The console entry points and the scripts/ shims run it from another `__main__`, for which
    absl's usage text and `--help` would show nothing: `doc` becomes the usage text, and the
    flags `module` and this module define are listed by `--help`.

    Example:
    >>> run_program(main_for(run), __doc__, __name__)
    """
    if doc and sys.modules.get("__main__") is not None:
        sys.modules["__main__"].__doc__ = doc
    for name in (module, __name__):
        if name and name != "__main__":  # absl files __main__'s flags under sys.argv[0].
            for flag in FLAGS.get_key_flags_for_module(name):
                FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)


def main_for(run):
    """An absl `main` that runs `run()` and turns a user's mistake into one `error: ...` line
    (no traceback; nothing has been written by then).

    With a cluster in `TF_CONFIG` (several processes or machines running the same command),
    `run()` builds, trains and saves under its MultiWorkerMirroredStrategy: each worker trains on
    its share of every batch and only the chief keeps files (`kbert.training.distribute`)."""
    def main(argv):
        del argv
        try:
            # Made first: TensorFlow needs it before any op.
            with distribute.cluster_scope(FLAGS.cluster_timeout):
                if distribute.is_chief(distribute.cluster_strategy(FLAGS.cluster_timeout)):
                    run()
                else:  # Progress and results are the chief's to print.
                    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                        run()
        except (kbert.KbertInputError, kbert.PresetError, kbert.CheckpointMismatch,
                TrainingDiverged, distribute.ClusterUnavailable) as error:
            sys.exit(f"error: {error}")
    return main
