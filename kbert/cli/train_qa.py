r"""Fine-tunes extractive question answering (SQuAD v1.1 / v2.0), evaluates with the official
SQuAD scores and writes model, metrics JSON, predictions.json (official format) and TensorBoard
logs.

  # One official file split by article (never by question): the first 30 articles train.
  kbert-train-qa --split_file=../shared/data/squad_v1.1/dev-v1.1-part-a.json \
      --train_articles=30 --model_dir=runs/squad_v1 --epochs=2

  kbert-train-qa --train_file=train-v2.0.json --eval_file=dev-v2.0.json \
      --model_dir=runs/squad_v2                               # v2.0: null threshold chosen on eval

  # SQuAD 2.0-style training data: a v1.1 file's questions plus a v2.0 file's first 10
  # articles (a question repeated about the same paragraph counts once); the v2.0 file's other
  # articles evaluate, and sharing a paragraph with the training data is refused.
  kbert-train-qa --split_file=dev-v2.0-part-a.json --train_articles=10 \
      --train_file=dev-v1.1-part-a.json --model_dir=runs/squad_v2_joint

  kbert-train-qa --dataset=squad_v2 --model_dir=runs/squad_v2      # online

Data with unanswerable questions (v2.0) trains a model that may answer "": its
null-score-difference threshold is chosen on the evaluation data and saved with the model.

The same program runs as `kbert-train-qa` (installed with kbert),
`python -m kbert.cli.train_qa`, or `python scripts/train_qa.py` in a clone.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import keras
from absl import app, flags, logging

import kbert
from kbert.cli.data_flags import define_training_flags, main_for, run_program, set_up_training
from kbert.files import write_json
from kbert.training import distribute
from kbert.training.run import train_and_evaluate

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, "Hugging Face dataset: squad or squad_v2 (online).")
flags.DEFINE_list("train_file", None, "Official SQuAD JSON file(s) to train on, comma-separated "
                  "(with --split_file: added to its training articles).")
flags.DEFINE_string("eval_file", None, "Official SQuAD JSON to evaluate on.")
flags.DEFINE_string("split_file", None, "One SQuAD JSON split by article into train and eval.")
flags.DEFINE_integer("train_articles", 30, "With --split_file: articles that train (in order).")
flags.DEFINE_integer("max_train_examples", None, "Use only the first N training questions.")
flags.DEFINE_integer("max_eval_examples", None, "Use only the first N evaluation questions.")
flags.DEFINE_integer("doc_stride", 128, "Tokens between the starts of a context's windows.")
flags.DEFINE_integer("max_query_length", 64, "Question tokens kept.")
flags.DEFINE_integer("n_best", 20, "Start and end candidates per window when decoding.")
flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in tokens.")
define_training_flags(sequence_length=384, epochs=2,
                      model_dir_help="Where the model, metrics.json, predictions.json and logs go.")



def read_data():
    """(train, eval or None) from the flags."""
    if FLAGS.dataset and (FLAGS.train_file or FLAGS.split_file or FLAGS.eval_file):
        raise app.UsageError("--dataset brings its own train and eval splits: give no files.")
    if not (FLAGS.dataset or FLAGS.train_file or FLAGS.split_file):
        raise app.UsageError("Give --dataset, --train_file or --split_file.")
    if FLAGS.split_file and FLAGS.eval_file:
        raise app.UsageError("--split_file already holds the evaluation articles: drop --eval_file.")
    if FLAGS.dataset:
        train = kbert.data.load_hub_squad(FLAGS.dataset, "train", max_rows=FLAGS.max_train_examples)
        evaluation = kbert.data.load_hub_squad(FLAGS.dataset, "eval",
                                               max_rows=FLAGS.max_eval_examples)
    else:
        parts = [kbert.data.read_squad(path) for path in FLAGS.train_file or []]
        evaluation = kbert.data.read_squad(FLAGS.eval_file) if FLAGS.eval_file else None
        if FLAGS.split_file:
            split_train, evaluation = kbert.data.split_by_article(
                kbert.data.read_squad(FLAGS.split_file), FLAGS.train_articles)
            parts.insert(0, split_train)
        train = parts[0] if len(parts) == 1 else kbert.data.combine(parts)
    if FLAGS.max_train_examples:
        train = train.select(range(min(FLAGS.max_train_examples, len(train))))
    if evaluation is not None and FLAGS.max_eval_examples:
        evaluation = evaluation.select(range(min(FLAGS.max_eval_examples, len(evaluation))))
    if evaluation is not None:
        kbert.data.check_disjoint(train, evaluation)
    return train, evaluation


def run():
    keras.utils.set_random_seed(FLAGS.seed)
    train, evaluation = read_data()
    version_2 = train.has_unanswerable or bool(evaluation and evaluation.has_unanswerable)
    logging.info("%d training questions from %d articles; %s evaluation questions; SQuAD %s",
                 len(train), len(train.articles()), len(evaluation) if evaluation else "no",
                 "v2.0" if version_2 else "v1.1")
    model = kbert.QuestionAnswerer.from_preset(
        FLAGS.preset, sequence_length=FLAGS.sequence_length, doc_stride=FLAGS.doc_stride,
        max_query_length=FLAGS.max_query_length, n_best=FLAGS.n_best,
        max_answer_length=FLAGS.max_answer_length, version_2_with_negative=version_2,
        mixed_precision=FLAGS.mixed_precision)
    set_up_training(model)
    # Every question is checked and tokenized before model_dir is touched.
    train = model.prepare(train, name="train")
    evaluation = model.prepare(evaluation, name="eval") if evaluation is not None else None
    model_dir = Path(FLAGS.model_dir)

    def finalize(model):
        if evaluation is None:
            return {}
        _, spans = model.best_spans(evaluation)  # One pass over the evaluation windows.
        chief = distribute.is_chief(getattr(model, "distribute_strategy", None))
        if version_2:  # The threshold that maximizes F1 here, saved with the model.
            model.null_threshold = model.metrics_for(spans, evaluation)["best_f1_thresh"]
            if chief:
                write_json(model_dir / "null_odds.json", {
                    qid: s.null_score_diff for qid, s in zip(evaluation.examples.ids, spans)})
        if chief:
            write_json(model_dir / "predictions.json", {
                qid: model.final_text(s) for qid, s in zip(evaluation.examples.ids, spans)})
        return model.metrics_for(spans, evaluation)

    result = train_and_evaluate(
        model, train, evaluation, model_dir=model_dir, epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size, seed=FLAGS.seed, checkpoint_every=FLAGS.checkpoint_every,
        resume=FLAGS.resume, finalize=finalize,
        extra_metadata={"command": shlex.join(sys.argv), "preset": FLAGS.preset,
                        "task": "question_answering", "squad_version": "2.0" if version_2 else "1.1",
                        "train_articles": train.examples.articles(),
                        "eval_articles": evaluation.examples.articles() if evaluation else None,
                        "train_windows": len(train.encoded)})
    print(json.dumps({k: round(v, 4) for k, v in result["final"].items()}))


def main() -> None:
    """The `kbert-train-qa` program (`python -m kbert.cli.train_qa`)."""
    run_program(main_for(run), __doc__, __name__)


if __name__ == "__main__":
    main()
