r"""Distils a fine-tuned kbert model into a student with fewer layers (kbert.distill), trains it
on the teacher's outputs (and the labels, where the training file has them), and writes the
student like any trained model: model.keras, metrics.json, TensorBoard logs.

  python -m kbert.cli.distill --teacher=runs/sst2/model.keras --num_layers=3 \
      --train_file=../shared/data/glue/SST-2/train.tsv --eval_file=../shared/data/glue/SST-2/dev.tsv \
      --text_column=sentence --label_column=label --model_dir=runs/sst2-student --epochs=3

  python -m kbert.cli.distill --teacher=runs/conll/model.keras --num_layers=3 \
      --train_file=../shared/data/conll2003/train.txt --model_dir=runs/conll-student

Files are read the teacher's way (its export_spec().input_kind): tables of texts (--text_column,
--text_pair_column; --label_column optional: without it the teacher's outputs are the only
targets, so unlabelled text of the domain trains the student), CoNLL files for a tagger, SQuAD
JSON for a question answerer. --temperature and --alpha weigh the teacher's soft targets
against the labels; the fine-tuning and optimizer flags are those of every training program.
Running the same command again after a crash resumes from <model_dir>/checkpoint (a checkpoint
of another teacher, temperature or alpha is refused).

The same program runs as `kbert-distill` (installed with kbert), `python -m kbert.cli.distill`,
or `python scripts/distill.py` in a clone. --sequence_length is unused:
the student reads what its teacher reads.
"""

from __future__ import annotations

import shlex
import sys

import keras
from absl import app, flags

import kbert
from kbert.cli.data_flags import (_column, define_data_flags, define_training_flags, main_for,
                                  read_split, run_program, set_up_training)
from kbert.training.run import train_and_evaluate

FLAGS = flags.FLAGS
define_data_flags()
flags.DEFINE_string("teacher", None, "The fine-tuned model to distil (a model.keras, or the "
                    "model_dir holding one).")
flags.mark_flag_as_required("teacher")
flags.DEFINE_integer("num_layers", None, "The student's transformer layers (fewer than the "
                     "teacher's); default: half the teacher's.")
flags.DEFINE_list("layers", None, "The teacher's layers the student starts from (0-based); "
                  "default: evenly spread, first and last included (DistilBERT's choice).")
flags.DEFINE_float("temperature", 2.0, "Softmax temperature of the teacher's soft targets.")
flags.DEFINE_float("alpha", 0.5, "Weight of the teacher's loss; the labels' is 1 - alpha.")
define_training_flags(sequence_length=0,
                      model_dir_help="Where the student, metrics.json and logs go.")


def _read(teacher, split: str, required: bool):
    """The split's examples, read the way the teacher's task takes them."""
    kind = teacher.export_spec().input_kind
    path = FLAGS.train_file if split == "train" else FLAGS.eval_file
    if kind == "texts" and (FLAGS.dataset or FLAGS.label_column):
        examples, _ = read_split(split, required=required)
        return examples
    if path is None:
        if required:
            raise app.UsageError(f"Give --{split}_file.")
        return None
    if kind == "texts":  # No --label_column: unlabelled texts, the teacher's outputs only.
        if not FLAGS.text_column:
            raise app.UsageError(f"--{split}_file needs --text_column.")
        limit = FLAGS.max_train_examples if split == "train" else FLAGS.max_eval_examples
        return kbert.data.read_table(
            path, _column(FLAGS.text_column), header=FLAGS.header, max_rows=limit,
            text_pair_column=(_column(FLAGS.text_pair_column) if FLAGS.text_pair_column
                              else None))
    return kbert.data.read_conll(path) if kind == "words" else kbert.data.read_squad(path)


def run():
    keras.utils.set_random_seed(FLAGS.seed)
    teacher = kbert.load_model(FLAGS.teacher)
    layers = [int(i) for i in FLAGS.layers] if FLAGS.layers else None
    num_layers = FLAGS.num_layers
    if num_layers is None and layers is None:
        num_layers = max(1, teacher.backbone.num_layers // 2)
    try:
        student = kbert.distill(teacher, num_layers, layers=layers,
                                temperature=FLAGS.temperature, alpha=FLAGS.alpha)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    set_up_training(student)
    # Every row is checked and tokenized before model_dir is touched: a bad file leaves nothing.
    train = student.prepare(_read(teacher, "train", True), name="train")
    evaluation = _read(teacher, "eval", False)
    evaluation = student.prepare(evaluation, name="eval") if evaluation is not None else None
    if evaluation is not None and evaluation.targets is None:
        evaluation = None  # Nothing to score against (an embedder): the teacher loss only.
    result = train_and_evaluate(
        student, train, evaluation, model_dir=FLAGS.model_dir, epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size, seed=FLAGS.seed, checkpoint_every=FLAGS.checkpoint_every,
        resume=FLAGS.resume,
        extra_metadata={"command": shlex.join(sys.argv), "teacher": FLAGS.teacher,
                        "teacher_layers": list(student.distillation.layers),
                        "temperature": FLAGS.temperature, "alpha": FLAGS.alpha})
    print({k: round(v, 4) for k, v in result["final"].items()})


def main() -> None:
    """The `kbert-distill` program (`python -m kbert.cli.distill`)."""
    run_program(main_for(run), __doc__, __name__)


if __name__ == "__main__":
    main()
