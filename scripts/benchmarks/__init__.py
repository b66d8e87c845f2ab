"""The benchmarks behind scripts/benchmark.py, one module per comparison. Each `run(flags)`
returns a `Section`; the script writes it into BENCHMARKS.md with command, machine and date."""

from __future__ import annotations

import dataclasses


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
