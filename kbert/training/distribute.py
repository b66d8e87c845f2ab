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

It also holds the two repairs Keras 3.15's TensorFlow trainer needs to run that strategy at all
(`Task` applies them): it reduces the first batch, a dict of per-worker tensors, with
`strategy.reduce` only to learn its shapes, which fails for nested inputs (keras-team/keras#20329),
and it reduces every step's scalar logs with `axis=0`, which fails for scalars under multi-worker
collectives ("Invalid reduction dimension 0 for input with 0 dimensions", tensorflow#72388).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import keras

from kbert.errors import KbertInputError
from kbert.files import scratch_directory
from kbert.lazy import tf


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


_CLUSTER_STRATEGY = None


def cluster_strategy():
    """The MultiWorkerMirroredStrategy of the cluster `TF_CONFIG` names, or None when it names
    none (or one task). Made once per process, before the first model: TensorFlow needs the
    strategy to exist before it starts its devices."""
    global _CLUSTER_STRATEGY
    if _CLUSTER_STRATEGY is None and cluster_size() > 1:
        _CLUSTER_STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
    return _CLUSTER_STRATEGY


def cluster_scope():
    """The scope of `cluster_strategy()` (build and compile the model in it), or a no-op."""
    strategy = cluster_strategy()
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
