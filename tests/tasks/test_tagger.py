import numpy as np
import pytest

import kbert
from kbert.errors import KbertInputError
from tests.conftest import one_layer_task

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
WORDS = [["jeremy", "lives", "in", "paris"], ["the", "man", "works", "in", "london"],
         ["jeremy", "loves", "berlin"], ["the", "dog", "sleeps"]]
TAGS = [["B-PER", "O", "O", "B-LOC"], ["O", "O", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"],
        ["O", "O", "O"]]


@pytest.fixture
def tagger():
    return one_layer_task(kbert.TokenClassifier, labels=LABELS)


def test_learns_word_tags_and_reports_entity_f1(tagger):
    tagger.compile(learning_rate=5e-3, warmup_ratio=0.0)
    history = tagger.fit(WORDS * 4, TAGS * 4, epochs=15, batch_size=8, seed=0, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 4
    assert tagger.predict(WORDS) == TAGS
    report = tagger.evaluate_metrics(WORDS, TAGS)
    assert report["f1"] == 1.0 and report["accuracy"] == 1.0
    assert {"f1_PER", "f1_LOC", "precision", "recall", "loss", "support_LOC"} <= set(report)
    entities = tagger.entities([["jeremy", "lives", "in", "paris"]])[0]
    assert [(e.type, e.text, e.start, e.end) for e in entities] == [("PER", "jeremy", 0, 6),
                                                                    ("LOC", "paris", 16, 21)]


def test_every_word_of_a_long_sentence_gets_exactly_one_prediction():
    tagger = one_layer_task(kbert.TokenClassifier, sequence_length=8, labels=LABELS)
    long_sentence = ("the man plays in london and the dog sleeps in paris and jeremy "
                     "lives in berlin").split()
    prepared = tagger.prepare([long_sentence, ["jeremy"]])
    assert len(prepared.encoded) > 3  # split into windows
    scores = tagger.predict_scores([long_sentence, ["jeremy"]])
    assert [s.shape for s in scores] == [(16, 5), (1, 5)]
    np.testing.assert_allclose(scores[0].sum(-1), 1.0, rtol=1e-5)
    assert [len(t) for t in tagger.predict([long_sentence, ["jeremy"]])] == [16, 1]


def test_predictions_are_repaired_iob2(tagger):
    # Whatever the random head says, no I- tag may open an entity.
    for tags in tagger.predict(WORDS * 2):
        for previous, tag in zip(["O"] + tags, tags):
            assert not tag.startswith("I-") or previous[2:] == tag[2:]


def test_plain_tag_sets_report_accuracy_only():
    pos = one_layer_task(kbert.TokenClassifier, labels=["DT", "NN", "VBZ"])
    report = pos.evaluate_metrics([["the", "dog", "sleeps"]], [["DT", "NN", "VBZ"]])
    assert set(report) == {"loss", "accuracy", "macro_f1"}


def test_round_trip_keeps_labels_and_predictions(tagger, tmp_path):
    tagger.save(tmp_path / "tagger.keras")
    loaded = kbert.load_model(tmp_path / "tagger.keras")
    assert isinstance(loaded, kbert.TokenClassifier) and loaded.labels == LABELS
    np.testing.assert_allclose(np.concatenate(loaded.predict_scores(WORDS)),
                               np.concatenate(tagger.predict_scores(WORDS)), atol=1e-6)


def test_reads_conll_sentences_directly(tagger, tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("-DOCSTART- -X- O\n\nJeremy NNP B-PER\nlives VBZ O\n\nParis NNP I-LOC\n")
    sentences = kbert.data.read_conll(path, scheme="IOB1")
    prepared = tagger.prepare(sentences)
    assert prepared.examples.tags == [["B-PER", "O"], ["B-LOC"]]
    assert prepared.targets.to_list() == [[-1, 1, 0, -1], [-1, 3, -1]]


@pytest.mark.parametrize("words, tags, message", [
    (["jeremy lives"], None, "row 0, field 'words': a sentence must be a list of words"),
    ([[]], None, "row 0, field 'words': empty sentence"),
    ([["jeremy", ""]], None, "row 0, field 'words': word 2 is ''"),
    ([["jeremy", None]], None, "word 2 is None"),
    ([["jeremy", "lives"]], [["B-PER"]], "row 0, field 'tags': 2 words but 1 tags"),
    ([], None, "x: no sentences: the input is empty"),
    ([["jeremy", "lives"]], [["B-PER", "B-ORG"]], "row 0, field 'tags': unknown tag 'B-ORG' "
                                                  r"\(word 2, 'lives'\)"),
])
def test_bad_inputs_name_the_row_and_field(tagger, words, tags, message):
    with pytest.raises(KbertInputError, match=message):
        tagger.prepare(words, tags)


def test_unknown_tag_in_a_file_names_the_file_and_row(tagger, tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("Jeremy NNP B-PER\n\nlives VBZ O\nin IN O\nParis NNP B-GPE\n")
    with pytest.raises(KbertInputError, match=f"{path}, row 3, field 'tags': unknown tag 'B-GPE'"):
        tagger.prepare(kbert.data.read_conll(path))


def test_a_word_longer_than_a_window_is_cut_with_a_warning(caplog):
    tagger = one_layer_task(kbert.TokenClassifier, sequence_length=8, labels=LABELS)
    with caplog.at_level("WARNING"):
        prepared = tagger.prepare([["jeremy", "un" + "s" * 10]])
    assert "1 words had more than 6 sub-tokens" in caplog.text
    assert len(tagger.predict(prepared)[0]) == 2


def test_trains_on_mixed_length_batches_by_default():
    # Length buckets overweight the words of short sentences in a per-batch mean over words
    # (RESULTS.md, issue 22), so a tagger's fit mixes lengths unless asked not to.
    words = WORDS + [("the man works in london and the dog sleeps in paris " * 2).split()]
    tags = TAGS + [["O", "O", "O", "O", "B-LOC", "O", "O", "O", "O", "O", "B-LOC"] * 2]

    def trained(**options):
        model = one_layer_task(kbert.TokenClassifier, labels=LABELS)
        model.compile(learning_rate=1e-2, warmup_ratio=0.0)
        model.fit(words, tags, epochs=1, batch_size=2, seed=3, verbose=0, **options)
        return model.get_weights()

    default, mixed, bucketed = trained(), trained(group_by_length=False), trained(
        group_by_length=True)
    for a, b in zip(default, mixed):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(default, bucketed))
    assert kbert.TextClassifier.group_by_length and not kbert.TokenClassifier.group_by_length
