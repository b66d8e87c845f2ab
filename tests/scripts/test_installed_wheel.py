"""The programs come with the package: a wheel built from the repository, installed in a fresh
virtualenv (no clone on its path), runs `kbert-train-classifier` on a small file from a folder
outside the clone, and `python -m kbert.cli.<program>` names the same programs."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_wheel_installed_in_a_fresh_virtualenv_runs_the_training_program(tmp_path,
                                                                           tiny_preset):
    wheels = tmp_path / "wheels"
    # --no-build-isolation: this virtualenv's setuptools builds it, offline and in seconds.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, cwd=tmp_path, timeout=300)
    (wheel,) = wheels.glob("kbert-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True).stdout
    # The dependencies (TensorFlow & co., gigabytes) are this environment's, reused through a
    # path entry; its editable kbert is not (a .pth in it is not processed from there).
    Path(site.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=300)

    outside = tmp_path / "elsewhere"  # Not the clone: nothing of the repository is importable.
    outside.mkdir()
    (outside / "train.tsv").write_text("sentence\tlabel\n" + "the film was great\tpos\n"
                                       "a dull book\tneg\n" * 2)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CONFIG")}
    result = subprocess.run(
        [str(venv / "bin" / "kbert-train-classifier"), f"--preset={tiny_preset}",
         "--train_file=train.tsv", "--text_column=sentence", "--label_column=label",
         "--sequence_length=16", "--epochs=1", "--batch_size=2", "--model_dir=run"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (outside / "run" / "model.keras").is_file() and (outside / "run" / "metrics.json").is_file()

    where = subprocess.run(
        [str(python), "-c", "import kbert, kbert.cli.train_tagger as t, kbert.export as e; "
         "print(kbert.__file__); print(e.__file__)"], cwd=outside, env=env, capture_output=True,
        text=True, timeout=300)
    assert where.returncode == 0, where.stderr[-3000:]
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    usage = subprocess.run([str(python), "-m", "kbert.cli.train_qa", "--help"], cwd=outside,
                           env=env, capture_output=True, text=True, timeout=300)
    assert usage.returncode == 0 and "--split_file" in usage.stdout, usage.stderr[-3000:]
