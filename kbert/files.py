"""Writing files the user keeps: atomically, so a failed run leaves no half-written artifact.

A process killed outright (SIGKILL, out of memory) runs no cleanup; the temporary names carry
its pid, so the next write of the same path removes what a dead writer left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Another user's live process.
        return True
    return True


def _dead_writers(folder: Path, prefix: str):
    """Leftovers `<prefix><pid>...` in `folder` whose writer process no longer runs."""
    for leftover in folder.iterdir():
        if not leftover.name.startswith(prefix):
            continue
        pid = leftover.name[len(prefix):].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            yield leftover


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


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
    for leftover in _dead_writers(path.parent, f".{path.stem}.partial-"):
        _remove(leftover)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            _remove(tmp)


@contextlib.contextmanager
def atomic_directory(path: str | Path):
    """Like `atomic_path` for a directory: built under a temporary name, then swapped in whole
    (an existing directory of that name is replaced only once the new one is complete).

    Example:
    >>> with atomic_directory("out/saved_model") as tmp:
    ...     archive.write_out(str(tmp))

    The swap is two renames (POSIX has no atomic exchange of directories): if the writer dies
    between them, the next write of `path` first puts the previous directory back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in _dead_writers(path.parent, f".{path.name}.old-"):
        if not path.exists():
            os.replace(leftover, path)  # Killed mid-swap: the previous directory returns.
        else:
            _remove(leftover)
    for leftover in _dead_writers(path.parent, f".{path.name}.partial-"):
        _remove(leftover)
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


@contextlib.contextmanager
def scratch_directory(prefix: str):
    """Yields a new temporary folder `<tempdir>/<prefix><pid>.<random>`, removed on leaving;
    folders of the same prefix that a killed process left behind are removed first.

    Example:
    >>> with scratch_directory("kbert-worker1-") as folder:
    ...     model.save(folder / "model.keras")        # written, then thrown away
    """
    root = Path(tempfile.gettempdir())
    for leftover in _dead_writers(root, prefix):
        _remove(leftover)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
