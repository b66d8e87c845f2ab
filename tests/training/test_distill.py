"""Distillation (kbert.distill, kbert/training/distill.py) for every task that exports, on the
tiny backbone: a 1-layer student of a 2-layer teacher trains on the teacher's outputs (with and
without labels) and moves toward them, saves as a plain model of its task that predicts the
same, trains on, exports to TFLite, and resumes from a checkpoint exactly; LoRA and frozen
students train; a checkpoint of another teacher or temperature is refused.

The teachers are tiny random models whose head reads the principal directions of its input
(`sharpen`): their outputs differ from text to text and are far from uniform, so a student that
lost a layer starts visibly away from them, at no fitting cost.
"""

from __future__ import annotations

import dataclasses
import zipfile
from typing import Any, Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

import kbert
from kbert import export
from kbert.preprocessing import pipeline
from kbert.training import distill as distillation
from kbert.preprocessing import TextPreprocessor
from tests.conftest import Crash, tiny_backbone, tiny_tokenizer

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food", "the dog",
         "a very good and lovely film", "so boring", "not good"]
SENTIMENT = ["pos", "neg", "pos", "neg", "neg", "pos", "neg", "neg"]
PAIRS = [("a man plays", "a man plays"), ("a dog runs", "a cat sleeps"),
         ("the film was great", "i loved the film"), ("the food was bad", "paris is lovely")] * 2
WORDS = [["jeremy", "lives", "in", "paris"], ["the", "dog", "sleeps"],
         ["london", "is", "lovely"], ["the", "man", "works", "in", "berlin"]] * 2
TAGS = [["B-PER", "O", "O", "B-LOC"], ["O", "O", "O"], ["B-LOC", "O", "O"],
        ["O", "O", "O", "O", "B-LOC"]] * 2
CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"


def squad(qid, question, answer):
    return {"id": qid, "question": question, "context": CONTEXT,
            "answers": [{"text": answer, "answer_start": CONTEXT.index(answer)}]}


QUESTIONS = [squad("a", "who lives in paris ?", "jeremy"),
             squad("b", "where does the dog sleep ?", "london"),
             squad("c", "what sleeps with ?", "the cat"), squad("d", "who lives in london ?",
                                                                  "the dog")]
UNLABELLED_QUESTIONS = [{"question": q["question"], "context": q["context"]} for q in QUESTIONS]


def tiny_task(cls, sequence_length: int = 32, **kwargs):
    """The tiny task of tests/conftest.py without dropout: training steps are then exact
    gradient steps on the distillation loss, which the tests measure without dropout."""
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone()
    backbone = type(backbone).from_config({**backbone.get_config(), "dropout": 0.0})
    if cls is not kbert.TextEmbedder:
        kwargs.setdefault("dropout", 0.0)
    return cls(backbone, TextPreprocessor(tiny_tokenizer(), sequence_length), **kwargs)


@dataclasses.dataclass
class Case:
    make: Callable[[], Any]
    x: Any                          # labelled training inputs (or unlabelled for the embedder)
    y: Any = None                   # their labels, where given apart
    unlabelled: Any = None          # the same inputs without labels (default: x)
    head: str | None = None         # the head layer sharpened in the teacher


CASES = {
    "classifier": Case(lambda: tiny_task(kbert.TextClassifier, labels=["neg", "pos"]),
                       TEXTS, SENTIMENT, head="logits"),
    "pair_classifier": Case(lambda: tiny_task(kbert.TextClassifier, labels=["same", "other"]),
                            PAIRS, ["same", "other"] * 4, head="logits"),
    "multi_label": Case(lambda: tiny_task(kbert.TextClassifier, labels=["PER", "LOC"],
                                          multi_label=True),
                        ["jeremy lives in paris", "the dog", "jeremy", "paris and london"] * 2,
                        [["PER", "LOC"], [], ["PER"], ["LOC"]] * 2, head="logits"),
    "regressor": Case(lambda: tiny_task(kbert.TextRegressor), PAIRS, [5.0, 0.5, 4.0, 1.0] * 2,
                      head="score"),
    "tagger": Case(lambda: tiny_task(kbert.TokenClassifier, labels=["O", "B-PER", "B-LOC"]),
                   WORDS, TAGS, head="logits"),
    "qa": Case(lambda: tiny_task(kbert.QuestionAnswerer, sequence_length=24, doc_stride=8),
               QUESTIONS, None, unlabelled=UNLABELLED_QUESTIONS, head="span_logits"),
    "embedder": Case(lambda: tiny_task(kbert.TextEmbedder, pooling="mean"), TEXTS),
}
LABELLED = [name for name, case in CASES.items() if case.y is not None or case.unlabelled]


