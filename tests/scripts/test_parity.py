"""The parity harness's plain readers (benchmarks/parity.py) read the same examples as
kbert's own readers: the reference side never imports kbert, so a reader that drifted would
compare the two frameworks on different data. Real files from ../shared/data."""

from pathlib import Path

import pytest

import kbert
from benchmarks import parity


@pytest.mark.parametrize("tag_column", [-1, 1])
def test_conll_reader_matches_kbert(shared_data, tag_column):
    path = shared_data / "conll2003" / "train.txt"
    words, tags = parity.read_conll(str(path), tag_column, 500)
    ours = kbert.data.read_conll(path, tag_column=tag_column).take(500)
    assert words == [list(w) for w in ours.words] and tags == [list(t) for t in ours.tags]


@pytest.mark.parametrize("task", ["sst2", "mrpc", "stsb"])
def test_tsv_reader_matches_kbert(shared_data, task):
    recipe = parity.TASKS[task].defaults
    path = shared_data / Path(recipe["train_file"]).relative_to("../shared/data")
    texts, pairs, labels = parity.read_tsv(str(path), recipe["text"], recipe["label"],
                                           recipe.get("pair"), 400)
    ours = kbert.data.read_table(path, text_column=recipe["text"], label_column=recipe["label"],
                                 text_pair_column=recipe.get("pair"), max_rows=400)
    assert texts == list(ours.texts) and labels == [str(v) for v in ours.labels]
    assert pairs == (list(ours.text_pairs) if recipe.get("pair") else None)


@pytest.mark.parametrize("name", ["squad_v1.1/dev-v1.1-part-a.json",
                                  "squad_v2.0/dev-v2.0-part-a.json"])
def test_squad_reader_and_split_match_kbert(shared_data, name):
    records = parity.read_squad_json(str(shared_data / name))
    ours = kbert.data.read_squad(shared_data / name)
    assert [r["id"] for r in records] == ours.ids
    assert [r["context"] for r in records] == ours.contexts
    assert [r["answers"] for r in records] == ours.answers
    titles = [r["title"] for r in records]
    train, evaluation = parity.squad_split(titles, 3000, 1000)
    assert train == list(range(3000)) and len(evaluation) == 1000
    # Split by article: no evaluation question comes from an article that trained.
    assert not {titles[i] for i in train} & {titles[i] for i in evaluation}
    assert evaluation == sorted(evaluation) and min(evaluation) >= 3000


def test_squad_scores_are_the_official_ones(shared_data):
    """The driver's scoring: gold answers score 100; v2.0 abstains where the null-score
    difference says so, and reports the best threshold's F1 too."""
    args = {**parity.TASKS["squad_v2"].defaults,
            "squad_file": str(shared_data / "squad_v2.0/dev-v2.0-part-a.json"),
            "train_examples": 3000, "eval_examples": 200}
    records = parity.read_squad_json(args["squad_file"])
    _, evaluation = parity.squad_split([r["title"] for r in records], 3000, 200)
    gold = {records[i]["id"]: (records[i]["answers"][0]["text"] if records[i]["answers"] else "")
            for i in evaluation}
    unanswerable = {q for q, text in gold.items() if not text}
    assert 0 < len(unanswerable) < len(gold)
    # Every question gets its gold span (or a wrong one where unanswerable), and the null-score
    # difference is high exactly where the answer is "".
    scores = parity.squad_scores(args, {
        "predictions": {q: text or "wrong" for q, text in gold.items()},
        "null_score_diffs": {q: 5.0 if q in unanswerable else -5.0 for q in gold}})
    assert scores["f1"] == pytest.approx(100.0) and scores["best_f1"] == pytest.approx(100.0)
    # Never abstaining costs every unanswerable question at threshold 0.
    scores = parity.squad_scores(args, {
        "predictions": {q: text or "wrong" for q, text in gold.items()},
        "null_score_diffs": {q: -5.0 for q in gold}})
    assert scores["NoAns_f1"] == pytest.approx(0.0)
    assert scores["f1"] == pytest.approx(100.0 * (1 - len(unanswerable) / len(gold)))
