import itertools

import numpy as np
import pytest

from kbert.tasks.tag_decoding import (decode_iob, decode_tags, entity_spans, is_iob, repair_iob,
                                      resolve_scheme, tag_scheme, word_offsets)
from kbert.training.metrics import tagging_report

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def valid(tags):
    return all(not t.startswith("I-") or (i and tags[i - 1][2:] == t[2:])
               for i, t in enumerate(tags))


def test_repair_turns_an_opening_i_into_b_and_keeps_valid_sequences():
    assert repair_iob(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == \
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG"]
    valid = ["B-PER", "I-PER", "O", "B-LOC"]
    assert repair_iob(valid) == valid
    assert repair_iob(["B-PER", "I-LOC"]) == ["B-PER", "B-LOC"]  # type change opens an entity


def test_entity_spans_have_character_offsets_into_the_text():
    words = ["Jeremy", "Irons", "lives", "in", "New", "York", "."]
    tags = ["B-PER", "I-PER", "O", "O", "I-LOC", "I-LOC", "O"]  # needs repair at "New"
    text = "Jeremy  Irons lives in New York."
    spans = entity_spans(words, tags, text, scores=[0.9, 0.7, 1, 1, 0.8, 0.6, 1])
    assert [(e.type, e.text, e.start, e.end, e.first_word, e.end_word) for e in spans] == \
        [("PER", "Jeremy  Irons", 0, 13, 0, 2), ("LOC", "New York", 23, 31, 4, 6)]
    assert all(text[e.start:e.end] == e.text for e in spans)
    assert abs(spans[0].score - 0.8) < 1e-9


def test_adjacent_entities_of_one_type_stay_apart():
    spans = entity_spans(["Paris", "London"], ["B-LOC", "B-LOC"])
    assert [(e.text, e.start, e.end) for e in spans] == [("Paris", 0, 5), ("London", 6, 12)]


def test_word_offsets_default_to_single_spaces_and_scheme_detection():
    assert word_offsets(["a", "bb"]) == [(0, 1), (2, 4)]
    assert is_iob(["O", "B-PER"]) and not is_iob(["NN", "VB", "O"])


def test_decode_iob_is_the_most_probable_valid_sequence():
    # Argmax is I-PER, I-LOC: invalid. Repair would invent a LOC entity; the most probable
    # valid sequence keeps the PER entity and leaves the weak LOC word outside.
    scores = np.array([[0.05, 0.40, 0.45, 0.05, 0.05],
                       [0.40, 0.02, 0.08, 0.05, 0.45]])
    assert repair_iob([LABELS[j] for j in scores.argmax(-1)]) == ["B-PER", "B-LOC"]
    assert decode_iob(scores, LABELS) == ["B-PER", "O"]
    # A valid argmax is left as it is.
    confident = np.eye(5)[[1, 2, 0, 3, 4]] * 0.9 + 0.02
    assert decode_iob(confident, LABELS) == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]
    assert decode_iob(np.zeros((0, 5)), LABELS) == []


def test_decode_iob_matches_exhaustive_search_on_random_sentences():
    rng = np.random.default_rng(0)
    for _ in range(100):
        scores = rng.dirichlet(np.ones(len(LABELS)), size=int(rng.integers(1, 5)))
        best = max((seq for seq in itertools.product(LABELS, repeat=len(scores)) if valid(seq)),
                   key=lambda seq: sum(np.log(scores[i, LABELS.index(t)])
                                       for i, t in enumerate(seq)))
        assert decode_iob(scores, LABELS) == list(best)


def test_decode_tags_is_the_argmax_for_plain_tags():
    scores = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert decode_tags(scores, ["NN", "VB"]) == ["VB", "NN"]
    assert decode_tags(scores, ["I-X", "B-X"], scheme=None) == ["B-X", "I-X"]


def test_the_tagger_decodes_its_probabilities_with_decode_iob():
    import kbert
    from tests.conftest import tiny_task

    tagger = tiny_task(kbert.TokenClassifier, labels=LABELS)
    scores = np.array([[0.05, 0.40, 0.45, 0.05, 0.05], [0.40, 0.02, 0.08, 0.05, 0.45]])
    assert tagger.tags_from_scores([scores]) == [["B-PER", "O"]]


