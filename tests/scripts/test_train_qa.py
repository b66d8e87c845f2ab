import json
import subprocess
import sys
from pathlib import Path

import kbert

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_qa.py"
CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"


def squad(path, impossible=True):
    def qa(qid, question, text=None):
        answers = [] if text is None else [{"text": text, "answer_start": CONTEXT.index(text)}]
        record = {"id": qid, "question": question, "answers": answers}
        if text is None:
            record["is_impossible"] = True
        return record

    articles = [{"title": f"article {a}", "paragraphs": [{"context": CONTEXT, "qas": [
        qa(f"{a}-1", "who lives in paris ?", "jeremy"),
        qa(f"{a}-2", "where does the dog sleep ?", "london"),
        *([qa(f"{a}-3", "what is the film ?")] if impossible else [])]}]} for a in range(4)]
    path.write_text(json.dumps({"version": "v2.0", "data": articles}))
    return path


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_v2_run_writes_official_predictions_and_keeps_the_null_threshold(tiny_preset, tmp_path):
    data = squad(tmp_path / "squad.json")
    model_dir = tmp_path / "qa"
    result = run(f"--preset={tiny_preset}", f"--split_file={data}", "--train_articles=3",
                 "--sequence_length=16", "--doc_stride=4", "--epochs=1", "--batch_size=4",
                 f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["squad_version"] == "2.0"
    assert metrics["train_articles"] == ["article 0", "article 1", "article 2"]
    assert metrics["eval_articles"] == ["article 3"]
    assert {"f1", "exact", "HasAns_f1", "NoAns_f1", "best_f1_thresh"} <= set(metrics["final"])
    predictions = json.loads((model_dir / "predictions.json").read_text())
    assert set(predictions) == {"3-1", "3-2", "3-3"}
    assert all(p == "" or p in CONTEXT for p in predictions.values())
    assert set(json.loads((model_dir / "null_odds.json").read_text())) == set(predictions)
    model = kbert.load_model(str(model_dir / "model.keras"))
    assert model.version_2_with_negative
    assert model.null_threshold == metrics["final"]["best_f1_thresh"]


def test_answer_not_at_its_start_fails_with_one_line_and_writes_nothing(tiny_preset, tmp_path):
    data = tmp_path / "bad.json"
    data.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": "q1", "question": "who ?", "answers": [{"text": "paris", "answer_start": 3}]}]}]}]}))
    model_dir = tmp_path / "qa"
    result = run(f"--preset={tiny_preset}", f"--train_file={data}", f"--model_dir={model_dir}")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"error: {data}, field 'question q1, answers[0]': the answer text 'paris' is not at " \
           "answer_start=3" in result.stderr
    assert not model_dir.exists()
