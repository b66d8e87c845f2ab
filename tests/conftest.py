"""Shared fixtures: a tiny random BERT (2 layers, hidden 32) with a small real WordPiece vocabulary,
and the location of ../shared/data for the tests that use real benchmark files."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import kbert  # noqa: E402,F401  First: it quiets TensorFlow's start-up logs (kbert.verbosity).
import keras  # noqa: E402
import keras_hub  # noqa: E402
import pytest  # noqa: E402

from kbert.preprocessing import TextPreprocessor  # noqa: E402

WORDS = """the a an is was it this that film movie book great good fine bad awful dull boring
gripping lovely terrible i you we love hate liked loved not very really so and but or of to in
on with for man woman dog cat plays eats runs sleeps sits paris london berlin jeremy lives
works kettle food service slow fast , . ! ?""".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##ing", "##ed", "##ly", "un"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tiny_backbone(num_layers: int = 2) -> keras_hub.models.BertBackbone:
    """A random BERT of hidden size 32 and 64 positions. One layer holds every op a deeper one
    has (and traces and converts a third faster): what tests of a whole task path use where the
    number of layers plays no part."""
    return keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCAB), num_layers=num_layers, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64)


def tiny_tokenizer() -> keras_hub.models.BertTokenizer:
    return keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def tiny_task(cls, sequence_length: int = 32, *, num_layers: int = 2, **kwargs):
    """A kbert task of class `cls` on a fresh tiny BERT of `num_layers` (seeded, so tests are
    repeatable)."""
    keras.utils.set_random_seed(0)
    return cls(tiny_backbone(num_layers), TextPreprocessor(tiny_tokenizer(), sequence_length),
               **kwargs)


def one_layer_task(cls, sequence_length: int = 32, **kwargs):
    """`tiny_task` on one layer: for tests of a task's whole path where depth plays no part."""
    return tiny_task(cls, sequence_length, num_layers=1, **kwargs)


class Crash(keras.callbacks.Callback):
    """A callback that simulates the process dying once the optimizer has taken `step` steps."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            raise KeyboardInterrupt("killed")


@pytest.fixture
def tiny_parts():
    """(backbone, preprocessor) of a tiny random BERT of one layer, sequence_length 32."""
    keras.utils.set_random_seed(0)
    return tiny_backbone(num_layers=1), TextPreprocessor(tiny_tokenizer(), sequence_length=32)


def save_tiny_preset(directory: Path, num_layers: int = 2) -> str:
    """Writes the tiny BERT (seeded) of `num_layers` as a KerasHub preset directory; returns its
    path."""
    keras.utils.set_random_seed(0)
    tiny_backbone(num_layers).save_to_preset(str(directory))
    tiny_tokenizer().save_to_preset(str(directory))
    return str(directory)


@pytest.fixture
def tiny_preset(tmp_path):
    """A KerasHub preset directory holding the tiny BERT, usable as `preset=`."""
    return save_tiny_preset(tmp_path / "tiny_preset")


@pytest.fixture
def one_layer_preset(tmp_path):
    """`tiny_preset` of one layer: for a program's whole path where depth plays no part."""
    return save_tiny_preset(tmp_path / "one_layer_preset", num_layers=1)


def once_per_session(tmp_path_factory, name: str, compute):
    """(directory, result) of `compute(directory)` (a JSON-able result), run once per test
    session: by the first pytest-xdist worker to ask, while the others wait for it and then reuse
    its directory and result. For a reference run several tests compare against, which xdist may
    spread over workers (a module-scoped fixture alone is computed once per worker)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # This session's, shared by its workers (each has its own below).
    directory, done = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file is closed.
        if not done.exists():  # None yet, or a failed attempt: (again) from scratch.
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            result = compute(directory)
            done.write_text(json.dumps(result))
        return directory, json.loads(done.read_text())


def pytest_sessionstart(session):
    """Python's cyclic garbage collector, tuned for a long-lived test process (each xdist
    worker). Every test traces TensorFlow graphs, hundreds of thousands of Python objects, and
    the default thresholds ran a full collection every few tests over everything alive, the
    ~530k objects of the TensorFlow/Keras imports among them. Measured on tests/export, tests/training and the README tests (`-n 2`,
    a gc.callbacks timer): one worker spent 78 s of its run in 27 full collections. Here the
    imports are frozen out of every collection, young objects are collected every 100k
    allocations (not 700) and a full collection waits for 1000 of those: the same tests in 456 s
    instead of 496 s, no worker above 1.34 GB (sampled every 10 s). What the tests run is
    unchanged; an explicit gc.collect() still collects everything."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """The JAX processes the tests start (KERAS_BACKEND=jax children) share one XLA compilation
    cache for the session. JAX compiles a model's step anew for every model object, and these
    tests build the same tiny model again and again (a crashed run, its resumption, a reloaded
    model): each computation is then compiled once, not once per model (about a third of a JAX
    test's CPU time). Nothing but compile time changes: the cache holds XLA's own executables."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # This session's, shared by its workers.
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(root / "jax-compilation-cache"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


@pytest.fixture
def shared_data():
    """../shared/data, or a skip saying it is absent (it is on dev machines and in CI only)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA
