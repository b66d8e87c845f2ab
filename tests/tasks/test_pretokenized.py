"""Pre-tokenized inputs ({"token_ids", "padding_mask", "segment_ids"} arrays): they train exactly
as the same texts do, bad arrays get one error naming row and field, and on the JAX backend a
task is built, trained, resumed, saved, reloaded and used where `import tensorflow` fails."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import kbert
from kbert.errors import KbertInputError
from kbert.preprocessing import TextPreprocessor, pipeline
from tests.conftest import tiny_backbone, one_layer_task, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food", "the dog",
         "a very very good and lovely film with the man", "so boring", "not good"] * 3
LABELS = [1, 0, 1, 0, 0, 1, 0, 0] * 3


def classifier(sequence_length=16):
    keras.utils.set_random_seed(0)
    preprocessor = TextPreprocessor(tiny_tokenizer(), sequence_length,
                                    bucket_lengths=[sequence_length])
    return kbert.TextClassifier(tiny_backbone(), preprocessor, num_classes=2)


def features_of(model, texts):
    encoded = pipeline.encode(model.preprocessor, [texts])
    padded = model.preprocessor.pad(encoded.token_ids, encoded.segment_ids)
    return {name: np.asarray(value) for name, value in padded.items()}


def test_pretokenized_arrays_train_exactly_as_the_same_texts():
    # One length bucket and no grouping: the text batches are the same padded rows.
    by_text, by_arrays = classifier(), classifier()
    x = features_of(by_text, TEXTS)
    assert x["token_ids"].shape == (24, 16) and not x["segment_ids"].any()
    options = dict(epochs=2, batch_size=4, seed=7, group_by_length=False, verbose=0)
    text_history = by_text.fit(TEXTS, LABELS, **options)
    array_history = by_arrays.fit(x, np.array(LABELS), **options)
    np.testing.assert_allclose(array_history.history["loss"], text_history.history["loss"],
                               rtol=1e-6)
    for a, b in zip(by_arrays.get_weights(), by_text.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(by_arrays.predict(x), by_text.predict(TEXTS), atol=1e-6)
    assert by_arrays.evaluate_metrics(x, LABELS)["accuracy"] == pytest.approx(
        by_text.evaluate_metrics(TEXTS, LABELS)["accuracy"])


def test_bad_arrays_are_refused_naming_the_row_and_field():
    model = classifier()
    x = features_of(model, TEXTS[:4])

    def error(**changes):
        with pytest.raises(KbertInputError) as caught:
            model.fit({**x, **changes}, LABELS[:4], verbose=0)
        return str(caught.value)

    mask = x["padding_mask"].copy()
    mask[2, 1], mask[2, 5] = 0, 1
    assert "row 2, field 'padding_mask'" in error(padding_mask=mask)
    assert "padding must come at the end" in error(padding_mask=mask)
    ids = x["token_ids"].copy()
    ids[3, 2] = 10_000
    assert "row 3, field 'token_ids'" in error(token_ids=ids)
    assert "differ in shape" in error(segment_ids=x["segment_ids"][:, :8])
    with pytest.raises(KbertInputError, match="exactly"):
        model.fit({"token_ids": x["token_ids"]}, LABELS[:4])
    with pytest.raises(KbertInputError, match="4 rows but 3 targets"):
        model.fit(x, LABELS[:3])
    with pytest.raises(KbertInputError, match="numeric targets"):
        model.fit(x, ["pos", "neg", "pos", "neg"])


def test_word_level_tasks_give_outputs_for_arrays_and_refuse_to_decode_them():
    tagger = one_layer_task(kbert.TokenClassifier, sequence_length=16, labels=["O", "B-PER", "I-PER"])
    x = features_of(tagger, ["jeremy lives in paris", "the man"])
    tags = np.where(x["padding_mask"] == 1, 0, -1)  # -1: no tag counts there.
    tagger.fit(x, tags, epochs=1, batch_size=2, verbose=0)
    assert tagger.predict(x).shape == (2, 16, 3)  # per-token logits
    with pytest.raises(KbertInputError, match="predict_scores decodes from word lists"):
        tagger.predict_scores(x)
    mlm = one_layer_task(kbert.MaskedLM, sequence_length=16)
    with pytest.raises(KbertInputError, match="masks raw texts itself"):
        mlm.fit(x)


def test_targets_out_of_range_are_refused_naming_the_row():
    # Issue 33, item 8: a5efcfd checked only that targets are finite numbers.
    model = classifier()
    x = features_of(model, TEXTS[:4])

    def error(y, task=model, features=x):
        with pytest.raises(KbertInputError) as caught:
            task.fit(features, np.asarray(y), verbose=0)
        return str(caught.value)

    assert error([0, 1, 2, 1]) == "x, row 2, field 'y': class id (num_classes=2) outside 0..1 " \
                                  "(got 2)"
    assert "row 1" in error([0, -1, 0, 1]) and "whole number" in error([0, 1, 0.5, 1])
    assert "shape (4,) or (4, 1)" in error(np.zeros((4, 3)))
    # Raw labels given as class ids are checked the same way (by the task's _targets).
    with pytest.raises(KbertInputError, match="row 2, field 'label': unknown label 2"):
        model.evaluate_metrics(TEXTS[:4], [0, 1, 2, 1])
    multi = kbert.TextClassifier(tiny_backbone(), model.preprocessor, num_classes=3,
                                 multi_label=True)
    multi_hot = np.eye(3)[[0, 1, 2, 0]]
    multi_hot[3, 0] = 2.0
    assert "row 3, field 'y': multi-hot label outside 0..1" in error(multi_hot, task=multi)

    tagger = one_layer_task(kbert.TokenClassifier, sequence_length=16, labels=["O", "B-PER", "I-PER"])
    words = features_of(tagger, ["jeremy lives in paris", "the man"])
    tags = np.where(words["padding_mask"] == 1, 0, -1)
    tags[1, 1] = 3
    assert error(tags, tagger, words) == "x, row 1, field 'y': tag id (3 labels) outside 0..2 " \
                                         "(got 3; -1 marks no target)"
    assert "shape (2, 16)" in error(tags[:, :8], tagger, words)

    qa = one_layer_task(kbert.QuestionAnswerer, sequence_length=16)
    rows = features_of(qa, ["who lives in paris", "the dog sleeps in london"])
    lengths = rows["padding_mask"].sum(1)
    spans = np.array([[1, 2], [2, lengths[1]]])  # row 1 ends past its last real token
    assert error(spans, qa, rows).startswith("x, row 1, field 'y': answer start/end position "
                                             "outside the row's real tokens")
    qa.fit(rows, np.array([[1, 2], [0, 0]]), verbose=0)  # [CLS]: no answer, accepted


# Run in a process where `import tensorflow` (and tensorflow_text) fails, on the JAX backend.
WITHOUT_TENSORFLOW = """
import json, sys
sys.modules["tensorflow"] = sys.modules["tensorflow_text"] = None
sys.path.insert(0, {root!r})
import os
os.environ["KERAS_BACKEND"] = "jax"
import keras, numpy as np, kbert
from kbert.lazy import MissingTensorFlow
from tests.conftest import Crash
args = json.loads(sys.argv[1])
x = {{k: np.array(v) for k, v in args["x"].items()}}
y = np.array(args["y"])

