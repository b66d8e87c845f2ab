"""Every task on the real MiniLM, briefly fine-tuned on real data, through both exports: the
SavedModel's two signatures served and compared with Keras, and a dynamic-range TFLite file
shorter than the model (static [1, 64]; its verify rows packed at that length, metadata written
by the same call) checked in LiteRT. Then the default export (dynamic length [1, -1]) of each
task gets a text of over 700 words, far past the encoder's 512 positions, through LiteRT's
CompiledModel and (classifier, embedder) MediaPipe: it must not crash, and give Keras's output
on the text cut to 512 tokens (taggers and QA read it in windows, as Keras does).

  python examples/export_every_task.py --out=runs/export_every_task.json

Tasks: SST-2 classifier, STS-B pair regressor, CoNLL-2003 NER tagger, SQuAD v1.1 question
answerer (first articles of the part-a file train, later ones evaluate), mean-pooled embedder.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  The raw-string signature's tokenizer ops.
from absl import app, flags

import kbert
from kbert import export

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "../shared/data", "The shared data folder.")
flags.DEFINE_integer("train_examples", 400, "Training rows (sentences, questions) per task.")
flags.DEFINE_integer("eval_examples", 100, "Evaluation rows per task.")
flags.DEFINE_integer("sequence_length", 128, "The Keras models' sequence length.")
flags.DEFINE_integer("tflite_length", 64, "The TFLite files' (shorter) input length.")
flags.DEFINE_string("out", "runs/export_every_task.json", "Where the JSON report goes.")


def tasks(data: Path):
    n, m = FLAGS.train_examples, FLAGS.eval_examples
    length = FLAGS.sequence_length
    sst2 = kbert.data.read_table(data / "glue/SST-2/train.tsv", "sentence", "label")
    sst2_dev = kbert.data.read_table(data / "glue/SST-2/dev.tsv", "sentence", "label").take(m)
    yield ("classifier", kbert.TextClassifier.from_preset(num_classes=2, sequence_length=length),
           sst2.take(n), sst2_dev, sst2_dev.texts)
    sts = kbert.data.read_table(data / "glue/STS-B/train.tsv", "sentence1", "score",
                                text_pair_column="sentence2")
    sts_dev = kbert.data.read_table(data / "glue/STS-B/dev.tsv", "sentence1", "score",
                                    text_pair_column="sentence2").take(m)
    yield ("pair_regressor", kbert.TextRegressor.from_preset(sequence_length=length),
           sts.take(n), sts_dev, sts_dev.x)
    conll = kbert.data.read_conll(data / "conll2003/train.txt")
    conll_dev = kbert.data.read_conll(data / "conll2003/valid.txt").take(m)
    yield ("tagger", kbert.TokenClassifier.from_preset(labels=kbert.data.tag_set(conll.tags),
                                                       sequence_length=length),
           conll.take(n), conll_dev, conll_dev)
    squad = kbert.data.read_squad(data / "squad_v1.1/dev-v1.1-part-a.json")
    train, evaluation = kbert.data.split_by_article(squad, 30)
    evaluation = evaluation.select(range(m))
    yield ("question_answerer", kbert.QuestionAnswerer.from_preset(sequence_length=length,
                                                                   doc_stride=48),
           train.select(range(n)), evaluation, evaluation)
    yield ("embedder", kbert.TextEmbedder.from_preset(sequence_length=length), None, None,
           sst2_dev.texts)


def long_text(data: Path, words: int = 700) -> str:
    """IMDB reviews joined until the text has `words` words."""
    found: list[str] = []
    for review in kbert.data.read_table(data / "imdb/train.jsonl", "text", "label").texts:
        found += review.split()
        if len(found) >= words:
            return " ".join(found[:words])
    raise ValueError("not enough IMDB text")


def long_text_checks(name, model, path: Path, text: str) -> dict:
    """The dynamic file on one text of 700+ words: its largest difference from Keras (the text
    cut to the encoder's positions for one-row tasks; the same windows for tagger and QA)."""
    positions = model.backbone.max_sequence_length
    if name in ("tagger", "question_answerer"):
        if name == "tagger":
            words = [text.split()]
            device = export.OnDeviceTagger(path).tag(words)[0]
            return {"words": len(words[0]), "tags_equal_keras": device == model.predict(words)[0]}
        question = "what is the film about ?"
        device = export.OnDeviceQuestionAnswerer.from_file(path).answer(question, text)["text"]
        keras = model.answer([question], [text])[0]["text"]
        return {"context_words": len(text.split()), "answer": device,
                "answer_equal_keras": device == keras}
    x = [(text, "a film review .")] if name == "pair_regressor" else [text]
    (row,) = export.device_features(model, x, 4 * positions, dynamic=True)
    device = export.LiteRtModel(path)(**row)
    keras = export.keras_outputs(model, export.device_features(model, x, positions))
    report = {"tokens": int(row["ids"].shape[1]), "positions": positions,
              "litert_max_abs_diff": max(float(np.abs(device[k] - keras[k]).max())
                                         for k in keras)}
    if name == "classifier":
        (scores,) = export.mediapipe_classify(path, [text])
        report["mediapipe_max_abs_diff"] = float(np.abs(
            np.array([scores[label] for label in model.labels]) - keras["probability"][0]).max())
    if name == "embedder":
        vector = export.mediapipe_embed(path, [text])[0]
        reference = keras[next(iter(keras))][0]
        report["mediapipe_cosine"] = float(vector @ reference / np.linalg.norm(vector)
                                           / np.linalg.norm(reference))
    return report


def main(argv):
    del argv
    data = Path(FLAGS.data)
    report = {"command": "python examples/export_every_task.py " + " ".join(
        f"--{k}={getattr(FLAGS, k)}" for k in ("train_examples", "eval_examples",
                                               "sequence_length", "tflite_length")),
        "date": time.strftime("%Y-%m-%d"), "tasks": {}}
    text = long_text(data)
    for name, model, train, evaluation, check in tasks(data):
        start = time.time()
        row = {}
        if train is not None:
            model.fit(train, epochs=1, batch_size=16, seed=0, verbose=0)
        with tempfile.TemporaryDirectory() as tmp:
            export.to_saved_model(model, Path(tmp) / "saved_model")
            row["saved_model"] = export.verify_saved_model(Path(tmp) / "saved_model", check,
                                                           model)
            path = Path(tmp) / "model.tflite"
            info = export.to_tflite(model, path, quantization="dynamic",
                                    sequence_length=FLAGS.tflite_length)
            checked = export.verify(path, evaluation if evaluation is not None else check,
                                    reference=model, latency_examples=20)
            dynamic = Path(tmp) / "dynamic.tflite"
            export.to_tflite(model, dynamic, quantization="dynamic")
            row["dynamic_700_words"] = long_text_checks(name, model, dynamic, text)
        row["tflite"] = {"sequence_length": info["sequence_length"], "bytes": info["bytes"],
                         **{k: v for k, v in checked.items() if k not in ("path", "ops")}}
        row["seconds"] = round(time.time() - start, 1)
        report["tasks"][name] = row
        print(name, json.dumps(row, default=float)[:600], flush=True)
    Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
    Path(FLAGS.out).write_text(json.dumps(report, indent=2, default=float) + "\n")


if __name__ == "__main__":
    app.run(main)
