"""The exported question answerer run the way an app runs it (export/on_device_qa.py)."""

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import kbert
from kbert import export
from tests.conftest import tiny_task

CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"
TRAIN = [{"id": "a", "question": "who lives in paris ?", "context": CONTEXT,
          "answers": [{"text": "jeremy", "answer_start": 0}]},
         {"id": "b", "question": "the dog sleeps in ?", "context": CONTEXT,
          "answers": [{"text": "london", "answer_start": CONTEXT.index("london")}]},
         {"id": "c", "question": "what is the film ?", "context": CONTEXT, "answers": []}]


@pytest.fixture(scope="module")
def qa():
    model = tiny_task(kbert.QuestionAnswerer, sequence_length=16, doc_stride=4,
                      version_2_with_negative=True)
    model.compile(learning_rate=5e-3, warmup_ratio=0.0)
    model.fit(TRAIN * 8, epochs=30, batch_size=8, seed=0, verbose=0)
    model.fit_null_threshold(TRAIN)
    return model


@pytest.fixture(scope="module")
def exported(qa, tmp_path_factory):
    path = tmp_path_factory.mktemp("qa") / "model.tflite"
    # float32: answers must match Keras exactly here; dynamic length, metadata in one call.
    info = export.to_tflite(qa, path)["metadata"]
    return path, info


def test_qa_tflite_follows_the_bert_qa_convention(exported):
    path, info = exported
    (signature,) = Interpreter(model_path=str(path)).get_signature_list().values()
    assert sorted(signature["inputs"]) == ["ids", "mask", "segment_ids"]
    assert sorted(signature["outputs"]) == ["end_logits", "start_logits"]
    assert info["task"] == "question_answerer" and "vocab.txt" in info["packed_files"]
    assert all(o["shape"] == [1, -1] for o in info["outputs"])


def test_reference_pipeline_answers_like_keras(qa, exported):
    path, _ = exported
    device = export.OnDeviceQuestionAnswerer.from_model(path, qa)
    for record in TRAIN:
        answer = device.answer(record["question"], record["context"])
        expected = qa.answer([record["question"]], [record["context"]])[0]
        assert answer["text"] == expected["text"]
        assert CONTEXT[answer["start"]:answer["end"]] == answer["text"]


def test_verify_scores_both_runtimes_with_the_official_evaluation(qa, exported):
    path, _ = exported
    report = export.verify(path, TRAIN, reference=qa, latency_examples=2)
    assert report["agreement"] == 1.0
    assert report["metrics"]["f1"] == report["keras_metrics"]["f1"]
    assert {"HasAns_f1", "NoAns_f1"} <= set(report["metrics"])
    assert report["windows"] > len(TRAIN) and np.isfinite(report["max_abs_difference"])


def test_the_file_carries_its_decoding_settings_and_null_threshold(qa, exported):
    path, info = exported
    assert info["window_length"] == 16 and info["settings"]["doc_stride"] == 4
    assert info["settings"]["null_threshold"] == pytest.approx(qa.null_threshold)
    # No Keras model: everything the app needs comes from the file.
    device = export.OnDeviceQuestionAnswerer.from_file(path)
    assert device.dynamic and device.sequence_length == 16
    assert (device.doc_stride, device.max_query_length, device.n_best,
            device.max_answer_length) == (4, qa.max_query_length, qa.n_best, qa.max_answer_length)
    assert device.null_threshold == pytest.approx(qa.null_threshold)
    for record in TRAIN:
        assert device.answer(record["question"], record["context"])["text"] == \
            qa.answer([record["question"]], [record["context"]])[0]["text"]


def test_the_constructor_reads_every_setting_from_the_file_as_from_file_does(qa, exported):
    # Issue 33, item 9: OnDeviceQuestionAnswerer(path) used kbert's defaults (doc stride 128,
    # no null threshold), so a v2.0 model never abstained on the device.
    path, _ = exported
    fields = ("lowercase", "sequence_length", "doc_stride", "max_query_length", "n_best",
              "max_answer_length", "null_threshold")
    plain, from_file = export.OnDeviceQuestionAnswerer(path), \
        export.OnDeviceQuestionAnswerer.from_file(path)
    settings = {f: getattr(plain.preprocessor.tokenizer, f) if f == "lowercase"
                else getattr(plain, f) for f in fields}
    assert settings == {f: getattr(from_file.preprocessor.tokenizer, f) if f == "lowercase"
                        else getattr(from_file, f) for f in fields}
    assert (settings["doc_stride"], settings["sequence_length"]) == (4, 16)
    assert settings["null_threshold"] == pytest.approx(qa.null_threshold)
    for record in TRAIN:
        assert plain.answer(record["question"], record["context"])["text"] == \
            qa.answer([record["question"]], [record["context"]])[0]["text"]
    # An argument still overrides the file; None: never abstain.
    assert export.OnDeviceQuestionAnswerer(path, null_threshold=None, n_best=5).null_threshold \
        is None