def train(checkpoint_dir, crash_at=None):
    keras.utils.set_random_seed(0)
    clf = kbert.TextClassifier.from_preset(args["preset"], num_classes=2, sequence_length=16)
    clf.fit(x, y, epochs=3, batch_size=4, seed=7, verbose=0, checkpoint_dir=checkpoint_dir,
            checkpoint_every=2, callbacks=[Crash(crash_at)] if crash_at else [])
    return clf

whole = train(args["dir"] + "/whole")
try:
    train(args["dir"] + "/crashed", crash_at=7)
except KeyboardInterrupt:
    pass
resumed = train(args["dir"] + "/crashed")
whole.save(args["dir"] + "/model.keras")
loaded = kbert.load_model(args["dir"] + "/model.keras")
loaded_difference = float(np.abs(loaded.predict(x) - whole.predict(x)).max())
loaded.fit(x, y, epochs=1, batch_size=4, seed=1, verbose=0)  # and train on
try:
    whole.predict(["a text"])
    raw_text = "worked"
except MissingTensorFlow as error:
    raw_text = str(error)
try:  # An out-of-range class id: JAX's loss would train on it silently.
    whole.fit(x, np.where(np.arange(len(y)) == 5, 2, y), verbose=0)
    out_of_range = "trained"
except kbert.KbertInputError as error:
    out_of_range = str(error)
print(json.dumps({{
    "backend": keras.backend.backend(),
    "tensorflow": sorted(m for m in sys.modules if m.startswith("tensorflow") and sys.modules[m]),
    "resumed_equal": all(np.array_equal(a, b) for a, b in zip(whole.get_weights(),
                                                               resumed.get_weights())),
    "loaded_difference": loaded_difference,
    "trained_on": float(np.abs(loaded.predict(x) - whole.predict(x)).max()),
    "accuracy": whole.evaluate_metrics(x, y)["accuracy"],
    "raw_text": raw_text, "out_of_range": out_of_range}}))
"""


def test_without_tensorflow_a_jax_task_trains_resumes_saves_and_reloads(tmp_path,
                                                                        one_layer_preset):
    model = classifier()
    x = features_of(model, TEXTS)
    args = {"preset": one_layer_preset, "dir": str(tmp_path), "y": LABELS,
            "x": {name: value.tolist() for name, value in x.items()}}
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW.format(root=str(ROOT)),
                           json.dumps(args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["tensorflow"] == []
    assert result["resumed_equal"]  # crashed at step 7 of 18, resumed from step 6
    assert result["loaded_difference"] < 1e-6  # save / load_model round trip
    assert result["trained_on"] > 1e-4  # training the loaded model changed its weights
    assert 0.0 <= result["accuracy"] <= 1.0
    assert "TensorFlow is not installed" in result["raw_text"]
    assert "pre-tokenized arrays" in result["raw_text"]
    assert result["out_of_range"] == "x, row 5, field 'y': class id (num_classes=2) outside " \
                                     "0..1 (got 2)"
