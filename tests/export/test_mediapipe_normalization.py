"""MediaPipe's own BERT tokenizer (ASCII lowercasing only, accents kept) fed the text a
normalizing model's kbert.json asks for, and `verify` reporting non-ASCII text apart (issue 34)."""

import importlib.util

import keras
import numpy as np
import pytest

import kbert
from kbert import export
from kbert.preprocessing import TextPreprocessor
from kbert.preprocessing.tokenizer import BertTokenizer, Normalization
from tests.conftest import VOCAB, tiny_backbone, tiny_task

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                reason="pip install mediapipe==1.2.2")

ASCII = ["the film was great", "a dull book", "i loved it", "really bad food"]
# Every accented word is in the tiny vocabulary once its accents are stripped: the checkpoint's
# normalization reads "film", MediaPipe's own tokenizer "[UNK]" (it keeps accents, and "Í" is
# not an ASCII letter to lowercase).
ACCENTED = ["the fílm was gréat", "a dûll böok", "Í LÓVED IT", "réally bàd föod"]
TEXTS, LABELS = ASCII + ACCENTED, ["pos", "neg", "pos", "neg"] * 2
UNCASED = Normalization(lowercase=True)


def normalizing_task(cls, **kwargs):
    """A tiny task whose tokenizer normalizes as an uncased checkpoint's (accents stripped)."""
    keras.utils.set_random_seed(0)
    tokenizer = BertTokenizer(vocabulary=VOCAB, normalization=UNCASED)
    return cls(tiny_backbone(), TextPreprocessor(tokenizer, 32), **kwargs)


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    model = normalizing_task(kbert.TextClassifier, labels=["neg", "pos"])
    model.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)
    path = tmp_path_factory.mktemp("normalizing") / "classifier.tflite"
    export.to_tflite(model, path)
    return model, path


def test_normalize_for_mediapipe_applies_what_the_file_records(classifier_file, tmp_path):
    _, path = classifier_file
    assert export.recorded_normalization(path) == UNCASED
    assert export.normalize_for_mediapipe(path, "Le Fílm，ÉTÉ") == "le film，ete"
    assert export.normalize_for_mediapipe(path, ["Café", "日本"]) == ["cafe", " 日  本 "]
    assert UNCASED.normalize_text("Ｆｏｏ Ça\u200b") == "ｆｏｏ ca"  # no NFKC folding
    # A model saved before kbert recorded a normalization (KerasHub's tokenizer): unchanged.
    old = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
    old_path = tmp_path / "old.tflite"
    export.to_tflite(old, old_path)
    assert export.recorded_normalization(old_path) is None
    assert export.normalize_for_mediapipe(old_path, "Le Fílm") == "Le Fílm"


def test_mediapipe_classify_normalizes_as_an_app_does(classifier_file):
    model, path = classifier_file
    expected = model.predict(ACCENTED, verbose=0)

    def difference(scores):
        return np.abs(np.array([[row["neg"], row["pos"]] for row in scores]) - expected).max()

    normalized = export.mediapipe_classify(path, ACCENTED)
    raw = export.mediapipe_classify(path, ACCENTED, normalize=False)
    assert difference(normalized) < 1e-4 < difference(raw)


def test_verify_feeds_mediapipe_normalized_text_and_reports_non_ascii_apart(classifier_file):
    model, path = classifier_file
    report = export.verify(path, (TEXTS, LABELS), reference=model, mediapipe=True,
                           threads=(1,), latency_examples=2)
    assert report["mediapipe_normalization"] == UNCASED.get_config()
    # What an app feeds MediaPipe (normalized text) gives Keras's outputs on every text...
    assert report["mediapipe_agreement"] == 1.0
    assert report["mediapipe_max_abs_difference"] < 1e-4
    non_ascii, ascii_only = report["mediapipe_non_ascii"], report["mediapipe_ascii"]
    assert non_ascii["examples"] == len(ACCENTED) and ascii_only["examples"] == len(ASCII)
    assert non_ascii["agreement"] == 1.0 and non_ascii["max_abs_difference"] < 1e-4
    # ...while the raw text differs on accented text only (MediaPipe reads "[UNK]" there).
    assert non_ascii["raw_max_abs_difference"] > 1e-3
    assert ascii_only["raw_max_abs_difference"] < 1e-4
    assert report["mediapipe_raw_max_abs_difference"] == non_ascii["raw_max_abs_difference"]


def test_verify_embedder_reports_non_ascii_apart(tmp_path):
    embedder = normalizing_task(kbert.TextEmbedder, pooling="mean")
    path = tmp_path / "embedder.tflite"
    export.to_tflite(embedder, path)
    report = export.verify(path, TEXTS, reference=embedder, mediapipe=True, threads=(1,),
                           latency_examples=2)
    non_ascii = report["mediapipe_non_ascii"]
    assert non_ascii["examples"] == len(ACCENTED) and report["mediapipe_ascii"]["examples"] == 4
    assert report["mediapipe_min_cosine"] > 0.9999 and non_ascii["min_cosine"] > 0.9999
    assert non_ascii["max_abs_difference"] < 1e-4 < non_ascii["raw_max_abs_difference"]
    assert non_ascii["raw_min_cosine"] < 0.999
    assert report["mediapipe_ascii"]["raw_max_abs_difference"] < 1e-4
