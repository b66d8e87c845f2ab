"""kbert's benchmarks: one module per comparison, each `run(flags)` returning a `Section` that the
CLI writes into BENCHMARKS.md with its command, machine and date.

A package of the repository, beside scripts/ and not installed with kbert (setup.py installs
`kbert` and `kbert.*` only): run it from the repository root, where Python finds it without
any path edit.

  python -m benchmarks --what=xla              # the CLI (benchmarks/__main__.py)
  python scripts/benchmark.py --what=xla       # the same: a shim kept for the recorded commands
  python -m benchmarks.parity --task=ner       # reference parity (RESULTS.md)
  python -m benchmarks.length_policy ...       # one study with flags of its own

Always as modules (`-m`), never as files: a file's own folder would go first on sys.path.

Shared by the comparisons: `in_subprocess` (the one way a worker runs: a fresh process, one JSON
line back), `reference` (the one transformers + PyTorch training recipe and loop), and
`append_section` (BENCHMARKS.md written atomically).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

# The repository root: holds benchmarks/ and kbert/; workers get it on PYTHONPATH.
ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Section:
    title: str
    setup: str    # what was measured, on what data and shapes
    table: str    # Markdown table of the raw figures
    summary: str  # the ratio(s) against the comparison, and the goal


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table.

    Example:
    >>> print(markdown_table(["a", "b"], [[1, 2]]), end="")
    | a | b |
    | --- | --- |
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def in_subprocess(module: str, *args, python: str | None = None,
                  threads: int | None = None) -> dict:
    """Runs `python -m module args...` (a benchmark's worker, which prints one JSON line last)
    in a fresh process, so that runtimes, thread pools, GPU memory and peak memory do not leak
    between measurements, and returns that JSON. `python` may be another virtualenv's (the
    parity harness's reference side); with `threads`, OpenMP-style pools are capped as well.
    A failure comes back as {"error": the last lines of stderr}.

    Example:
    >>> in_subprocess("benchmarks.gpu", "keras", 32, 128, 96, 16)["seconds"]
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = subprocess.run([python or sys.executable, "-m", module, *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=os.getcwd())
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"error": "\n".join(done.stderr.strip().splitlines()[-5:]) or "no output"}
    return json.loads(lines[-1])


def error_line(result: dict) -> str:
    """The last line of a failed worker's error: what fits in a table cell."""
    return (result["error"].strip().splitlines() or ["?"])[-1]


def append_section(path: str | Path, section: str) -> None:
    """Appends `section` to the Markdown file at `path` (created with BENCHMARKS.md's header if
    absent) atomically: the whole new file is written beside it and renamed over it, so a run
    killed mid-write, or a disk that fills up, leaves the file as it was.

    Example:
    >>> append_section("BENCHMARKS.md", "\\n## XLA on vs off\\n...")
    """
    from kbert.files import atomic_path

    path = Path(path)
    old = (path.read_text(encoding="utf-8") if path.exists() else
           "# Benchmarks\n\nEach section: the command that produced it, the machine, the date, "
           "the raw figures and the ratio.\n")
    with atomic_path(path) as temporary:
        Path(temporary).write_text(old + section, encoding="utf-8")
