"""Every input kind is the same data (issue 33, item 7): lists, a tuple of pairs, examples read
from a file, a `tf.data.Dataset` (labelled or not, batched or not), a streamed file and
pre-tokenized arrays give the same `predict`, `evaluate` and `evaluate_metrics`, or one clear
error. One fitted tiny classifier is shared by the whole matrix."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kbert
from kbert.errors import KbertInputError
from kbert.preprocessing import pipeline
from tests.conftest import one_layer_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food", "the dog",
         "a very very good and lovely film with the man", "so boring", "not good"]
SECOND = ["a lovely film", "the man eats", "i hate it", "the service was slow", "a cat sleeps",
          "really good", "so so dull and boring and bad", "fine"]
IDS = [1, 0, 1, 0, 0, 1, 0, 0]
NAMES = ["neg", "pos"]

# Each kind: (x, y) as that kind gives them, built from the same rows. "pairs" kinds only for
# pairs, "unlabelled" ones only for predict.
SINGLE_KINDS = ["list", "array", "read_table", "dataset", "batched_dataset", "stream_table",
                "unlabelled_dataset", "pretokenized"]
PAIR_KINDS = ["list", "tuple_of_pairs", "read_table", "dataset", "batched_dataset",
              "stream_table", "unlabelled_dataset", "pretokenized"]


@pytest.fixture(scope="module")
def clf():
    model = one_layer_task(kbert.TextClassifier, labels=NAMES)
    model.fit(TEXTS, IDS, epochs=2, batch_size=4, seed=0, verbose=0)
    return model


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("kinds") / "rows.tsv"
    path.write_text("a\tb\tlabel\n" + "".join(
        f"{a}\t{b}\t{NAMES[i]}\n" for a, b, i in zip(TEXTS, SECOND, IDS)))
    return path


def pretokenized(model, segments):
    encoded = pipeline.encode(model.preprocessor, segments)
    padded = model.preprocessor.pad(encoded.token_ids, encoded.segment_ids)
    return {name: np.asarray(value) for name, value in padded.items()}


def data_of(kind: str, pairs: bool, model, table):
    """(x, y) of the rows as `kind` gives them."""
    x = list(zip(TEXTS, SECOND)) if pairs else list(TEXTS)
    tensors = (TEXTS, SECOND) if pairs else TEXTS
    if kind == "list":
        return x, [NAMES[i] for i in IDS]
    if kind == "array":
        return np.array(TEXTS), np.array(IDS)
    if kind == "tuple_of_pairs":
        return tuple(x), tuple(IDS)
    if kind == "read_table":
        return kbert.data.read_table(table, "a", "label",
                                     text_pair_column="b" if pairs else None), None
    if kind == "dataset":
        return tf.data.Dataset.from_tensor_slices((tensors, IDS)), None
    if kind == "batched_dataset":
        return tf.data.Dataset.from_tensor_slices((tensors, IDS)).batch(3), None
    if kind == "unlabelled_dataset":
        return tf.data.Dataset.from_tensor_slices(tensors), None
    if kind == "stream_table":
        return kbert.data.stream_table(table, "a", "label", labels=NAMES,
                                       text_pair_column="b" if pairs else None), None
    if kind == "pretokenized":
        return pretokenized(model, [TEXTS, SECOND] if pairs else [TEXTS]), np.array(IDS)
    raise AssertionError(kind)


CASES = [(kind, False) for kind in SINGLE_KINDS] + [(kind, True) for kind in PAIR_KINDS]


@pytest.mark.parametrize("kind,pairs", CASES, ids=[f"{k}-{'pairs' if p else 'single'}"
                                                   for k, p in CASES])
def test_every_input_kind_gives_the_same_predictions_and_metrics(clf, table, kind, pairs):
    reference_x, reference_y = data_of("list", pairs, clf, table)
    x, y = data_of(kind, pairs, clf, table)
    np.testing.assert_allclose(clf.predict(x), clf.predict(reference_x), atol=1e-5)
    if kind == "unlabelled_dataset":
        with pytest.raises(KbertInputError, match="evaluate_metrics needs labels"):
            clf.evaluate_metrics(x)
        return
    expected = clf.evaluate_metrics(reference_x, reference_y)
    assert clf.evaluate_metrics(x, y) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(clf.evaluate(x, y, verbose=0),
                               clf.evaluate(reference_x, reference_y, verbose=0), rtol=1e-5)


def test_validation_data_of_every_kind_is_reported_alike(table):
    # a5efcfd streamed a tf.data validation set into Keras's loss and accuracy only; every
    # kind now gets the task's full report after each epoch.
    reports = []
    for kind in ("list", "dataset", "stream_table"):
        keras.utils.set_random_seed(0)
        model = one_layer_task(kbert.TextClassifier, labels=NAMES)
        history = model.fit(TEXTS, IDS, epochs=1, batch_size=4, seed=0, verbose=0,
                            validation_data=data_of(kind, False, model, table))
        reports.append({k: v[-1] for k, v in history.history.items() if k.startswith("val_")})
    assert {"val_loss", "val_accuracy", "val_f1", "val_mcc"} <= set(reports[0])
    assert reports[1] == pytest.approx(reports[0]) and reports[2] == pytest.approx(reports[0])


def test_datasets_that_cannot_be_read_are_refused_with_one_clear_error(clf):
    nested = tf.data.Dataset.from_tensor_slices({"text": TEXTS})
    with pytest.raises(KbertInputError, match="holds text, .*got"):
        clf.predict(nested)
    with pytest.raises(KbertInputError, match="carries its own labels"):
        clf.evaluate_metrics(tf.data.Dataset.from_tensor_slices((TEXTS, IDS)), IDS)
    with pytest.raises(KbertInputError, match="fit needs labels"):
        clf.fit(tf.data.Dataset.from_tensor_slices(TEXTS), verbose=0)
    tagger = one_layer_task(kbert.TokenClassifier, labels=["O", "B-PER", "I-PER"])
    words = tf.data.Dataset.from_tensor_slices(TEXTS)
    for call in (lambda: tagger.predict(words), lambda: tagger.evaluate_metrics(words),
                 lambda: tagger.fit(words, verbose=0)):
        with pytest.raises(KbertInputError, match="TokenClassifier.*not a tf.data.Dataset"):
            call()
    # Last: a5efcfd read this forever.
    infinite = tf.data.Dataset.from_tensor_slices((TEXTS, IDS)).repeat()
    with pytest.raises(KbertInputError, match="infinite"):
        clf.evaluate_metrics(infinite)
