from kbert.tasks.tag_decoding import entity_spans, is_iob, repair_iob, word_offsets


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
