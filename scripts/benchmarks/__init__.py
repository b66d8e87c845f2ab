"""The benchmarks behind scripts/benchmark.py, one module per comparison. Each `run(flags)`
returns a `Section`; the script writes it into BENCHMARKS.md with command, machine and date."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys


@dataclasses.dataclass
class Section:
    title: str
    setup: str    # what was measured, on what data and shapes
    table: str    # Markdown table of the raw figures
    summary: str  # the ratio(s) against the comparison, and the goal


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def in_subprocess(module: str, *args, threads: int | None = None) -> dict:
    """Runs `python -m module args...` (a benchmark's worker, which prints one JSON line last)
    in a fresh process, so that runtimes, thread pools and peak memory do not leak between
    measurements. With `threads`, OpenMP-style pools are capped as well. Failures come back as
    {"error": last line of stderr}.

    As a module, not as a file: a file's own folder would go first on sys.path, and this
    folder's tokenize.py would shadow the standard library's.
    """
    env = dict(os.environ)
    scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [scripts, env.get("PYTHONPATH")]))
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                          text=True, env=env)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])
