"""The exported tagger run the way an app runs it (export/on_device_tagger.py) against Keras."""

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import kbert
from kbert import export
from kbert.tasks.tag_decoding import entity_spans
from tests.conftest import one_layer_task

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
WORDS = [["jeremy", "lives", "in", "paris"], ["the", "man", "works", "in", "london"],
         ["jeremy", "loves", "berlin"]]
TAGS = [["B-PER", "O", "O", "B-LOC"], ["O", "O", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]]
LONG = "the man plays in london and the dog sleeps in paris and jeremy lives in berlin".split()


@pytest.fixture(scope="module")
def tagger():
    model = one_layer_task(kbert.TokenClassifier, sequence_length=8, labels=LABELS)
    model.compile(learning_rate=5e-3, warmup_ratio=0.0)
    model.fit(WORDS * 4, TAGS * 4, epochs=10, batch_size=4, seed=0, verbose=0)
    return model


@pytest.fixture(scope="module")
def exported(tagger, tmp_path_factory):
    path = tmp_path_factory.mktemp("tagger") / "model.tflite"
    info = export.to_tflite(tagger, path)["metadata"]  # dynamic length, metadata in one call
    return path, info


def test_tagger_exports_per_token_logits_with_labels_and_vocab(exported):
    path, info = exported
    (signature,) = Interpreter(model_path=str(path)).get_signature_list().values()
    assert signature == {"inputs": ["ids", "mask", "segment_ids"], "outputs": ["logits"]}
    assert info["task"] == "tagger" and info["labels"] == LABELS
    assert info["outputs"][0]["shape"] == [1, -1, len(LABELS)]
    # The label scheme travels in the file: the windows are cut at the model's 8 tokens.
    assert (info["window_length"], info["settings"]) == (
        8, {"window_stride": None, "iob": True, "scheme": "IOB2"})
    assert {"vocab.txt", "labels.txt"} <= set(export.packed_files(path))


def test_reference_pipeline_matches_keras_word_for_word(tagger, exported):
    path, _ = exported
    device = export.OnDeviceTagger(path)
    sentences = WORDS + [LONG]  # the long one spans several 8-token windows
    np.testing.assert_allclose(np.concatenate(device.word_scores(sentences)),
                               np.concatenate(tagger.predict_scores(sentences)), atol=1e-5)
    assert device.tag(sentences) == tagger.predict(sentences)


def test_entities_from_raw_text_carry_character_offsets(tagger, exported):
    path, _ = exported
    text = "jeremy lives in paris, and  jeremy loves berlin."
    entities = export.OnDeviceTagger(path).entities(text)
    words, spans = export.split_words(text)
    assert words[4] == "," and spans[4] == (21, 22)
    expected = entity_spans(words, tagger.predict([words])[0], text)
    assert entities and [(e.type, e.text, e.start, e.end) for e in entities] == \
        [(e.type, e.text, e.start, e.end) for e in expected]
    assert all(text[e.start:e.end] == e.text for e in entities)


def test_verify_reports_entity_f1_of_both_runtimes(tagger, exported):
    path, _ = exported
    report = export.verify(path, (WORDS, TAGS), reference=tagger, latency_examples=3)
    assert report["agreement"] == 1.0 and report["max_abs_difference"] < 1e-4
    assert report["metrics"]["f1"] == report["keras_metrics"]["f1"]
    assert set(report["latency_ms"]) == {"1", "2"}


def test_int8_tagger_calibrates_on_word_lists(tagger, tmp_path):
    info = export.to_tflite(tagger, tmp_path / "int8.tflite", quantization="int8",
                            representative_data=WORDS)
    assert not {"VAR_HANDLE", "READ_VARIABLE"} & set(info["ops"])


def test_the_window_stride_and_casing_come_from_the_file(tmp_path):
    # Untrained is enough: the file alone must window the sentence as the model does.
    strided = one_layer_task(kbert.TokenClassifier, sequence_length=8, labels=LABELS, window_stride=3)
    path = tmp_path / "strided.tflite"
    export.to_tflite(strided, path)
    device = export.OnDeviceTagger(path)  # No Keras model, no settings passed.
    assert (device.window_stride, device.sequence_length, device.iob) == (3, 8, True)
    assert device.dynamic and device.preprocessor.tokenizer.lowercase
    np.testing.assert_allclose(np.concatenate(device.word_scores([LONG])),
                               np.concatenate(strided.predict_scores([LONG])), atol=1e-5)
