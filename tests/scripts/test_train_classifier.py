import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_classifier.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_script_writes_model_metrics_and_tensorboard_logs(tiny_preset, tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "the film was great\tpos\na dull book\tneg\n" * 8)
    model_dir = tmp_path / "run"
    result = run(f"--preset={tiny_preset}", f"--train_file={train}", f"--eval_file={train}",
                 "--text_column=sentence", "--label_column=label", "--sequence_length=32",
                 "--epochs=2", "--batch_size=4", f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["labels"] == ["neg", "pos"]
    assert len(metrics["epochs"]) == 2 and "val_accuracy" in metrics["epochs"][1]
    assert set(metrics["final"]) >= {"accuracy", "f1", "mcc"}
    assert (model_dir / "model.keras").is_file()
    assert any((model_dir / "logs").rglob("events.out.tfevents.*"))


def test_bad_row_fails_with_one_line_and_leaves_no_model_dir(tiny_preset, tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\nthe film was great\tpos\n\tneg\n")
    model_dir = tmp_path / "run"
    result = run(f"--preset={tiny_preset}", f"--train_file={train}", "--text_column=sentence",
                 "--label_column=label", "--sequence_length=32", f"--model_dir={model_dir}")
    assert result.returncode != 0
    assert f"error: {train}, row 3, field 'sentence': text is empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert not model_dir.exists()


def test_eval_labels_outside_the_training_labels_are_refused(tiny_preset, tmp_path):
    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    train.write_text("sentence\tlabel\nthe film was great\tpos\na dull book\tneg\n")
    dev.write_text("sentence\tlabel\nthe film\tneutral\n")
    result = run(f"--preset={tiny_preset}", f"--train_file={train}", f"--eval_file={dev}",
                 "--text_column=sentence", "--label_column=label", "--sequence_length=32",
                 f"--model_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert f"{dev}, row 2, field 'label': unknown label 'neutral'" in result.stderr