def sharpen(teacher, head: str | None, x) -> None:
    """Makes the first transformer layer count (its kernels x5) and sets the head to read the
    principal directions of its input features on `x` (centered, scaled to logits of standard
    deviation 4): outputs that differ from input to input and are
    far from uniform, as a fitted model's are, without the seconds a fit costs. (A random tiny
    encoder gives nearly the same pooled vector for every text: scaling its head only saturates
    every output the same way.)"""
    for weight in teacher.backbone.transformer_layers[0].weights:
        if weight.path.endswith("kernel"):  # The layer a 1-layer student lacks matters more.
            weight.assign(weight * 5.0)
    if head is None:
        return
    layer = teacher.get_layer(head)
    reads = keras.Model(teacher.input, layer.input)
    prepared = teacher.prepare(x)
    rows = []
    for inputs in pipeline.inference_batches(teacher.preprocessor, prepared.encoded, 64):
        features = np.asarray(reads(inputs, training=False))
        mask = np.asarray(inputs["padding_mask"]) > 0
        rows.append(features[mask] if features.ndim == 3 else features)  # Tokens or texts.
    features = np.concatenate(rows)
    mean = features.mean(0)
    _, singular, directions = np.linalg.svd(features - mean, full_matrices=False)
    units = layer.kernel.shape[-1]
    scale = 4.0 * np.sqrt(len(features)) / singular[:units]
    kernel = directions[:units].T * scale
    layer.kernel.assign(kernel.astype("float32"))
    layer.bias.assign((-mean @ kernel).astype("float32"))


@pytest.fixture(scope="session")
def teachers():
    """name -> the (sharpened) teacher of that case, built on first use, shared by the tests."""
    cache = {}

    def get(name):
        if name not in cache:
            case = CASES[name]
            teacher = case.make()
            sharpen(teacher, case.head, unlabelled(case))
            cache[name] = teacher
        return cache[name]
    return get


def unlabelled(case):
    return case.unlabelled if case.unlabelled is not None else case.x


def outputs(model, x):
    """What must round-trip: the per-row (per-window) outputs."""
    return model.window_outputs(model.prepare(x)) if isinstance(
        model, (kbert.TokenClassifier, kbert.QuestionAnswerer)) else model.predict(x)


def student_of(teacher, **kwargs):
    keras.utils.set_random_seed(0)
    student = kbert.distill(teacher, num_layers=1, **kwargs)
    student.compile(learning_rate=1e-4, warmup_ratio=0.0)
    return student


@pytest.mark.parametrize("name", list(CASES))
def test_student_learns_the_teacher_then_lives_as_a_plain_model(name, teachers, tmp_path):
    case, teacher = CASES[name], teachers(name)
    student = student_of(teacher)
    # The teacher's class and settings, one layer (its last: spread(2, 1)), its head's weights.
    assert isinstance(student, type(teacher)) and student.distillation.layers == (1,)
    assert student.backbone.num_layers == 1
    config, theirs = student.get_config(), teacher.get_config()
    assert {k: v for k, v in config.items() if k not in ("backbone", "name")} == {
        k: v for k, v in theirs.items() if k not in ("backbone", "name")}
    np.testing.assert_array_equal(student.backbone.get_layer("token_embedding").get_weights()[0],
                                  teacher.backbone.get_layer("token_embedding").get_weights()[0])
    x = unlabelled(case)
    before = distillation.teacher_loss(student, x)
    assert before > 1e-2, before  # The untrained student is away from its teacher.

    # Unlabelled text: the teacher's outputs alone; the student moves toward them.
    history = student.fit(x, epochs=6, batch_size=4, seed=0, verbose=0, validation_data=x)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    after = distillation.teacher_loss(student, x)
    assert after < 0.6 * before, (before, after)
    assert set(history.history) == {"loss", "val_teacher_loss"}
    assert history.history["val_teacher_loss"][-1] == pytest.approx(after, rel=1e-4)
    # (With labels, both losses: test_resume_continues_exactly_and_only_for_the_same_teacher.)

    # Saved, it is a plain model of its class: the same outputs, no teacher.
    student.save(tmp_path / "student.keras")
    loaded = kbert.load_model(str(tmp_path / "student.keras"))
    assert type(loaded) is type(teacher) and not hasattr(loaded, "distillation")
    np.testing.assert_allclose(outputs(loaded, x), outputs(student, x), atol=1e-6)
    with zipfile.ZipFile(tmp_path / "student.keras") as saved:
        assert "distill" not in saved.read("config.json").decode()

    # It exports like any model: the float32 file gives what predict gives.
    path = tmp_path / "student.tflite"
    export.to_tflite(loaded, path)
    report = export.verify(path, x, reference=student, threads=(1,), latency_examples=1)
    assert report["max_abs_difference"] < 1e-4, report

    if x is not case.x or case.y is not None:  # And trains on labels like any model.
        again = loaded.fit(case.x, case.y, epochs=2, batch_size=4, seed=0, verbose=0).history
        assert np.isfinite(again["loss"]).all()
    else:
        with pytest.raises(NotImplementedError, match="no training objective"):
            loaded.fit(case.x)


