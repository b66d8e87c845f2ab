r"""Exports a trained model_dir to SavedModel and TFLite variants, checks each in LiteRT against
the Keras model on evaluation data, and writes an export report (JSON, Markdown, PNG chart).

  kbert-export-model --model_dir=runs/sst2 \
      --eval_file=../shared/data/glue/SST-2/dev.tsv --train_file=../shared/data/glue/SST-2/train.tsv \
      --text_column=sentence --label_column=label --variants=float32,float16,dynamic,int8

  kbert-export-model --model_dir=runs/ner --variants=float32,dynamic \
      --eval_file=../shared/data/conll2003/valid.txt --train_file=../shared/data/conll2003/train.txt

Writes <output_dir>/saved_model (raw-string and token-id signatures), <output_dir>/<variant>/
model.tflite (dynamic-length inputs and metadata, written by one to_tflite call; metadata.json
beside it) and <output_dir>/export_report.{json,md,png}. --students=dir,... exports students
(kbert-distill's runs) beside the model in the same variants: the report is then the menu of
sizes, latencies (LiteRT and MediaPipe), accuracy and agreement with the teacher to pick from.
--static_sequence_length=L adds each
variant's static [1, L] twin (<output_dir>/<variant>_static<L>/) to the report, latency per
length bucket side by side. --train_file supplies
the int8 calibration inputs. The data files follow the task's declared input kind
(`export_spec().input_kind`): tables of texts; for a tagger CoNLL (--tag_column picks the tags);
for a question answerer SQuAD JSON (--eval_file, or --split_file with --train_articles as in
train_qa). Each variant is checked the way the task declares (`export_spec().verify`): taggers
and question answerers through the on-device reference pipelines (kbert.export.OnDeviceTagger,
OnDeviceQuestionAnswerer). A model with nothing to export (a masked LM) stops with one `error:`
line.

The same program runs as `kbert-export-model` (installed with kbert),
`python -m kbert.cli.export_model`, or `python scripts/export_model.py` in a clone.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from absl import app, flags, logging

import kbert
from kbert.cli.data_flags import define_data_flags, read_split, run_program
from kbert import export
from kbert.export.report import write_report
from kbert.export.tflite import graph_length
from kbert.files import write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A training run's folder holding model.keras.")
flags.DEFINE_string("output_dir", None, "Where exports go (default: <model_dir>/export).")
flags.DEFINE_list("variants", ["float32", "float16", "dynamic", "int8"], "TFLite variants "
                  "(also int4: int4 weights and word embeddings, the smallest file).")
flags.DEFINE_list("students", [], "Students of this model (kbert-distill's model_dirs, or "
                  "model.keras files): each is exported in the same variants beside it "
                  "(<output_dir>/<student folder>/<variant>/) and checked on the same data, "
                  "with its agreement with this model (the teacher): the report is the menu "
                  "to pick a size from.")
flags.DEFINE_bool("saved_model", True, "Also write the SavedModel.")
flags.DEFINE_integer("sequence_length", None, "A static TFLite input length [1, L] (default: "
                     "dynamic [1, -1], each text at its own length).")
flags.DEFINE_integer("static_sequence_length", None, "Also export each variant with static "
                     "[1, L] inputs (a 'static twin', variant '<variant>_static<L>') and report "
                     "its latency per length bucket beside the dynamic file's.")
flags.DEFINE_integer("calibration_examples", 200, "Training texts used to calibrate int8.")
flags.DEFINE_integer("latency_examples", 100, "Examples timed per variant and thread count.")
flags.DEFINE_integer("tag_column", -1, "Taggers: the CoNLL column of the tags.")
flags.DEFINE_string("split_file", None, "Question answerers: one SQuAD JSON split by article; "
                    "its later articles evaluate, its first --train_articles calibrate int8.")
flags.DEFINE_integer("train_articles", 30, "With --split_file: the articles that trained.")
flags.DEFINE_bool("mediapipe", True, "Also run the eval texts through the MediaPipe task the "
                  "model declares (TextClassifier or TextEmbedder; dynamic variant; uncased "
                  "single-text models).")
define_data_flags()
flags.mark_flag_as_required("model_dir")


def main(argv):
    del argv
    try:
        run()
    except (kbert.KbertInputError, kbert.PresetError, export.ExportError) as error:
        sys.exit(f"error: {error}")


def _squad_data():
    """(calibration examples or None, evaluation examples) from SQuAD JSON."""
    if FLAGS.split_file:
        train, evaluation = kbert.data.split_by_article(kbert.data.read_squad(FLAGS.split_file),
                                                        FLAGS.train_articles)
    else:
        train = kbert.data.read_squad(FLAGS.train_file) if FLAGS.train_file else None
        evaluation = kbert.data.read_squad(FLAGS.eval_file)
    limit = FLAGS.max_eval_examples or len(evaluation)
    calibration = (train.select(range(min(FLAGS.calibration_examples, len(train))))
                   if train else None)
    return calibration, evaluation.select(range(min(limit, len(evaluation))))


def _conll_data():
    """(calibration word lists or None, evaluation sentences) from CoNLL files."""
    if not FLAGS.eval_file:
        raise app.UsageError("A tagger is checked on a CoNLL --eval_file.")
    evaluation = kbert.data.read_conll(FLAGS.eval_file, tag_column=FLAGS.tag_column)
    calibration = (kbert.data.read_conll(FLAGS.train_file, tag_column=FLAGS.tag_column)
                   .take(FLAGS.calibration_examples).words if FLAGS.train_file else None)
    return calibration, evaluation.take(FLAGS.max_eval_examples or len(evaluation))


def _table_data():
    """(calibration texts or pairs or None, evaluation examples) from tables or a hub dataset."""
    evaluation, _ = read_split("eval")
    calibration = (read_split("train")[0].take(FLAGS.calibration_examples).x
                   if FLAGS.train_file or FLAGS.dataset else None)
    return calibration, evaluation.take(FLAGS.max_eval_examples or len(evaluation))


# How each declared input kind (kbert.tasks.exports.INPUT_KINDS) is read from the flags.
READERS = {"texts": _table_data, "words": _conll_data, "squad": _squad_data}


def read_eval_and_calibration(model):
    """The evaluation data and, for int8, the calibration inputs, in the model's input kind."""
    calibration, evaluation = READERS[model.export_spec().input_kind]()
    if "int8" in FLAGS.variants and calibration is None:
        raise app.UsageError("int8 calibrates on training inputs: give --train_file.")
    return evaluation, calibration


