import json

import kbert
from tests import programs

CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"


def squad(path, impossible=True, titles=("article 0", "article 1", "article 2", "article 3"),
          days=(0, 1, 2, 3)):
    """Articles of one paragraph each: the same sentence, told on the article's day."""
    def qa(qid, question, text=None):
        answers = [] if text is None else [{"text": text, "answer_start": CONTEXT.index(text)}]
        record = {"id": qid, "question": question, "answers": answers}
        if text is None:
            record["is_impossible"] = True
        return record

    articles = [{"title": title, "paragraphs": [{"context": f"{CONTEXT} on day {day}", "qas": [
        qa(f"{title}-1", "who lives in paris ?", "jeremy"),
        qa(f"{title}-2", "where does the dog sleep ?", "london"),
        *([qa(f"{title}-3", "what is the film ?")] if impossible else [])]}]}
        for title, day in zip(titles, days)]
    path.write_text(json.dumps({"version": "v2.0" if impossible else "1.1", "data": articles}))
    return path


def run(*args):
    return programs.run("train_qa", *args)


def test_v2_run_writes_official_predictions_and_keeps_the_null_threshold(one_layer_preset, tmp_path):
    data = squad(tmp_path / "squad.json")
    model_dir = tmp_path / "qa"
    result = run(f"--preset={one_layer_preset}", f"--split_file={data}", "--train_articles=3",
                 "--sequence_length=16", "--doc_stride=4", "--epochs=1", "--batch_size=4",
                 f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["squad_version"] == "2.0"
    assert metrics["train_articles"] == ["article 0", "article 1", "article 2"]
    assert metrics["eval_articles"] == ["article 3"]
    assert {"f1", "exact", "HasAns_f1", "NoAns_f1", "best_f1_thresh"} <= set(metrics["final"])
    predictions = json.loads((model_dir / "predictions.json").read_text())
    assert set(predictions) == {"article 3-1", "article 3-2", "article 3-3"}
    assert all(p == "" or p in f"{CONTEXT} on day 3" for p in predictions.values())
    assert set(json.loads((model_dir / "null_odds.json").read_text())) == set(predictions)
    model = kbert.load_model(str(model_dir / "model.keras"))
    assert model.version_2_with_negative
    assert model.null_threshold == metrics["final"]["best_f1_thresh"]


def test_answer_not_at_its_start_fails_with_one_line_and_writes_nothing(one_layer_preset, tmp_path):
    data = tmp_path / "bad.json"
    data.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "q1", "question": "who ?", "answers": [{"text": "paris", "answer_start": 3}]}]}]}]}))
    model_dir = tmp_path / "qa"
    result = run(f"--preset={one_layer_preset}", f"--train_file={data}", f"--model_dir={model_dir}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"error: {data}, field 'question q1, answers[0]': the answer text 'paris' is not at " \
           "answer_start=3" in result.stderr
    assert not model_dir.exists()


def test_v1_file_adds_to_the_split_and_evaluation_must_not_share_a_paragraph(one_layer_preset,
                                                                           tmp_path):
    # The v1.1 file repeats article 0 of the v2.0 file (its answerable questions count once)
    # and adds one article of its own.
    v2 = squad(tmp_path / "v2.json")
    v1 = squad(tmp_path / "v1.json", impossible=False, titles=("article 0", "extra"), days=(0, 9))
    model_dir = tmp_path / "qa"
    common = [f"--preset={one_layer_preset}", f"--split_file={v2}", "--sequence_length=16",
              "--doc_stride=4", "--epochs=1", "--batch_size=4", f"--model_dir={model_dir}"]
    result = run(*common, "--train_articles=3", f"--train_file={v1}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["train_articles"] == ["article 0", "article 1", "article 2", "extra"]
    assert metrics["train_examples"] == 9 + 2  # 3 articles x 3 questions, then "extra"'s 2.
    assert metrics["eval_articles"] == ["article 3"]
    assert metrics["squad_version"] == "2.0"

    # A training file holding the evaluation articles' paragraphs (under other titles) is
    # refused before anything is written.
    leaking = squad(tmp_path / "leak.json", impossible=False, titles=("a", "b", "c", "d"))
    model_dir = tmp_path / "leak"
    result = run(*common[:-1], "--train_articles=1", f"--train_file={leaking}",
                 f"--model_dir={model_dir}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "3 evaluation article(s) share paragraphs with the training data" in result.stderr
    assert "first 'article 1'" in result.stderr
    assert not model_dir.exists()
