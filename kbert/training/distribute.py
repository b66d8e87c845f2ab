"""Training across several processes or machines with TensorFlow's MultiWorkerMirroredStrategy,
as TensorFlow's multi-worker guide prescribes: the cluster comes from `TF_CONFIG`, every worker
runs the same program on its share of each global batch, all of them take part in every save
(reading synchronized variables is a collective operation), and only the chief's files are kept;
the other workers write to temporary places that are removed.

Example (two processes of the same command, TF_CONFIG differing only in the task index):
>>> # TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
>>> #             "task": {"type": "worker", "index": 0}}'
>>> with kbert.training.distribute.cluster_scope():       # what the training scripts do
...     clf = kbert.TextClassifier.from_preset(labels=["neg", "pos"])
>>> clf.fit(texts, labels, batch_size=32)                   # 32 per step across the cluster

Starting a cluster: TensorFlow's set-up blocks, silent and deaf to SIGTERM (it holds the
interpreter while its coordination service waits, and that service's preemption notifier takes
SIGTERM over), until every task has registered. So `cluster_strategy` first waits in Python
until every peer's address accepts connections, logging whom it waits for, and gives up after
`timeout` seconds with `ClusterUnavailable` naming the missing tasks (a peer that answers but
never joins ends the process after `timeout` too); after the set-up it gives SIGTERM back its
previous meaning, so a scheduler's SIGTERM stops a worker at any point
(checkpoints are written atomically: the last committed one stays intact).

It also holds the two repairs Keras 3.15's TensorFlow trainer needs to run that strategy at all
(`Task` applies them): it reduces the first batch, a dict of per-worker tensors, with
`strategy.reduce` only to learn its shapes, which fails for nested inputs (keras-team/keras#20329),
and it reduces every step's scalar logs with `axis=0`, which fails for scalars under multi-worker
collectives ("Invalid reduction dimension 0 for input with 0 dimensions", tensorflow#72388).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import keras
from absl import logging

from kbert.errors import KbertInputError
from kbert.files import scratch_directory
from kbert.lazy import tf
from kbert.verbosity import native_logs_quiet


def cluster_size() -> int:
    """How many tasks the `TF_CONFIG` environment variable names (1 without one)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        return sum(len(tasks) for tasks in config.get("cluster", {}).values()) or 1
    except (ValueError, AttributeError, TypeError) as error:
        raise KbertInputError(f"not a cluster ({error}): expected JSON like "
                              '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                              '"task": {"type": "worker", "index": 0}}',
                              source="the TF_CONFIG environment variable") from None


# How long a worker waits for the rest of its cluster by default (the scripts' --cluster_timeout).
DEFAULT_CLUSTER_TIMEOUT = 300.0


class ClusterUnavailable(RuntimeError):
    """Tasks of the cluster `TF_CONFIG` names did not come up within the timeout."""