# IOB1 (issue 33, item 9): I-X after O opens an entity; B-X only splits two adjacent X entities.
IOB1_LABELS = ["O", "I-PER", "I-LOC", "B-LOC"]


def valid_iob1(tags):
    return all(not t.startswith("B-") or (i and tags[i - 1][2:] == t[2:])
               for i, t in enumerate(tags))


def test_an_iob1_label_set_is_recognised_or_refused_saying_how_to_convert():
    assert tag_scheme(["O", "I-PER", "I-LOC"]) == "IOB1"
    assert tag_scheme(IOB1_LABELS) == "IOB1"  # I-PER has no B-PER
    assert tag_scheme(LABELS) == "IOB2" and tag_scheme(["NN", "VB"]) is None
    assert resolve_scheme("IOB1", LABELS) == "IOB1"  # IOB1 data that uses B- tags: say so
    with pytest.raises(ValueError, match="IOB1.*scheme='IOB1'.*to_iob2"):
        resolve_scheme("IOB2", ["O", "I-PER"])
    with pytest.raises(ValueError, match="plain tags"):
        resolve_scheme("IOB2", ["NN", "VB"])


def test_iob1_tags_decode_to_their_entities():
    scores = np.array([[0.1, 0.8, 0.05, 0.05], [0.1, 0.7, 0.1, 0.1], [0.9, 0.05, 0.03, 0.02]])
    tags = decode_tags(scores, ["O", "I-PER", "I-LOC", "B-LOC"])
    assert tags == ["I-PER", "I-PER", "O"]  # a5efcfd decoded it as IOB2: all "O"
    (entity,) = entity_spans(["Jeremy", "Irons", "lives"], tags)
    assert (entity.type, entity.text) == ("PER", "Jeremy Irons")
    # Two adjacent LOC entities: B-LOC after I-LOC splits them.
    spans = entity_spans(["Paris", "London"], ["I-LOC", "B-LOC"])
    assert [e.text for e in spans] == ["Paris", "London"]


def test_iob1_decoding_matches_exhaustive_search_on_random_sentences():
    rng = np.random.default_rng(1)
    for _ in range(100):
        scores = rng.dirichlet(np.ones(len(IOB1_LABELS)), size=int(rng.integers(1, 5)))
        best = max((seq for seq in itertools.product(IOB1_LABELS, repeat=len(scores))
                    if valid_iob1(seq)),
                   key=lambda seq: sum(np.log(scores[i, IOB1_LABELS.index(t)])
                                       for i, t in enumerate(seq)))
        assert decode_iob(scores, IOB1_LABELS, "IOB1") == list(best)


def test_iob1_entities_are_scored_as_iob1():
    true = [["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]
    assert tagging_report(true, true, "IOB1")["f1"] == 1.0
    assert tagging_report(true, true, "IOB1")["support_LOC"] == 2.0
    merged = [["I-PER", "I-PER", "O", "I-LOC", "I-LOC"]]  # one LOC where there are two
    assert tagging_report(true, merged, "IOB1")["f1"] == pytest.approx(0.4)


def test_the_tagger_reads_iob1_labels_as_iob1():
    import kbert
    from tests.conftest import tiny_task

    tagger = tiny_task(kbert.TokenClassifier, labels=["O", "I-PER", "I-LOC"])
    assert tagger.scheme == "IOB1" and tagger.get_config()["scheme"] == "IOB1"
    scores = np.array([[0.1, 0.8, 0.1], [0.1, 0.7, 0.2], [0.9, 0.05, 0.05]])
    assert tagger.tags_from_scores([scores]) == [["I-PER", "I-PER", "O"]]
    # Chunk-like tags trained as plain tags: each word's argmax, no entity scores.
    plain = tiny_task(kbert.TokenClassifier, labels=["B-NP", "I-NP", "O"], scheme=None)
    assert plain.tags_from_scores([np.array([[0.2, 0.7, 0.1]])]) == [["I-NP"]]
