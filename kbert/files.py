"""Writing files the user keeps: atomically, so a failed run leaves no half-written artifact."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path` (same suffix); renames it to `path` only if the
    block succeeds, and removes it otherwise.

    Example:
    >>> with atomic_path("out/model.keras") as tmp:
    ...     model.save(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | Path):
    """Like `atomic_path` for a directory: built under a temporary name, then swapped in whole
    (an existing directory of that name is replaced only once the new one is complete).

    Example:
    >>> with atomic_directory("out/saved_model") as tmp:
    ...     archive.write_out(str(tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover)


def write_json(path: str | Path, data) -> None:
    """Writes JSON atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
