"""Every task through what a user does next, on the tiny backbone: fit, evaluate_metrics,
predict, save -> load_model -> identical predictions -> fit continues and lowers the loss.
Where a step is not meaningful for a task (an embedder has no training objective, a masked LM
predicts nothing), the call fails with a clear error and the test asserts it.
(The export half of the matrix is tests/export/test_every_task_exports.py.)"""

import dataclasses
from typing import Any, Callable

import keras
import numpy as np
import pytest

import kbert
from tests.conftest import one_layer_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food", "the dog",
         "a very good and lovely film", "so boring", "not good"]
SENTIMENT = ["pos", "neg", "pos", "neg", "neg", "pos", "neg", "neg"]
PAIRS = [("a man plays", "a man plays"), ("a dog runs", "a cat sleeps"),
         ("the film was great", "i loved the film"), ("the food was bad", "paris is lovely")] * 2
CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"


def squad(qid, question, answer):
    answers = [] if answer is None else [{"text": answer, "answer_start": CONTEXT.index(answer)}]
    return {"id": qid, "question": question, "context": CONTEXT, "answers": answers}


QUESTIONS = [squad("a", "who lives in paris ?", "jeremy"), squad("b", "where does the dog sleep ?",
                                                                 "london"),
             squad("c", "what sleeps with ?", "the cat"), squad("d", "who lives in london ?", "the dog")]
UNANSWERABLE = [squad("e", "what is the film ?", None)]


@dataclasses.dataclass
class Case:
    make: Callable[[], Any]
    x: Any
    y: Any = None
    predicts: Callable[[Any, Any], Any] | None = None  # model, x -> what must round-trip
    trains: bool = True
    epochs: int = 4  # Of the fit that continues after load_model.


def outputs(model, x):
    return model.predict(x)


CASES = {
    "classifier": Case(lambda: one_layer_task(kbert.TextClassifier, labels=["neg", "pos"]),
                       TEXTS, SENTIMENT, outputs),
    "pair_classifier": Case(lambda: one_layer_task(kbert.TextClassifier, labels=["same", "other"]),
                            PAIRS, ["same", "other", "same", "other"] * 2, outputs),
    "multi_label": Case(lambda: one_layer_task(kbert.TextClassifier, labels=["PER", "LOC"],
                                          multi_label=True),
                        ["jeremy lives in paris", "the dog", "jeremy", "paris and london"] * 2,
                        [["PER", "LOC"], [], ["PER"], ["LOC"]] * 2, outputs),
    "regressor": Case(lambda: one_layer_task(kbert.TextRegressor), PAIRS, [5.0, 0.5, 4.0, 1.0] * 2,
                      outputs),
    "tagger": Case(lambda: one_layer_task(kbert.TokenClassifier, labels=["O", "B-PER", "B-LOC"]),
                   [["jeremy", "lives", "in", "paris"], ["the", "dog", "sleeps"],
                    ["london", "is", "lovely"]] * 3,
                   [["B-PER", "O", "O", "B-LOC"], ["O", "O", "O"], ["B-LOC", "O", "O"]] * 3,
                   lambda model, x: np.concatenate(model.predict_scores(x))),
    "qa_v1": Case(lambda: one_layer_task(kbert.QuestionAnswerer, sequence_length=24, doc_stride=8),
                  QUESTIONS, None,
                  lambda model, x: model.window_outputs(model.prepare(x))),
    "qa_v2": Case(lambda: one_layer_task(kbert.QuestionAnswerer, sequence_length=24, doc_stride=8,
                                    version_2_with_negative=True, null_threshold=0.5),
                  QUESTIONS + UNANSWERABLE, None,
                  lambda model, x: model.window_outputs(model.prepare(x))),
    "masked_lm": Case(lambda: one_layer_task(kbert.MaskedLM), TEXTS * 4, None,
                      lambda model, x: model.heldout_loss(x)["loss"], epochs=8),
    "embedder": Case(lambda: one_layer_task(kbert.TextEmbedder, pooling="mean"), TEXTS, None,
                     lambda model, x: model.embed(x), trains=False),
}


def loss(model, case):
    """The training loss without dropout, on the training data."""
    result = model.evaluate(case.x, case.y, verbose=0)
    return float(result[0] if isinstance(result, (list, tuple)) else result)


@pytest.mark.parametrize("name", CASES)
def test_fit_evaluate_predict_save_load_and_train_on(name, tmp_path):
    case = CASES[name]
    model = case.make()
    if not case.trains:
        with pytest.raises(NotImplementedError, match="no training objective"):
            model.fit(case.x, case.y)
        with pytest.raises(NotImplementedError, match="no labels to score against"):
            model.evaluate_metrics(case.x)
    else:
        model.compile(learning_rate=3e-3, warmup_ratio=0.0)
        history = model.fit(case.x, case.y, epochs=2, batch_size=4, seed=0, verbose=0)
        assert len(history.history["loss"]) == 2
        report = model.evaluate_metrics(case.x, case.y)
        assert report and all(np.isfinite(v) for v in report.values() if np.isscalar(v))
    if name == "masked_lm":
        with pytest.raises(NotImplementedError, match="use heldout_loss"):
            model.predict(case.x)
    else:
        assert len(model.predict(case.x)) == len(case.x)
    expected = case.predicts(model, case.x)

    model.save(tmp_path / "model.keras")
    keras.utils.set_random_seed(1)
    loaded = kbert.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(case.predicts(loaded, case.x), expected, atol=1e-6)
    if not case.trains:
        return
    before = loss(loaded, case)
    loaded.fit(case.x, case.y, epochs=case.epochs, batch_size=4, seed=1, verbose=0)
    assert loss(loaded, case) < before - 1e-3, "fit on the loaded model did not train on"
