"""Crash a real fine-tuning run with SIGKILL at a random step, run the same command again, and
compare the result with an uninterrupted run of the same command (same seed).

  python examples/kill_and_resume.py --out=runs/kill_and_resume

The run: the offline MiniLM on STS-B pairs (regression), the first 1,600 training pairs,
2 epochs of batch 16 (200 steps), checkpoints every 25 steps, evaluation on the full dev set.
The kill lands at a random moment after a random checkpoint, so the steps since that checkpoint
are lost and must be recomputed exactly: the resumed run replays the same batches from its
(seed, epoch) plan, the same dropout generator states and the same optimizer and schedule state.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags

from kbert.training.checkpoint import read_state

ROOT = Path(__file__).resolve().parents[1]
FLAGS = flags.FLAGS
flags.DEFINE_string("out", "runs/kill_and_resume", "Folder for the two runs.")
flags.DEFINE_string("data", str(ROOT.parent / "shared" / "data" / "glue" / "STS-B"),
                    "GLUE STS-B folder (train.tsv, dev.tsv).")
flags.DEFINE_integer("kill_seed", None, "Seed of the random kill moment (default: random).")

STEPS, EVERY = 200, 25


def command(data: Path, model_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "train_classifier.py"),
            f"--train_file={data / 'train.tsv'}", f"--eval_file={data / 'dev.tsv'}",
            "--text_column=sentence1", "--text_pair_column=sentence2", "--label_column=score",
            "--task=regression", "--sequence_length=128", "--batch_size=16", "--epochs=2",
            "--learning_rate=5e-5", "--max_train_examples=1600", f"--checkpoint_every={EVERY}",
            "--seed=42", f"--model_dir={model_dir}"]


def run_to_end(cmd: list[str]) -> None:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")


def kill_at_random_step(cmd: list[str], model_dir: Path, rng: random.Random) -> int:
    """Starts `cmd`, waits for a random checkpoint, then kills it a random 0-10 s later (mid
    interval). Returns the checkpointed step it had passed."""
    target = rng.randrange(EVERY, STEPS - EVERY, EVERY)
    extra = rng.uniform(0.0, 10.0)
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while process.poll() is None:
        if (read_state(model_dir / "checkpoint") or {"step": 0})["step"] >= target:
            time.sleep(extra)
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    if process.wait() != -signal.SIGKILL:
        sys.exit("the run ended before it could be killed")
    return read_state(model_dir / "checkpoint")["step"]


def main(argv):
    del argv
    out, data = Path(FLAGS.out), Path(FLAGS.data)
    rng = random.Random(FLAGS.kill_seed)
    reference, resumed = out / "uninterrupted", out / "killed_and_resumed"
    for directory in (reference, resumed):
        if directory.exists():
            sys.exit(f"{directory} exists: choose another --out")
    run_to_end(command(data, reference))
    checkpoint_step = kill_at_random_step(command(data, resumed), resumed, rng)
    assert not (resumed / "model.keras").exists()
    run_to_end(command(data, resumed))  # the same command again: it resumes
    a = json.loads((reference / "metrics.json").read_text())
    b = json.loads((resumed / "metrics.json").read_text())
    print(f"killed with SIGKILL after the step-{checkpoint_step} checkpoint (of {STEPS} steps)")
    print("| epoch | metric | uninterrupted | killed + resumed | difference |")
    print("| --- | --- | --- | --- | --- |")
    for epoch, (x, y) in enumerate(zip(a["epochs"], b["epochs"]), 1):
        for name in ("loss", "val_pearson", "val_spearman"):
            print(f"| {epoch} | {name} | {x[name]:.6f} | {y[name]:.6f} | {abs(x[name] - y[name]):.2e} |")


if __name__ == "__main__":
    app.run(main)
