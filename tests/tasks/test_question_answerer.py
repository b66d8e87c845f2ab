import numpy as np
import pytest

import kbert
from kbert.errors import KbertInputError
from tests.conftest import one_layer_task

CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"


def record(qid, question, text=None, nth=0):
    answers = [] if text is None else [{"text": text, "answer_start": CONTEXT.index(text)}]
    return {"id": qid, "question": question, "context": CONTEXT, "answers": answers}


TRAIN = [record("a", "who lives in paris ?", "jeremy"),           # very start of the context
         record("b", "the dog sleeps in ?", "london"),      # straddles windows' edges
         record("c", "what sleeps with ?", "the cat"),      # very end of the context
         record("d", "what is the film ?")]                        # unanswerable


@pytest.fixture(scope="module")
def qa():
    model = one_layer_task(kbert.QuestionAnswerer, sequence_length=16, doc_stride=4,
                      version_2_with_negative=True)
    model.compile(learning_rate=5e-3, warmup_ratio=0.0)
    model.fit(TRAIN * 8, epochs=30, batch_size=8, seed=0, verbose=0)
    model.fit_null_threshold(TRAIN)
    return model


def test_learns_answers_across_windows_and_abstains_on_unanswerable(qa):
    assert len(qa.prepare(TRAIN).encoded) > len(TRAIN)  # contexts span several windows
    answers = qa.answer([r["question"] for r in TRAIN], [CONTEXT] * 4)
    assert [a["text"] for a in answers] == ["jeremy", "london", "the cat", ""]
    for a in answers[:3]:
        assert CONTEXT[a["start"]:a["end"]] == a["text"] and 0 < a["score"] <= 1
    assert qa.predict(TRAIN) == {"a": "jeremy", "b": "london", "c": "the cat", "d": ""}


def test_official_scores_for_v1_and_v2_data(qa):
    v2 = qa.evaluate_metrics(TRAIN)
    assert v2["f1"] == 100.0 and v2["HasAns_f1"] == 100.0 and v2["NoAns_f1"] == 100.0
    assert {"exact", "HasAns_exact", "NoAns_exact", "best_f1", "best_f1_thresh"} <= set(v2)
    v1 = one_layer_task(kbert.QuestionAnswerer, sequence_length=16, doc_stride=4)
    report = v1.evaluate_metrics(TRAIN[:3])
    assert set(report) == {"exact_match", "f1"} and 0 <= report["f1"] <= 100


def test_contexts_shorter_than_a_window_and_prediction_without_answers(qa):
    short = qa.answer(["who lives in paris ?"], ["jeremy lives in paris"])
    assert short[0]["text"] in ("", "jeremy", "jeremy lives", "paris")
    assert len(qa.prepare([{"question": "who ?", "context": "jeremy"}]).encoded) == 1


def test_round_trip_keeps_the_null_threshold(qa, tmp_path):
    qa.save(tmp_path / "qa.keras")
    loaded = kbert.load_model(tmp_path / "qa.keras")
    assert isinstance(loaded, kbert.QuestionAnswerer)
    assert loaded.null_threshold == qa.null_threshold and loaded.version_2_with_negative
    assert loaded.predict(TRAIN) == qa.predict(TRAIN)


def test_bad_records_name_the_question_and_field(qa):
    with pytest.raises(KbertInputError, match="question q9, answers\\[0\\]': the answer text "
                                              "'paris' is not at answer_start=0"):
        qa.prepare([{"id": "q9", "question": "who ?", "context": CONTEXT,
                     "answers": [{"text": "paris", "answer_start": 0}]}])
    with pytest.raises(KbertInputError, match="row 0: expected a dict"):
        qa.prepare(["who lives in paris ?"])
    with pytest.raises(KbertInputError, match="2 questions but 1 contexts"):
        qa.answer(["a ?", "b ?"], [CONTEXT])


def test_export_outputs_follow_the_bert_qa_convention(qa):
    outputs = qa.serving_outputs(np.zeros((1, 16, 2), np.float32))
    assert set(outputs) == {"start_logits", "end_logits"} and outputs["start_logits"].shape == (1, 16)
