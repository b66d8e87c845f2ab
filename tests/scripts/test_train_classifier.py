import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kbert
from kbert.training.checkpoint import read_state
from kbert.training.optimizer import LayerwiseAdamW
from tests import programs
from tests.conftest import once_per_session, save_tiny_preset

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_classifier.py"


def run(*args):
    """The training program (`kbert-train-classifier`) with `args`, to its end."""
    return programs.run("train_classifier", *args)


EPOCHS = 12  # 4 steps each: long enough for the kill -9 test below to catch a checkpoint.


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """(the command's flags but --model_dir, the model_dir) of one complete run of the script with
    an eval file and checkpoints, run once for the session: the run whose files the first test
    checks and the result the kill -9 test must reproduce."""
    def compute(root):
        preset = save_tiny_preset(root / "one_layer_preset", num_layers=1)  # one_layer_preset.
        train = root / "train.tsv"
        train.write_text("sentence\tlabel\n" + "the film was great\tpos\na dull book\tneg\n"
                         "i loved it\tpos\nreally bad food\tneg\n" * 2)
        common = [f"--preset={preset}", f"--train_file={train}", f"--eval_file={train}",
                  "--text_column=sentence", "--label_column=label", "--sequence_length=32",
                  f"--epochs={EPOCHS}", "--batch_size=2", "--checkpoint_every=7", "--seed=3"]
        result = run(*common, f"--model_dir={root / 'run'}")
        assert result.returncode == 0, result.stderr[-3000:]
        return common

    root, common = once_per_session(tmp_path_factory, "train_classifier-uninterrupted", compute)
    return common, root / "run"


def test_script_writes_model_metrics_and_tensorboard_logs(uninterrupted):
    _, model_dir = uninterrupted
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["labels"] == ["neg", "pos"]
    assert len(metrics["epochs"]) == EPOCHS and "val_accuracy" in metrics["epochs"][1]
    assert set(metrics["final"]) >= {"accuracy", "f1", "mcc"}
    assert (model_dir / "model.keras").is_file()
    assert any((model_dir / "logs").rglob("events.out.tfevents.*"))


def test_layer_decay_and_lazy_embeddings_flags_reach_the_saved_optimizer(tiny_preset, tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "the film was great\tpos\na dull book\tneg\n" * 4)
    common = [f"--preset={tiny_preset}", f"--train_file={train}", "--text_column=sentence",
              "--label_column=label", "--sequence_length=32", "--epochs=1", "--batch_size=4"]
    refused = run(*common, "--layer_decay=1.5", f"--model_dir={tmp_path / 'bad'}")
    assert refused.returncode != 0 and "--layer_decay must be in (0, 1]" in refused.stderr
    assert not (tmp_path / "bad").exists()

    result = run(*common, "--layer_decay=0.5", "--lazy_embeddings",
                 f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    optimizer = kbert.load_model(tmp_path / "run" / "model.keras").optimizer
    assert isinstance(optimizer, LayerwiseAdamW) and optimizer.lazy_sparse
    # The tiny backbone has 2 layers: the top one learns at half the rate, the bottom at a
    # quarter, the embeddings at an eighth.
    assert optimizer.lr_multipliers["transformer_layer_1/"] == 0.5
    assert optimizer.lr_multipliers["transformer_layer_0/"] == 0.25
    assert optimizer.lr_multipliers["token_embedding"] == 0.125


def test_bad_row_fails_with_one_line_and_leaves_no_model_dir(tiny_preset, tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\nthe film was great\tpos\n\tneg\n")
    model_dir = tmp_path / "run"
    # The repository's script itself, in a fresh interpreter, as a user runs it.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), f"--preset={tiny_preset}", f"--train_file={train}",
         "--text_column=sentence", "--label_column=label", "--sequence_length=32",
         f"--model_dir={model_dir}"], capture_output=True, text=True, cwd=ROOT, timeout=600)
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


def test_a_checkpoint_of_another_run_is_one_error_line(tiny_preset, tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "the film was great\tpos\na dull book\tneg\n" * 4)
    model_dir = tmp_path / "run"
    # Another run's checkpoint where this run keeps its own (a fit leaves its last one).
    other = kbert.TextClassifier.from_preset(tiny_preset, labels=["neg", "pos"],
                                             sequence_length=32)
    other.fit(["i loved it", "so boring"], ["pos", "neg"], batch_size=2, seed=3, verbose=0,
              checkpoint_dir=str(model_dir / "checkpoint"))
    result = run(f"--preset={tiny_preset}", f"--train_file={train}", "--text_column=sentence",
                 "--label_column=label", "--sequence_length=32", "--batch_size=4", "--seed=3",
                 f"--model_dir={model_dir}")
    assert result.returncode != 0
    (line,) = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert "is from another run: the training data (its texts, labels or order)" in line
    assert "examples 2 there, 8 here" in line and "--noresume" in line
    assert "Traceback" not in result.stderr
    assert read_state(model_dir / "checkpoint")["examples"] == 2  # Left as it was.


def test_kill_9_mid_run_then_the_same_command_resumes_to_the_uninterrupted_result(uninterrupted,
                                                                                   tmp_path):
    common, reference_dir = uninterrupted
    model_dir = tmp_path / "killed"
    process = programs.start("train_classifier", *common, f"--model_dir={model_dir}")
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        step = (read_state(model_dir / "checkpoint") or {"step": 0})["step"]
        # A checkpoint in the middle of an epoch (4 steps each): with one every 7 steps, 21, 35
        # or 42 of the 48. Each stays the latest until the end of its epoch, the epoch's
        # evaluation included (~0.3 s here): polled often enough not to miss all three.
        if step >= 21 and step % 4:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (model_dir / "model.keras").exists()
    resumed = run(*common, f"--model_dir={model_dir}")  # the same command again
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the checkpoint" in resumed.stderr
    expected = json.loads((reference_dir / "metrics.json").read_text())
    got = json.loads((model_dir / "metrics.json").read_text())
    assert got["final"] == pytest.approx(expected["final"], abs=1e-6)
    assert [e["loss"] for e in got["epochs"]] == pytest.approx(
        [e["loss"] for e in expected["epochs"]], abs=1e-6)
    assert not (model_dir / "checkpoint").exists()


def test_lora_flags_train_adapters_and_write_the_adapter_file(tiny_preset, tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "the film was great\tpos\na dull book\tneg\n" * 4)
    common = [f"--preset={tiny_preset}", f"--train_file={train}", "--text_column=sentence",
              "--label_column=label", "--sequence_length=32", "--epochs=1", "--batch_size=4"]
    refused = run(*common, "--finetuning=lora", "--lora_targets=querry",
                  f"--model_dir={tmp_path / 'bad'}")
    assert refused.returncode != 0 and "LoRA targets must be some of" in refused.stderr

    model_dir = tmp_path / "run"
    result = run(*common, "--finetuning=lora", "--lora_rank=4", "--lora_targets=query,key",
                 f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    model = kbert.load_model(model_dir / "model.keras")
    assert model.lora.config() == {"rank": 4, "targets": ["query", "key"]}
    assert model.optimizer._learning_rate.peak == kbert.tasks.lora.LEARNING_RATE
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["trainable_parameters"] == sum(
        int(np.prod(v.shape)) for v in model.trainable_variables)
    rebuilt = kbert.TextClassifier.from_preset(tiny_preset,
                                               adapter=str(model_dir / "adapter.lora.h5"))
    texts = ["the film was great", "a dull book"]
    np.testing.assert_array_equal(rebuilt.predict(texts), model.predict(texts))