def _tasks() -> tuple[list[tuple[str, int, str]], tuple[str, int]]:
    """([(task type, index, address)] of every task, this task's (type, index))."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    # The tasks MultiWorkerMirroredStrategy coordinates (an evaluator, say, runs on its own).
    tasks = [(kind, index, address) for kind, addresses in config.get("cluster", {}).items()
             if kind in ("chief", "worker") for index, address in enumerate(addresses)]
    task = config.get("task", {})
    return tasks, (task.get("type", "worker"), int(task.get("index", 0)))


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _accepts(address: str) -> bool:
    try:
        with socket.create_connection(_host_port(address), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _listen(address: str):
    """A plain TCP listener on this task's own port while it waits, so that its peers, waiting
    the same way, see it up (TensorFlow's server takes the port over afterwards); None if the
    port cannot be bound here."""
    try:
        listener = socket.create_server(("", _host_port(address)[1]), reuse_port=False)
    except (OSError, ValueError):
        return None
    stop = threading.Event()

    def accept():  # Accept and drop: a peer only checks that the port answers.
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                connection.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True, name="kbert-cluster-rendezvous")
    thread.start()

    def close():
        stop.set()
        thread.join()
        listener.close()
    return close


def wait_for_cluster(timeout: float = DEFAULT_CLUSTER_TIMEOUT, poll: float = 1.0) -> None:
    """Waits until every other task of the cluster `TF_CONFIG` names accepts connections,
    logging whom it waits for; `ClusterUnavailable` naming the missing tasks after `timeout`
    seconds. Interruptible (SIGTERM, Ctrl-C) while it waits, which TensorFlow's set-up is not.

    Example:
    >>> distribute.wait_for_cluster(timeout=60)   # before MultiWorkerMirroredStrategy()
    """
    tasks, me = _tasks()
    own = next((address for kind, index, address in tasks if (kind, index) == me), None)
    others = [(kind, index, address) for kind, index, address in tasks if (kind, index) != me]
    close = _listen(own) if own else None
    try:
        deadline = time.monotonic() + timeout
        last_log = None
        while True:
            missing = [t for t in others if not _accepts(t[2])]
            if not missing:
                return
            names = ", ".join(f"{kind} {index} ({address})" for kind, index, address in missing)
            if time.monotonic() >= deadline:
                raise ClusterUnavailable(
                    f"the cluster in TF_CONFIG did not come up within {timeout:g} s: no answer "
                    f"from {names}. Start every task of the cluster with the same command (each "
                    "with its own task index), check the addresses, or wait longer "
                    "(--cluster_timeout).")
            if last_log is None or time.monotonic() - last_log >= 30:
                logging.warning("%s %d waiting for %s (up to %g s in all)", me[0], me[1], names,
                                timeout)
                last_log = time.monotonic()
            time.sleep(poll)
    finally:
        if close is not None:
            close()


@contextlib.contextmanager
def _sigterm_kept():
    """Restores SIGTERM's disposition (Python's default, or the user's handler) after the block:
    TensorFlow's coordination service installs a preemption notifier that takes SIGTERM over and
    does nothing with it unless a PreemptionCheckpointHandler asks."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM) if on_main_thread else None
    try:
        yield
    finally:
        if on_main_thread and handler is not None:
            signal.signal(signal.SIGTERM, handler)


_CLUSTER_STRATEGY = None


def cluster_strategy(timeout: float = DEFAULT_CLUSTER_TIMEOUT):
    """The MultiWorkerMirroredStrategy of the cluster `TF_CONFIG` names, or None when it names
    none (or one task). Made once per process, before the first model: TensorFlow needs the
    strategy to exist before it starts its devices.

    It first waits up to `timeout` seconds for the other tasks (`wait_for_cluster`), and leaves
    SIGTERM stopping the process.

    Example:
    >>> strategy = distribute.cluster_strategy(timeout=120)   # None without a cluster
    """
    global _CLUSTER_STRATEGY
    if _CLUSTER_STRATEGY is None and cluster_size() > 1:
        wait_for_cluster(timeout)
        with _sigterm_kept(), _watchdog(timeout):
            # The gRPC server's start-up lines are TensorFlow's (kbert.verbosity).
            with native_logs_quiet():
                _CLUSTER_STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
    return _CLUSTER_STRATEGY


@contextlib.contextmanager
def _watchdog(timeout: float):
    """Ends the process (status 1, with a traceback on stderr) if the block lasts over `timeout`
    seconds: TensorFlow's set-up waits, holding the interpreter and deaf to SIGTERM, for every
    task to register, and a peer whose port answered but which never joins (it died just then,
    or is no TensorFlow task) would keep it there for TensorFlow's default hour. faulthandler's
    timer is a native thread, the one thing that still runs then."""
    tasks, me = _tasks()
    names = ", ".join(f"{kind} {index}" for kind, index, _ in tasks if (kind, index) != me)
    logging.info("%s %d: every task answers; joining the cluster with %s (exits after %g s if "
                 "one never joins)", me[0], me[1], names, timeout)
    with os.fdopen(os.dup(2), "w") as stderr:  # The real stderr, whatever fd 2 is meanwhile.
        faulthandler.dump_traceback_later(timeout, exit=True, file=stderr)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()


def cluster_scope(timeout: float = DEFAULT_CLUSTER_TIMEOUT):
    """The scope of `cluster_strategy(timeout)` (build and compile the model in it), or a no-op.

    Example:
    >>> with distribute.cluster_scope(timeout=120):
    ...     clf = kbert.TextClassifier.from_preset(labels=["neg", "pos"])
    """
    strategy = cluster_strategy(timeout)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def is_multi_worker(strategy) -> bool:
    """Whether `strategy` spans several worker processes (a MultiWorkerMirroredStrategy with a
    cluster of more than one task)."""
    extended = getattr(strategy, "extended", None)
    return bool(extended is not None and getattr(extended, "_in_multi_worker_mode",
                                                 lambda: False)())


def is_chief(strategy) -> bool:
    """Whether this process keeps the files: the "chief" task, or worker 0 of a cluster without
    one; always True outside a multi-worker strategy."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return not has_chief and resolver.task_type == "worker" and resolver.task_id == 0


@contextlib.contextmanager
def writer_directory(directory: str | Path, strategy):
    """Where this process writes what belongs in `directory`: `directory` itself for the chief,
    a temporary folder (removed on leaving) for the other workers, which still write, since the
    save itself synchronizes them."""
    if is_chief(strategy):
        yield Path(directory)
        return
    # Named by worker and pid, so that the folder of a worker killed outright goes next time.
    with scratch_directory(f"kbert-worker{strategy.cluster_resolver.task_id}-") as temporary:
        yield temporary


def symbolic_batch(strategy, iterator):
    """The first batch of a distributed epoch iterator with this worker's values (what Keras's
    symbolic build needs: shapes and dtypes), instead of Keras's cross-worker reduction of it."""
    for _, _, batches in iterator:
        batch = next(batches)
        break
    return tf.nest.map_structure(
        lambda v: (strategy.experimental_local_results(v)[0]
                   if isinstance(v, tf.distribute.DistributedValues) else v), batch)


def reducible_logs(logs: dict) -> dict:
    """A step's scalar logs as [1] tensors, which Keras's multi-worker reduction (a mean over
    axis 0 of every replica's value) turns into the mean over replicas, a scalar again."""
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


class MultiWorkerRepairs:
    """The two repairs above, as `keras.Model` hooks of the TensorFlow backend (`kbert.Task`
    mixes this in there); outside a multi-worker strategy they change nothing."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and is_multi_worker(self.distribute_strategy):
            data_batch, iterator = symbolic_batch(self.distribute_strategy, iterator), None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        logs = super().train_step(data)
        return reducible_logs(logs) if is_multi_worker(self.distribute_strategy) else logs

    def test_step(self, data):
        logs = super().test_step(data)
        return reducible_logs(logs) if is_multi_worker(self.distribute_strategy) else logs


# What kbert.Task mixes in: the repairs exist for the TensorFlow trainer only (the JAX and torch
# trainers' steps take other arguments and run no tf.distribute strategy).
MODEL_MIXINS = (MultiWorkerRepairs,) if keras.backend.backend() == "tensorflow" else ()
