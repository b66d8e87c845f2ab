import numpy as np
import pytest

import kbert
from kbert.errors import KbertInputError

PAIRS = [("a man plays", "a man plays"), ("a dog runs", "a dog runs"),
         ("a dog runs", "the film was great"), ("a cat sleeps", "i hate it")]
SCORES = [5.0, 4.8, 0.2, 0.0]


@pytest.fixture
def reg(tiny_parts):
    backbone, preprocessor = tiny_parts
    return kbert.TextRegressor(backbone, preprocessor)


def test_fit_and_predict_scores_for_pairs(reg):
    reg.compile(learning_rate=3e-3, warmup_ratio=0.0)
    history = reg.fit(PAIRS * 2, SCORES * 2, epochs=20, batch_size=4, seed=0, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    scores = reg.predict(PAIRS)
    assert scores.shape == (4,)
    report = reg.evaluate_metrics(PAIRS, SCORES)
    assert set(report) == {"loss", "pearson", "spearman"}
    assert report["spearman"] > 0.5


def test_scores_may_be_numeric_strings_but_not_words(reg):
    assert reg._targets(kbert.data.TextExamples(["a", "b"], labels=["4.5", 3])).ravel().tolist() == [4.5, 3.0]
    with pytest.raises(KbertInputError, match="row 1, field 'label': expected a finite number"):
        reg.fit(["a dog", "a cat"], [1.0, "high"], verbose=0)
    with pytest.raises(KbertInputError, match="expected a finite number"):
        reg.fit(["a dog", "a cat"], [1.0, float("nan")], verbose=0)


def test_regressor_round_trips(reg, tmp_path):
    reg.save(tmp_path / "reg.keras")
    loaded = kbert.load_model(tmp_path / "reg.keras")
    assert isinstance(loaded, kbert.TextRegressor)
    np.testing.assert_array_equal(loaded.predict(PAIRS), reg.predict(PAIRS))
