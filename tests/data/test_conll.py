import pytest

from kbert.data import entity_types, read_conll, to_iob2
from kbert.errors import KbertInputError

SAMPLE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_reads_sentences_skipping_docstart_with_any_tag_column(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(SAMPLE)
    ner = read_conll(path)
    assert ner.words == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert ner.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
    assert ner.rows == [3, 7]
    assert read_conll(path, tag_column=1).tags[0] == ["NNP", "VBZ", "JJ"]


def test_iob1_is_converted_to_iob2(tmp_path):
    path = tmp_path / "iob1.txt"
    path.write_text("Peter I-PER\nBlackburn I-PER\nin O\nBonn I-LOC\n")
    assert read_conll(path, scheme="IOB1").tags == [["B-PER", "I-PER", "O", "B-LOC"]]
    assert to_iob2(["I-PER", "B-PER", "I-PER"]) == ["B-PER", "B-PER", "I-PER"]


def test_malformed_line_names_its_row(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("EU B-ORG\nrejects\n")
    with pytest.raises(KbertInputError, match="bad.txt, row 2, field 'column -1': expected a word "
                                              "and at least 1 columns, got 1: 'rejects'"):
        read_conll(path)


def test_entity_types():
    assert entity_types(["B-PER", "I-PER", "O", "B-LOC", "B-PER"]) == ["LOC", "PER"]
    assert entity_types(["O", "O"]) == []


def test_real_conll2003_valid(shared_data):
    valid = read_conll(shared_data / "conll2003/valid.txt")
    assert len(valid) == 3250
    pos = read_conll(shared_data / "conll2003/valid.txt", tag_column=1)
    assert pos.words == valid.words
