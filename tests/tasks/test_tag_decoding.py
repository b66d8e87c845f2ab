import itertools

import numpy as np

from kbert.tasks.tag_decoding import (decode_iob, decode_tags, entity_spans, is_iob, repair_iob,
                                      word_offsets)

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
    assert decode_tags(scores, ["I-X", "B-X"], iob=False) == ["B-X", "I-X"]


def test_the_tagger_decodes_its_probabilities_with_decode_iob():
    import kbert
    from tests.conftest import tiny_task

    tagger = tiny_task(kbert.TokenClassifier, labels=LABELS)
    scores = np.array([[0.05, 0.40, 0.45, 0.05, 0.05], [0.40, 0.02, 0.08, 0.05, 0.45]])
    assert tagger.tags_from_scores([scores]) == [["B-PER", "O"]]
