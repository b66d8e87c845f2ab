"""The benchmarks are a package of the repository (benchmarks/), importable from its root
without path edits, with no module named like one of the standard library's, one reference
training loop, and BENCHMARKS.md written atomically."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks
from benchmarks import reference

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "benchmarks"


def test_package_is_the_repository_root_one_and_no_module_shadows_the_standard_library():
    assert Path(benchmarks.__file__).resolve().parent == PACKAGE
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert not modules & set(sys.stdlib_module_names)  # tokenize.py shadowed `tokenize`.


def test_no_path_edits_in_the_package_or_the_tests_that_import_it():
    users = [path for path in (ROOT / "tests").rglob("*.py")
             if re.search(r"^\s*(from|import) benchmarks\b", path.read_text(), re.M)]
    assert users  # This file, at least.
    for path in [*PACKAGE.glob("*.py"), *users]:
        assert not re.search(r"sys\.path(\.(insert|append|extend)|\[.*\]\s*=|\s*[+]?=)",
                             path.read_text()), path


def test_one_reference_training_loop():
    """Every comparison trains PyTorch through benchmarks/reference.py: the recipe's pieces
    appear nowhere else (two loops had drifted apart on the warm-up's rounding)."""
    for path in PACKAGE.glob("*.py"):
        if path.name != "reference.py":
            text = path.read_text()
            for piece in ("clip_grad_norm_", "get_linear_schedule_with_warmup",
                          "torch.optim.AdamW"):
                assert piece not in text, (path.name, piece)
    # Rounded up as transformers' Trainer rounds warmup_ratio (math.ceil).
    assert [reference.warmup_steps(n) for n in (100, 125, 7, 0)] == [10, 13, 1, 0]


def test_append_section_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "BENCHMARKS.md"
    benchmarks.append_section(path, "\n## One\n")
    assert path.read_text().startswith("# Benchmarks\n") and path.read_text().endswith("## One\n")
    before = path.read_text()

    def replace_fails(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(OSError):
        benchmarks.append_section(path, "\n## Two\n" + "x" * 10_000)
    # The file is as it was, and no temporary file is left beside it.
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_worker_runner_and_the_cli_shim():
    # A worker that fails comes back as its error, not an exception.
    failed = benchmarks.in_subprocess("json.tool", "/no/such/file.json")
    assert "No such file" in failed["error"]
    assert benchmarks.error_line(failed) == failed["error"].splitlines()[-1]
    run = subprocess.run([sys.executable, "scripts/benchmark.py", "--helpshort"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    # The shim runs the root package's CLI (not scripts/benchmarks/, which it would otherwise
    # find first): its flags are the package's (absl's help exits 1).
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "--what" in run.stdout and "--gpu_model" in run.stdout