@pytest.mark.parametrize("name", list(CASES))
def test_resume_continues_exactly_and_only_for_the_same_teacher(name, teachers, tmp_path):
    case, teacher = CASES[name], teachers(name)
    x, y = case.x, case.y  # Labelled (a question answerer's answers are in its examples)...
    labelled = name != "embedder"  # ... but for the embedder, which has no labels.
    options = dict(epochs=2, batch_size=4, seed=0, verbose=0, checkpoint_every=1)

    through = student_of(teacher)
    history = through.fit(x, y, checkpoint_dir=str(tmp_path / "through"), **options).history
    assert np.isfinite(history["loss"]).all()
    if labelled:  # With labels, both losses, and the task's metrics reported.
        assert set(history) == {"loss", *through.get_metrics_result()}
    crashed = student_of(teacher)
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(x, y, checkpoint_dir=str(tmp_path / "run"), callbacks=[Crash(2)], **options)
    resumed = student_of(teacher)  # A new process: distill again, fit again.
    resumed.fit(x, y, checkpoint_dir=str(tmp_path / "run"), **options)
    for a, b in zip(through.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)

    if name != "classifier":
        return  # What a checkpoint records of the teacher is the same for every task.
    # Another temperature, or another teacher: not this run.
    with pytest.raises(kbert.CheckpointMismatch, match="distillation.temperature"):
        student_of(teacher, temperature=5.0).fit(x, y, checkpoint_dir=str(tmp_path / "run"),
                                                 **options)
    other = CASES[name].make()
    with pytest.raises(kbert.CheckpointMismatch, match="distillation.teacher"):
        student_of(other).fit(x, y, checkpoint_dir=str(tmp_path / "run"), **options)


def test_lora_and_frozen_students_train(teachers, tmp_path):
    teacher = teachers("classifier")
    lora = student_of(teacher).set_finetuning("lora", rank=2)
    lora.compile(learning_rate=5e-3, warmup_ratio=0.0)
    before = distillation.teacher_loss(lora, TEXTS)
    lora.fit(TEXTS, SENTIMENT, epochs=4, batch_size=4, seed=0, verbose=0)
    assert distillation.teacher_loss(lora, TEXTS) < before
    lora.save(tmp_path / "lora.keras")
    loaded = kbert.load_model(str(tmp_path / "lora.keras"))
    assert loaded.lora == lora.lora
    np.testing.assert_allclose(loaded.predict(TEXTS), lora.predict(TEXTS), atol=1e-6)

    frozen = student_of(teacher).set_finetuning("frozen")
    frozen.compile(learning_rate=5e-3, warmup_ratio=0.0)
    encoder = [w.numpy() for w in frozen.backbone.weights]
    before = distillation.teacher_loss(frozen, TEXTS)
    frozen.fit(TEXTS, epochs=4, batch_size=4, seed=0, verbose=0)  # Unlabelled: the head learns.
    assert distillation.teacher_loss(frozen, TEXTS) < before
    for a, b in zip(encoder, frozen.backbone.weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_unlabelled_stream_trains_then_labels_train_the_same_student(teachers):
    student = student_of(teachers("classifier"))
    before = distillation.teacher_loss(student, TEXTS)
    stream = tf.data.Dataset.from_tensor_slices(TEXTS)
    history = student.fit(stream, epochs=6, batch_size=4, seed=0, verbose=0)
    assert set(history.history) == {"loss"}
    assert distillation.teacher_loss(student, TEXTS) < before
    # Labels next, on the same student: the step is traced anew (whether there are labels is
    # read when it is traced), so both losses and the task's metrics come back.
    labelled = student.fit(TEXTS, SENTIMENT, epochs=1, batch_size=4, seed=0, verbose=0).history
    assert set(labelled) == {"loss", *student.get_metrics_result()} != {"loss"}


def test_distill_refuses_what_it_cannot_make(teachers):
    teacher = teachers("classifier")
    with pytest.raises(ValueError, match="num_layers must be 1..2"):
        kbert.distill(teacher, num_layers=3)
    with pytest.raises(ValueError, match="layers must be distinct increasing"):
        kbert.distill(teacher, layers=[1, 0])
    with pytest.raises(ValueError, match="alpha"):
        kbert.distill(teacher, num_layers=1, alpha=1.5)
    with pytest.raises(ValueError, match="declares no distillation_loss"):
        kbert.distill(tiny_task(kbert.MaskedLM), num_layers=1)
    with pytest.raises(ValueError, match="layers='all'"):
        kbert.distill(tiny_task(kbert.TextEmbedder, layers="all"), num_layers=1)


def test_spread_is_distilberts_choice():
    assert distillation.spread(12, 6) == [0, 2, 4, 7, 9, 11]
    assert distillation.spread(6, 3) == [0, 2, 5] and distillation.spread(6, 1) == [5]
