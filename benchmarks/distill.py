"""Distilled students against their teacher and against the same student trained without one
(issue 36), on the real MiniLM: accuracy, agreement with the teacher, file size and on-device
latency, each model exported with the defaults (dynamic-range int8, dynamic length).

  # SST-2: teacher fine-tuned on the first 16,000 training sentences; a 3-layer student
  # distilled from it on the same sentences; the same 3-layer student fine-tuned directly
  python -m benchmarks.distill --task=sst2 --output_dir=runs/distill > runs/distill/sst2.log 2>&1
  # CoNLL-2003 NER: teacher on the first 6,000 sentences, entity F1 on valid, LiteRT latency
  python -m benchmarks.distill --task=conll --output_dir=runs/distill > runs/distill/conll.log 2>&1
  # SQuAD v1.1 at the parity budget (benchmarks/parity.py's split and recipe): F1 side by side
  python -m benchmarks.distill --task=squad --names=teacher,distilled --output_dir=runs/distill
  # Latency alone on this machine: the teacher's architecture and students of 3 and 2 layers
  python -m benchmarks.distill --task=sst2_latency --output_dir=runs/distill_latency

(From the repository root, as a module: see the package's docstring.)

Every model is trained once and saved in --output_dir (`<task>_<name>.keras`); a re-run reuses
what is there, so an interrupted study goes on where it stopped. The figures go to
<output_dir>/<task>.json and a Markdown summary is printed.

The teacher is also exported as "int4" (int4 weights in blocks of 32 and int4 word embeddings,
`export.to_tflite(quantization="int4")`) and float32, for the smallest file's size and accuracy.

Both students start from the same weights: the encoder's embeddings and transformer layers
[0, 2, 5] (`kbert.training.distill.spread`), the distilled one from the fine-tuned teacher (its
head too), the direct one from the pretrained encoder with a fresh head (a student built by
`kbert.distill` from the untrained model, saved and loaded back as a plain model). Both train
with the same data, epochs, batch size, seed and learning rate (`compile()`'s default, or
--student_learning_rate for both).

Latency: each file runs in its runtime on one core (`kbert.export.verify.one_core`: the process
is pinned to one CPU, so MediaPipe's and LiteRT's thread pools have one core to use), one text
at a time; the files of one comparison alternate text by text, so a slower or busier moment
of the machine falls on all of them alike.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags  # noqa: E402

from kbert.export.verify import one_core  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", "sst2", ["sst2", "conll", "squad", "sst2_latency"], "Which study "
                  "(sst2_latency: MediaPipe latency of the architectures alone, untrained).")
flags.DEFINE_string("output_dir", "runs/distill", "Where the models, files and figures go.")
flags.DEFINE_string("data_dir", str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                    "../shared/data.")
flags.DEFINE_string("preset", "minilm_l6_uncased", "The teacher's encoder.")
flags.DEFINE_integer("train_examples", None, "First N training rows (default: 16,000 SST-2 "
                     "sentences; 6,000 CoNLL sentences; 1,200 SQuAD questions).")
flags.DEFINE_integer("eval_examples", 400, "SQuAD: questions evaluated (articles none of "
                     "which trained, benchmarks/parity.py's split).")
flags.DEFINE_integer("teacher_epochs", None, "Teacher epochs (default: SST-2 1, CoNLL 2).")
flags.DEFINE_integer("student_epochs", 2, "Epochs of each student.")
flags.DEFINE_float("student_learning_rate", None, "The students' peak learning rate (default: "
                   "compile()'s, as the teacher's).")
flags.DEFINE_string("teacher_dir", None, "Reuse the teacher (and its files) of another "
                    "--output_dir: a study of other student settings on the same teacher.")
flags.DEFINE_integer("num_layers", 3, "The students' transformer layers.")
flags.DEFINE_float("temperature", 2.0, "Distillation temperature.")
flags.DEFINE_float("alpha", 0.5, "Weight of the teacher's loss (the labels': 1 - alpha).")
flags.DEFINE_integer("sequence_length", None, "Tokens per row (SST-2, default 64) or per "
                     "window (CoNLL, default 128).")
flags.DEFINE_integer("latency_examples", 872, "Texts (SST-2) or sentences (CoNLL) timed.")
flags.DEFINE_list("names", ["teacher", "distilled", "direct"], "Which models to train/measure.")


def trained(name: str, path: Path, build, fit) -> tuple[object, dict]:
    """The model saved at `path`, or `build()` trained by `fit(model)` and saved there."""
    import shutil

    import kbert

    if name == "teacher" and FLAGS.teacher_dir and not path.exists():
        for other in Path(FLAGS.teacher_dir).glob(path.stem + ".*"):  # .keras, .json
            shutil.copy(other, path.parent / other.name)

    if path.exists():
        return kbert.load_model(str(path)), json.loads(path.with_suffix(".json").read_text())
    import keras

    keras.utils.set_random_seed(0)  # The head's initialisation (the 2026-12-06 runs lacked it).
    model = build()
    start = time.perf_counter()
    history = fit(model)
    info = {"train_seconds": round(time.perf_counter() - start, 1),
            "loss": [round(float(v), 4) for v in history.history["loss"]],
            "parameters": int(model.count_params()),
            "layers": int(model.backbone.num_layers)}
    model.save(str(path))
    path.with_suffix(".json").write_text(json.dumps(info))
    print(name, info, flush=True)
    return model, info


def students(teacher, base, path_of, fit) -> dict:
    """{"distilled": ..., "direct": ...} as the module docstring describes."""
    import kbert

    models = {}
    if "distilled" in FLAGS.names:
        models["distilled"] = trained(
            "distilled", path_of("distilled"),
            lambda: kbert.distill(teacher, FLAGS.num_layers, temperature=FLAGS.temperature,
                                  alpha=FLAGS.alpha), fit)
    if "direct" in FLAGS.names:
        def direct():
            # kbert.distill copies weights; saved and loaded it is a plain model, teacher-less.
            scratch = path_of("direct_init")
            kbert.distill(base(), FLAGS.num_layers).save(str(scratch))
            model = kbert.load_model(str(scratch))
            scratch.unlink()
            return model
        models["direct"] = trained("direct", path_of("direct"), direct, fit)
    return models


def sst2(out: Path, data: Path) -> dict:
    import numpy as np

    import kbert
    from kbert import export

    train = kbert.data.read_table(data / "glue/SST-2/train.tsv", "sentence", "label",
                                  max_rows=FLAGS.train_examples or 16000)
    dev = kbert.data.read_table(data / "glue/SST-2/dev.tsv", "sentence", "label")

    def base():
        return kbert.TextClassifier.from_preset(FLAGS.preset, labels=["0", "1"], pooling="mean",
                                                sequence_length=FLAGS.sequence_length or 64)

    def fit_with(epochs, learning_rate=None):
        def fit(model):
            if learning_rate:
                model.compile(learning_rate=learning_rate)
            return model.fit(train.texts, train.labels, epochs=epochs, batch_size=32, seed=0,
                             verbose=2)
        return fit

    path_of = lambda name: out / f"sst2_{name}.keras"  # noqa: E731
    models = {"teacher": trained("teacher", path_of("teacher"), base,
                                 fit_with(FLAGS.teacher_epochs or 1))}
    models.update(students(models["teacher"][0], base, path_of,
                           fit_with(FLAGS.student_epochs, FLAGS.student_learning_rate)))

    teacher_probs = models["teacher"][0].predict(dev.texts, verbose=0)
    gold = np.array(dev.labels, int)
    rows, files = {}, {}
    for name, (model, info) in models.items():
        probs = teacher_probs if name == "teacher" else model.predict(dev.texts, verbose=0)
        path = out / f"sst2_{name}.tflite"
        if not path.exists():
            export.to_tflite(model, path, quantization="dynamic")
        files[name] = path
        rows[name] = {**info, "keras_accuracy": float(np.mean(probs.argmax(-1) == gold)),
                      "keras_agreement_with_teacher": float(np.mean(
                          probs.argmax(-1) == teacher_probs.argmax(-1))),
                      "tflite_bytes": path.stat().st_size}
    # The teacher's smallest file (int4 weights and word embeddings) against its float32 size.
    for precision in ("float32", "int4"):
        path = out / f"sst2_teacher_{precision}.tflite"
        if not path.exists():
            export.to_tflite(models["teacher"][0], path,
                             quantization=None if precision == "float32" else precision)
    files["teacher_int4"] = out / "sst2_teacher_int4.tflite"
    rows["teacher_int4"] = {**rows["teacher"], "tflite_bytes": files["teacher_int4"].stat().st_size}
    float32_bytes = (out / "sst2_teacher_float32.tflite").stat().st_size
    for row in rows.values():
        row["size_vs_teacher_float32"] = row["tflite_bytes"] / float32_bytes
    texts = export.normalize_for_mediapipe(files["teacher"], list(dev.texts))
    with one_core():
        scores, times = mediapipe_alternating(files, texts, FLAGS.latency_examples)
    teacher_top = scores["teacher"].argmax(-1)
    for name in files:
        top = scores[name].argmax(-1)
        rows[name].update(
            mediapipe_accuracy=float(np.mean(top == gold)),
            mediapipe_agreement_with_teacher=float(np.mean(top == teacher_top)),
            mediapipe_mean_ms=float(np.mean(times[name])),
            mediapipe_p95_ms=float(np.percentile(times[name], 95)),
            mediapipe_latency_ratio=float(np.mean(times[name]) / np.mean(times["teacher"])))
    return {"rows": rows, "dev_examples": len(dev.texts),
            "train_examples": len(train.texts), "teacher_float32_bytes": float32_bytes}


def sst2_latency(out: Path, data: Path) -> dict:
    """MediaPipe latency of the teacher's architecture and of students of 3 and 2 layers
    (`kbert.distill`), untrained: how long a file takes does not depend on its weights' values,
    so this measures a machine in minutes, without the study's hours of training. Each file is
    dynamic-range int8 with dynamic length; the 872 SST-2 dev sentences, alternating."""
    import numpy as np

    import kbert
    from kbert import export

    dev = kbert.data.read_table(data / "glue/SST-2/dev.tsv", "sentence", "label")
    teacher = kbert.TextClassifier.from_preset(FLAGS.preset, labels=["0", "1"], pooling="mean",
                                               sequence_length=FLAGS.sequence_length or 64)
    models = {"teacher": teacher, **{f"{n} layers": kbert.distill(teacher, num_layers=n)
                                     for n in (3, 2)}}
    files = {}
    for name, model in models.items():
        files[name] = out / f"sst2_latency_{name.replace(' ', '_')}.tflite"
        export.to_tflite(model, files[name], quantization="dynamic")
    texts = export.normalize_for_mediapipe(files["teacher"], list(dev.texts))
    with one_core():
        _, times = mediapipe_alternating(files, texts, FLAGS.latency_examples)
    rows = {name: {"layers": model.backbone.num_layers,
                   "mediapipe_mean_ms": float(np.mean(times[name])),
                   "mediapipe_p95_ms": float(np.percentile(times[name], 95)),
                   "mediapipe_latency_ratio": float(np.mean(times[name]) /
                                                    np.mean(times["teacher"]))}
            for name, model in models.items()}
    return {"rows": rows, "dev_examples": len(texts)}


def mediapipe_alternating(files: dict, texts: list[str], timed: int):
    """Scores of every text by each file's MediaPipe TextClassifier ({name: [texts, labels]})
    and milliseconds per classify call of the first `timed` texts, the files taking turns
    text by text (after 20 warm-up calls each)."""
    import numpy as np
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.text import TextClassifier, TextClassifierOptions

    from kbert.verbosity import native_logs_quiet

    classifiers = {}
    with native_logs_quiet():
        for name, path in files.items():
            options = TextClassifierOptions(
                base_options=BaseOptions(model_asset_path=str(path)), max_results=-1)
            classifiers[name] = TextClassifier.create_from_options(options)
    scores = {name: [] for name in files}
    times = {name: [] for name in files}
    try:
        for text in texts[:20]:
            for classifier in classifiers.values():
                classifier.classify(text)
        for i, text in enumerate(texts):
            for name, classifier in classifiers.items():
                start = time.perf_counter()
                (head,) = classifier.classify(text).classifications
                if i < timed:
                    times[name].append((time.perf_counter() - start) * 1000)
                by_label = {c.category_name: c.score for c in head.categories}
                scores[name].append([by_label.get(str(k), 0.0) for k in range(len(by_label))])
    finally:
        for classifier in classifiers.values():
            classifier.close()
    return {k: np.array(v) for k, v in scores.items()}, times


def conll(out: Path, data: Path) -> dict:
    import numpy as np

    import kbert
    from kbert import export
    from kbert.export.litert_runtime import LiteRtModel
    from kbert.export.on_device_tagger import OnDeviceTagger

    train = kbert.data.read_conll(data / "conll2003/train.txt").take(FLAGS.train_examples or 6000)
    valid = kbert.data.read_conll(data / "conll2003/valid.txt")
    labels = sorted({t for tags in train.tags for t in tags})
    length = FLAGS.sequence_length or 128

    def base():
        return kbert.TokenClassifier.from_preset(FLAGS.preset, labels=labels,
                                                 sequence_length=length)

    def fit_with(epochs, learning_rate=None):
        def fit(model):
            if learning_rate:
                model.compile(learning_rate=learning_rate)
            return model.fit(train, epochs=epochs, batch_size=32, seed=0, verbose=2)
        return fit

    path_of = lambda name: out / f"conll_{name}.keras"  # noqa: E731
    models = {"teacher": trained("teacher", path_of("teacher"), base,
                                 fit_with(FLAGS.teacher_epochs or 2))}
    models.update(students(models["teacher"][0], base, path_of,
                           fit_with(FLAGS.student_epochs, FLAGS.student_learning_rate)))
    rows, runners = {}, {}
    teacher_tags = models["teacher"][0].predict(valid.words)
    for name, (model, info) in models.items():
        tags = teacher_tags if name == "teacher" else model.predict(valid.words)
        same = np.mean([a == b for p, q in zip(tags, teacher_tags) for a, b in zip(p, q)])
        path = out / f"conll_{name}.tflite"
        if not path.exists():
            export.to_tflite(model, path, quantization="dynamic")
        report = export.verify(path, valid, reference=model, threads=(1,), latency_examples=10)
        rows[name] = {**info, "valid_f1": report["keras_metrics"]["f1"],
                      "litert_valid_f1": report["metrics"]["f1"],
                      "litert_agreement_with_keras": report["agreement"],
                      "word_agreement_with_teacher": float(same),
                      "tflite_bytes": path.stat().st_size}
        runners[name] = path
    # The windows an app feeds (the on-device pipeline's own), the same for every model.
    teacher = models["teacher"][0]
    device = OnDeviceTagger(str(runners["teacher"]), window_stride=teacher.window_stride,
                            lowercase=bool(teacher.preprocessor.tokenizer.lowercase))
    sentences = valid.take(FLAGS.latency_examples)
    examples = teacher.prepare(sentences.words, sentences.tags, name="valid").examples
    packed = teacher.export_spec().pack(examples, device.sequence_length, "valid")
    features = device.window_features(packed.windows)
    times = {name: [] for name in runners}
    loaded = {name: LiteRtModel(str(path), num_threads=1) for name, path in runners.items()}
    with one_core():
        for row in features[:20]:
            for run in loaded.values():
                run(**row)
        for row in features:
            for name, run in loaded.items():
                start = time.perf_counter()
                run(**row)
                times[name].append((time.perf_counter() - start) * 1000)
    for name in rows:
        rows[name].update(litert_mean_ms=float(np.mean(times[name])),
                          litert_latency_ratio=float(np.mean(times[name]) /
                                                     np.mean(times["teacher"])))
    return {"rows": rows, "valid_sentences": len(valid.words),
            "train_sentences": len(train.words), "sequence_length": length}


def squad(out: Path, data: Path) -> dict:
    """SQuAD v1.1 at the parity budget (benchmarks/parity.py's split and recipe: the first
    1,200 questions of dev-v1.1-part-a.json train, 400 of the following articles evaluate;
    windows of 256 tokens, stride 96, peak learning rate 8e-5, 2 epochs)."""
    import kbert
    from benchmarks.parity import squad_split

    examples = kbert.data.read_squad(data / "squad_v1.1/dev-v1.1-part-a.json")
    train_rows, eval_rows = squad_split(examples.titles, FLAGS.train_examples or 1200,
                                        FLAGS.eval_examples)
    train, test = examples.select(train_rows), examples.select(eval_rows)

    def base():
        return kbert.QuestionAnswerer.from_preset(FLAGS.preset, sequence_length=256,
                                                  doc_stride=96)

    def fit_with(epochs):
        def fit(model):
            model.compile(learning_rate=8e-5)
            return model.fit(train, epochs=epochs, batch_size=32, seed=0, verbose=2)
        return fit

    path_of = lambda name: out / f"squad_{name}.keras"  # noqa: E731
    models = {"teacher": trained("teacher", path_of("teacher"), base,
                                 fit_with(FLAGS.teacher_epochs or 2))}
    models.update(students(models["teacher"][0], base, path_of,
                           fit_with(FLAGS.student_epochs)))
    rows = {}
    for name, (model, info) in models.items():
        report = model.evaluate_metrics(test)
        rows[name] = {**info, "f1": report["f1"], "exact_match": report["exact_match"]}
    return {"rows": rows, "train_questions": len(train_rows), "eval_questions": len(eval_rows)}


def main(argv):
    del argv
    from benchmarks.dynamic_length import cpu_flags

    out = Path(FLAGS.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    study = {"sst2": sst2, "conll": conll, "squad": squad, "sst2_latency": sst2_latency}
    result = study[FLAGS.task](out, Path(FLAGS.data_dir))
    result.update(task=FLAGS.task, preset=FLAGS.preset, num_layers=FLAGS.num_layers,
                  temperature=FLAGS.temperature, alpha=FLAGS.alpha,
                  student_epochs=FLAGS.student_epochs,
                  student_learning_rate=FLAGS.student_learning_rate, cpu_flags=cpu_flags(),
                  date=time.strftime("%Y-%m-%d"), seconds=round(time.time() - started))
    (out / f"{FLAGS.task}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    app.run(main)
