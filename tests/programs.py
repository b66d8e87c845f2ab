"""kbert's absl programs (kbert/cli) run as child processes that start warm.

A program run in a fresh interpreter spends ~10 s of CPU importing TensorFlow, Keras and
KerasHub before it reads its first flag; the script tests run it dozens of times. Here each run
is a child forked from one server process that has imported kbert (and with it TensorFlow)
once: `multiprocessing`'s forkserver with kbert preloaded. The child is a real process (its own
pid, exit status, signals, files): it sets its environment and `sys.argv`, points its stdout and
stderr (file descriptors 1 and 2, so TensorFlow's native logs too) at files, and runs the
program's module as `__main__`, exactly what `python -m kbert.cli.<program>` runs after its
imports. TensorFlow's runtime (eager context, thread pools) is created in the child, on first
use: the server only imports, it runs no op, so fork() copies no running runtime.

What needs a cold interpreter stays a plain subprocess: the installed wheel's console commands
(tests/scripts/test_installed_wheel.py), a scripts/ shim itself (test_train_classifier.py's
bad-row test), what a program prints while it imports (kbert.verbosity), and another Keras
backend (chosen at import time: the JAX tests).

Example:
>>> done = programs.run("train_classifier", "--train_file=t.tsv", ...)
>>> done.returncode, done.stderr
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        # The server process starts from a fresh interpreter with this process's environment
        # (KERAS_BACKEND=tensorflow: tests/conftest.py) and imports kbert once.
        _CONTEXT.set_forkserver_preload(["kbert", "kbert.export", "kbert.cli.data_flags"])
    return _CONTEXT


def _main(target: tuple[str, str], argv: list[str], env: dict | None, cwd: str, out: str,
          err: str) -> None:
    """The child: `python -m <module> <argv>` (or `python -c <code> <argv>`) from here on, with
    file descriptors 1 and 2 on the files `out` and `err`."""
    for fd, path in ((1, out), (2, err)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(handle, fd)
        os.close(handle)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    tempfile.tempdir = None  # Read again from this environment's TMPDIR.
    os.chdir(cwd)
    kind, what = target
    sys.argv = [what if kind == "module" else "-c", *argv]
    code = 0
    try:
        if kind == "module":
            runpy.run_module(what, run_name="__main__", alter_sys=True)
        else:
            exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
    except SystemExit as exit_:  # What the interpreter would do with it.
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
            code = 1
        else:
            code = exit_.code or 0
    except BaseException:  # noqa: BLE001 - printed as the interpreter prints it
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Program:
    """A running program (`start`, `start_code`): `pid`, `poll()`, `wait()`, `kill()`,
    `send_signal()`, like `subprocess.Popen`; `output()` reads what it printed."""

    def __init__(self, target: tuple[str, str], args, env: dict | None, cwd, stdout=None,
                 stderr=None):
        self._folder = tempfile.TemporaryDirectory(prefix="kbert-program-")
        self.stdout_path = str(stdout or os.path.join(self._folder.name, "stdout"))
        self.stderr_path = str(stderr or os.path.join(self._folder.name, "stderr"))
        for path in (self.stdout_path, self.stderr_path):
            open(path, "w").close()
        self.args = [target[1] if target[0] == "module" else "-c", *map(str, args)]
        self._process = _context().Process(
            target=_main, args=(target, [str(a) for a in args], env, str(cwd), self.stdout_path,
                                self.stderr_path))
        self._process.start()
        self.pid = self._process.pid
        self.returncode = None

    def poll(self):
        if self.returncode is None and self._process.exitcode is not None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None):
        self._process.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def output(self) -> tuple[str, str]:
        """(stdout, stderr) so far."""
        return tuple(Path(p).read_text(errors="replace")
                     for p in (self.stdout_path, self.stderr_path))

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.output()


def _module(program: str) -> tuple[str, str]:
    return ("module", program if "." in program else f"kbert.cli.{program}")


def start(program: str, *args, env: dict | None = None, cwd: str | Path = ROOT, stdout=None,
          stderr=None) -> Program:
    """Starts `program` (a kbert.cli module's name, "train_classifier", or a dotted module)
    with `args`, in `env` (default: this process's environment) and `cwd`; its output goes to
    the files `stdout` and `stderr` (default: files of its own, `Program.output()`)."""
    return Program(_module(program), args, env, cwd, stdout, stderr)


def start_code(code: str, *args, env: dict | None = None, cwd: str | Path = ROOT, stdout=None,
               stderr=None) -> Program:
    """`start` for a program given as source code (`python -c code args...`)."""
    return Program(("code", code), args, env, cwd, stdout, stderr)


def finished(running: Program, timeout: float) -> subprocess.CompletedProcess:
    try:
        running.wait(timeout)
    except subprocess.TimeoutExpired:
        running.kill()
        running.wait()
        raise
    stdout, stderr = running.output()
    return subprocess.CompletedProcess(running.args, running.returncode, stdout, stderr)


def run(program: str, *args, env: dict | None = None, cwd: str | Path = ROOT,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `program` (as `start`) to its end: a `subprocess.CompletedProcess` with text stdout
    and stderr."""
    return finished(start(program, *args, env=env, cwd=cwd), timeout)


def run_code(code: str, *args, env: dict | None = None, cwd: str | Path = ROOT,
             timeout: float = 600) -> subprocess.CompletedProcess:
    """`run` for a program given as source code."""
    return finished(start_code(code, *args, env=env, cwd=cwd), timeout)
