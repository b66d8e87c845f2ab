import json

import pytest

from kbert.data import check_disjoint, combine, read_squad, split_by_article
from kbert.errors import KbertInputError


def squad_file(tmp_path, articles, version="1.1"):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": version, "data": articles}))
    return path


def article(title, context, *qas):
    return {"title": title, "paragraphs": [{"context": context, "qas": list(qas)}]}


def qa(qid, question, text=None, start=None, impossible=False):
    record = {"id": qid, "question": question,
              "answers": [] if text is None else [{"text": text, "answer_start": start}]}
    if impossible:
        record["is_impossible"] = True
    return record


def test_reads_v1_and_v2_with_unanswerable_questions(tmp_path):
    path = squad_file(tmp_path, [
        article("Paris", "Jeremy lives in Paris.", qa("q1", "Who lives in Paris?", "Jeremy", 0),
                qa("q2", "Who flies?", impossible=True)),
        article("Berlin", "Anna works in Berlin.", qa("q3", "Where?", "Berlin", 14))], "v2.0")
    squad = read_squad(path)
    assert squad.ids == ["q1", "q2", "q3"] and squad.titles == ["Paris", "Paris", "Berlin"]
    assert squad.answers == [[{"text": "Jeremy", "answer_start": 0}], [],
                             [{"text": "Berlin", "answer_start": 14}]]
    assert squad.has_unanswerable
    train, evaluation = split_by_article(squad, 1)
    assert train.ids == ["q1", "q2"] and evaluation.ids == ["q3"]


def test_split_never_shares_an_article(shared_data):
    squad = read_squad(shared_data / "squad_v1.1" / "dev-v1.1-part-a.json")
    train, evaluation = split_by_article(squad, 30)
    assert len(train.articles()) == 30 and len(evaluation.articles()) == 8
    assert not set(train.titles) & set(evaluation.titles)
    assert not set(train.contexts) & set(evaluation.contexts)
    assert len(train) + len(evaluation) == len(squad) == 8582


def test_combine_keeps_a_question_repeated_about_the_same_paragraph_once(tmp_path):
    (tmp_path / "v1").mkdir()
    v1 = read_squad(squad_file(tmp_path / "v1", [
        article("Paris", "Jeremy lives in Paris.", qa("a1", "Who lives in Paris?", "Jeremy", 0))]))
    v2 = read_squad(squad_file(tmp_path, [
        article("Paris", "Jeremy lives in Paris.", qa("b1", "Who lives in Paris? ", "Jeremy", 0),
                qa("b2", "Who flies?", impossible=True)),
        article("Rome", "Anna works in Rome.", qa("b3", "Who lives in Paris?", "Anna", 0))],
        "v2.0"))
    both = combine([v1, v2])
    # b1 repeats a1 (same paragraph, same question); b3 asks it about another paragraph.
    assert both.ids == ["a1", "b2", "b3"]
    assert both.titles == ["Paris", "Paris", "Rome"] and both.answers[1] == []
    assert both.has_unanswerable and both.source == f"{v1.source} + {v2.source}"


def test_evaluation_sharing_a_paragraph_with_training_is_refused(shared_data):
    squad = read_squad(shared_data / "squad_v1.1" / "dev-v1.1-part-a.json")
    train, evaluation = split_by_article(squad, 30)
    check_disjoint(train, evaluation)  # An article split is disjoint.
    with pytest.raises(KbertInputError, match="1 evaluation article\\(s\\) share paragraphs "
                       "with the training data .*, first 'Kenya'"):
        check_disjoint(combine([train, squad.select(range(len(squad) - 3, len(squad)))]),
                       evaluation)


@pytest.mark.parametrize("answer, message", [
    ({"text": "Jeremy", "answer_start": 3}, "the answer text 'Jeremy' is not at answer_start=3"),
    ({"text": "Paris.", "answer_start": 40}, "answer_start=40 with 6 characters lies outside"),
    ({"text": "", "answer_start": 0}, "the answer text is empty"),
    ({"text": "Jeremy"}, "an answer needs 'text' \\(string\\) and 'answer_start' \\(integer\\)"),
])
def test_bad_answers_name_the_file_question_and_answer(tmp_path, answer, message):
    path = squad_file(tmp_path, [article("Paris", "Jeremy lives in Paris.", {
        "id": "q7", "question": "Who?", "answers": [answer]})])
    with pytest.raises(KbertInputError, match=f"field 'question q7, answers\\[0\\]': {message}"):
        read_squad(path)


def test_files_that_are_not_squad_are_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"rows": []}')
    with pytest.raises(KbertInputError, match="'data' list of articles"):
        read_squad(path)
    path.write_text("{not json")
    with pytest.raises(KbertInputError, match="not a valid SQuAD JSON"):
        read_squad(path)
    with pytest.raises(KbertInputError, match="no questions"):
        read_squad(squad_file(tmp_path, []))
