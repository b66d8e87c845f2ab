"""How much TensorFlow, XLA, the TFLite converter, LiteRT and MediaPipe may print.

By default a kbert program prints its own story and nothing of the native libraries' start-up
and conversion chatter (cuda stubs, oneDNN, cpu_feature_guard, SavedModel reader, MLIR passes,
"Created TensorFlow Lite XNNPACK delegate", LiteRT's accelerator registry). The environment
variable `KBERT_VERBOSITY` asks for more:

  0 (default)  kbert's own output only; a native call that fails still shows what it printed.
  1            also the libraries' warnings and errors.
  2            everything the libraries print, as they would print it without kbert.

Example:
>>> # KBERT_VERBOSITY=2 python scripts/train_classifier.py ...      # the libraries' logs too
>>> from kbert import verbosity
>>> with verbosity.native_logs_quiet():    # what kbert.export wraps around the converter
...     tflite_bytes = converter.convert()

Two mechanisms, because the libraries log two ways. TensorFlow's own C++ logging reads
`TF_CPP_MIN_LOG_LEVEL` once, at its first message, which TensorFlow prints while being
imported: `quiet_environment()` sets it when kbert is imported, so kbert must be imported before
keras or tensorflow for those lines to go.
The converter (MLIR, absl C++ logging), LiteRT and MediaPipe log through absl's C++ logging,
which no environment variable reaches: `native_logs_quiet()` points file descriptor 2 at a
temporary file for the duration of such a call and replays it if the call fails.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import sys
import tempfile

ENV = "KBERT_VERBOSITY"


def level() -> int:
    """The requested verbosity: 0 (default), 1 or 2 (from `KBERT_VERBOSITY`; other values
    count as 0).

    Example:
    >>> os.environ["KBERT_VERBOSITY"] = "1"; verbosity.level()
    1
    """
    value = os.environ.get(ENV, "0").strip()
    return min(int(value), 2) if value.isdigit() else 0


def quiet_environment() -> None:
    """Sets the log-level variables the native libraries read when they start, unless the user
    set them: called by `import kbert` before TensorFlow is imported.

    Example:
    >>> verbosity.quiet_environment(); import tensorflow   # no cuda/oneDNN/cpu_feature lines
    """
    # TF_CPP_MIN_LOG_LEVEL: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR. Level 3 by default: on a
    # machine without a GPU, XLA logs a failed cuInit as an ERROR that is no error for kbert.
    tf_level = {0: "3", 1: "1", 2: "0"}[level()]
    # TensorFlow's and LiteRT's own logging read it (libtensorflow_framework, libpywrap_litert_
    # common); absl's C++ logging (converter, MediaPipe) reads no variable: native_logs_quiet().
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", tf_level)


def quiet_python_loggers() -> None:
    """Keeps TensorFlow's Python logger to errors at verbosity 0 (its deprecation notices are
    not the user's to act on); called by `import kbert` after TensorFlow is importable.

    Example:
    >>> verbosity.quiet_python_loggers()
    """
    if level() == 0:
        std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)


@contextlib.contextmanager
def native_logs_quiet(replay_on_error: bool = True):
    """Hides what native code writes to stderr (file descriptor 2) inside the block, at
    verbosity 0; if the block raises, what it wrote is written to stderr after all (unless
    `replay_on_error=False`: for calls whose exceptions carry their diagnostics), so a failure
    keeps its explanation. At verbosity 1 or 2 it changes nothing.

    Example:
    >>> with native_logs_quiet():
    ...     model = CompiledModel.from_file("out/model.tflite")   # no XNNPACK / registry lines

    It redirects the process's stderr, so Python output to stderr from other threads inside
    the block is held back too; wrap single native calls, not long stretches of work.
    """
    if level() > 0:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # No file descriptor 2 (some embedded interpreters): nothing to hide.
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            if text and replay_on_error:
                sys.stderr.write(text)
                sys.stderr.flush()
            raise
        else:
            _restore(saved)


def _restore(saved: int) -> None:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)

