"""kbert's copy of the official SQuAD evaluation (kbert.training.official_squad) is TF Model
Garden's, unchanged: where tf-models-official is installed, both score alike."""

import importlib

import pytest

from kbert.training import metrics
from kbert.training.official_squad import v1_1, v2_0

DATASET = [{"title": "t", "paragraphs": [{"context": "Denver Broncos won in Santa Clara.", "qas": [
    {"id": "a", "question": "Who won?",
     "answers": [{"text": "Denver Broncos", "answer_start": 0}]},
    {"id": "b", "question": "Where?", "answers": [{"text": "Santa Clara", "answer_start": 22}]},
    {"id": "c", "question": "When?", "answers": [], "is_impossible": True}]}]}]
PREDICTIONS = {"a": "the Denver Broncos", "b": "Clara", "c": ""}


def test_the_copy_gives_the_official_scores():
    answerable = [{"title": "t", "paragraphs": [{**DATASET[0]["paragraphs"][0], "qas":
                                                 DATASET[0]["paragraphs"][0]["qas"][:2]}]}]
    v1 = metrics.squad_report(answerable, {"a": "the Denver Broncos", "b": "Clara"})
    assert v1["exact_match"] == 50.0 and v1["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    v2 = metrics.squad_report(DATASET, PREDICTIONS, version_2=True)
    assert v2["exact"] == pytest.approx(200 / 3) and v2["NoAns_exact"] == 100.0


@pytest.mark.parametrize("ours, theirs", [(v1_1, "squad_evaluate_v1_1"),
                                          (v2_0, "squad_evaluate_v2_0")])
def test_the_copy_equals_tf_models_official_where_installed(ours, theirs):
    try:
        official = importlib.import_module(f"official.nlp.tools.{theirs}")
    except ImportError:
        pytest.skip("tf-models-official is not installed (it is no kbert dependency)")
    with open(official.__file__, encoding="utf-8") as a, \
            open(ours.__file__, encoding="utf-8") as b:
        assert a.read() == b.read()