def _students(teacher) -> list[tuple[str, str, object]]:
    """(folder name, label in the report, model) of each --students entry; one that is not of
    the teacher's task, or reads other inputs, stops with one line."""
    students = []
    for entry in FLAGS.students:
        path = Path(entry)
        path = path if path.suffix == ".keras" else path / "model.keras"
        student = kbert.load_model(str(path))
        if type(student) is not type(teacher) or \
                student.export_spec().input_kind != teacher.export_spec().input_kind:
            raise app.UsageError(f"--students: {path} is a {type(student).__name__}, not a "
                                 f"student of this {type(teacher).__name__}.")
        name = path.parent.name if path.name == "model.keras" else path.stem
        students.append((name, f"{name} ({student.backbone.num_layers} layers)", student))
    return students


def run():
    model = kbert.load_model(str(Path(FLAGS.model_dir) / "model.keras"))
    spec = model.export_spec()  # A model with nothing to export stops here with its reason.
    output = Path(FLAGS.output_dir or Path(FLAGS.model_dir) / "export")
    for sequence_length in (FLAGS.sequence_length, FLAGS.static_sequence_length):
        if sequence_length:  # A static length shorter than the model's stops before any work.
            graph_length(model, sequence_length)
    evaluation, calibration = read_eval_and_calibration(model)
    students = _students(model)  # A wrong --students entry stops before any file is written.
    rows, saved_model = [], None
    if FLAGS.saved_model:
        export.to_saved_model(model, output / "saved_model")
        saved_model = export.verify_saved_model(output / "saved_model", evaluation, model)
    # MediaPipe tokenizes on its own: only the runtime the task declares, if any, and only where
    # it runs the model faithfully (uncased, single texts).
    mediapipe = FLAGS.mediapipe and spec.mediapipe is not None
    if FLAGS.mediapipe and not mediapipe:
        logging.info("Not checked in MediaPipe: %s.", spec.mediapipe_note)
    lengths = [(FLAGS.sequence_length, "")]
    if FLAGS.static_sequence_length:
        lengths.append((FLAGS.static_sequence_length, f"_static{FLAGS.static_sequence_length}"))
    for name, label, exported in [("", "", model)] + students:
        for variant in FLAGS.variants:
            quantization = None if variant == "float32" else variant
            for sequence_length, suffix in lengths:
                path = output / name / f"{variant}{suffix}" / "model.tflite"
                info = export.to_tflite(exported, path, quantization=quantization,
                                        representative_data=calibration,
                                        sequence_length=sequence_length)
                write_json(path.with_name("metadata.json"), info["metadata"])
                report = export.verify(path, evaluation, reference=exported,
                                       latency_examples=FLAGS.latency_examples,
                                       mediapipe=mediapipe and variant in ("dynamic", "int4"))
                if name:  # The student's file against the teacher's Keras model.
                    against = export.verify(path, evaluation, reference=model, threads=(1,),
                                            latency_examples=1)
                    if "agreement" in against:
                        report["teacher_agreement"] = against["agreement"]
                rows.append({"variant": f"{label + ' ' if label else ''}{variant}{suffix}",
                             **report})
    write_report(rows, output / "export_report", command=shlex.join(sys.argv),
                 saved_model=saved_model)
    print(f"wrote {output}")


def main_program() -> None:
    """The `kbert-export-model` program (`python -m kbert.cli.export_model`)."""
    run_program(main, __doc__, __name__)


if __name__ == "__main__":
    main_program()
