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
                                                                           one_layer_preset):
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
        [str(venv / "bin" / "kbert-train-classifier"), f"--preset={one_layer_preset}",
         "--train_file=train.tsv", "--text_column=sentence", "--label_column=label",
         "--sequence_length=16", "--epochs=1", "--batch_size=2", "--model_dir=run"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (outside / "run" / "model.keras").is_file()
    assert (outside / "run" / "metrics.json").is_file()

    # The wheel holds the programs and export/ as kbert.export; the clone is on no path here
    # (no PYTHONPATH, another folder, and the editable install's finder is this environment's).
    installed = Path(site.strip(), "kbert")
    assert (installed / "cli" / "train_tagger.py").is_file()
    assert (installed / "export" / "__init__.py").is_file()
    # `python -m kbert.cli.train_qa`, and the kbert it runs is the wheel's.
    usage = subprocess.run(
        [str(python), "-c", "import runpy, sys, kbert; print(kbert.__file__); "
         "sys.argv = ['train_qa', '--help']; runpy.run_module('kbert.cli.train_qa', "
         "run_name='__main__')"], cwd=outside, env=env, capture_output=True, text=True,
        timeout=300)
    assert usage.stdout.startswith(str(installed)), usage.stdout[:500] + usage.stderr[-3000:]
    assert "--split_file" in usage.stdout, usage.stderr[-3000:]  # (absl's --help exits 1)
