"""Training across two worker processes with MultiWorkerMirroredStrategy (TF_CONFIG over
loopback ports, CPU), as the README documents it: the same run as one process with the same
global batch, each example seen once per epoch across the cluster, only the chief's files kept,
and a worker killed mid-epoch followed by a restart of the job resuming from the checkpoint."""

import json
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from tests import programs
from tests.conftest import once_per_session

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import json, os, signal, sys
sys.path.insert(0, {root!r})
import numpy as np
import tensorflow as tf
import keras, kbert
from kbert.training import distribute
from tests.conftest import tiny_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food",
         "the man plays with a dog", "slow service", "a lovely cat", "terrible film",
         "we love paris", "boring and dull", "the woman runs fast", "an awful movie"]
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg", "pos", "neg", "pos", "neg", "pos", "neg"]
args = json.loads(sys.argv[1])
with distribute.cluster_scope():
    clf = tiny_task(kbert.TextClassifier, labels=["neg", "pos"], dropout=0.0, num_layers=1)
    clf.compile(learning_rate=1e-3, warmup_ratio=0.0)
for layer in clf._flatten_layers():  # No dropout: every run computes the same function.
    if isinstance(layer, keras.layers.Dropout):
        layer.rate = 0.0
seen = []  # The rows this worker's replica trained on, as their token ids.
step = clf.train_step
def recording(data):
    tf.py_function(lambda ids: seen.extend(tuple(int(t) for t in row if t) for row in ids.numpy()),
                   [data[0]["token_ids"]], [])
    return step(data)
clf.train_step = recording

class Die(keras.callbacks.Callback):  # This worker dies with SIGKILL once it reaches the step.
    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == args["kill_at"]:
            os.kill(os.getpid(), signal.SIGKILL)

history = clf.fit(TEXTS, LABELS, epochs=3, batch_size=4, seed=1, verbose=0,
                  checkpoint_dir=args.get("checkpoint_dir"), checkpoint_every=2,
                  callbacks=[Die()] if args.get("kill_at") else [])
print(json.dumps({{"replicas": clf.distribute_strategy.num_replicas_in_sync,
                  "loss": history.history["loss"], "seen": seen,
                  "weights": [float(np.asarray(v).sum()) for v in clf.get_weights()]}}))
"""


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def environment(ports, index, tmp):
    env = dict(os.environ, TMPDIR=str(tmp), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if ports:
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                       "task": {"type": "worker", "index": index}})
    return env


def start(command, ports, tmp):
    """One process per worker of the cluster (one process without ports). `command`: a
    function of the environment that starts a program (`tests/programs.py`)."""
    return [command(environment(ports, i, tmp / f"tmp{i}")) for i in range(max(len(ports), 1))]


def finish(processes, timeout=420):
    results = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err[-3000:]
        results.append((out, err))
    return results


def program(tmp, **args):
    return lambda env: programs.start_code(PROGRAM.format(root=str(ROOT)), json.dumps(args),
                                           env=env)


def worker_folders(path):
    for i in range(2):
        (path / f"tmp{i}").mkdir()
    return path


@pytest.fixture
def tmp(tmp_path):
    return worker_folders(tmp_path)


def run(tmp, ports, **args):
    return [json.loads(out.strip().splitlines()[-1])
            for out, _ in finish(start(program(tmp, **args), ports, tmp))]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The one-process run, run once for the session: the reference that both the cluster run
    and the killed-then-resumed cluster run must match. It takes no checkpoints (taking them
    must not change the training, so the resumed run has to match it all the same)."""
    def compute(directory):
        (result,) = run(worker_folders(directory), [])
        return result

    return once_per_session(tmp_path_factory, "multi_worker-single", compute)[1]


def test_two_workers_train_as_one_process_and_resume_after_one_is_killed(tmp, single):
    # The uninterrupted run: one process. Two workers must end exactly where it ends, even
    # when one of them dies mid-epoch and the job is restarted from the checkpoint.
    uninterrupted = single
    ports = free_ports(2)
    # Worker 1 dies at step 5 of 9 (mid-epoch 2; checkpoints every 2 steps and at epoch ends).
    checkpoint_dir = str(tmp / "killed")
    processes = start(program(tmp, checkpoint_dir=checkpoint_dir, kill_at=5), ports, tmp)
    processes[1].wait(timeout=420)
    assert processes[1].returncode == -signal.SIGKILL
    time.sleep(2)  # Worker 0 now waits for its peer: the whole job is stopped.
    processes[0].kill()
    processes[0].wait()
    state = json.loads((Path(checkpoint_dir) / "checkpoint.json").read_text())
    assert state["latest"] == "step-000000004"
    resumed = run(tmp, free_ports(2), checkpoint_dir=checkpoint_dir)  # The same command again.
    assert single["replicas"] == 1 and [w["replicas"] for w in resumed] == [2, 2]
    for after in resumed:  # The same losses (all 3 epochs) and final weights as one process.
        np.testing.assert_allclose(after["loss"], uninterrupted["loss"], rtol=1e-4)
        np.testing.assert_allclose(after["weights"], uninterrupted["weights"], rtol=1e-4,
                                   atol=1e-5)
    # The resumed steps 5 to 9 each trained the two workers on half of their batch.
    first, second = (sorted(w["seen"]) for w in resumed)
    assert len(first) == len(second) == 10
    assert sorted(first + second) == sorted(uninterrupted["seen"][16:])
    # Only the chief wrote checkpoints; worker 1's temporary folders are gone.
    assert not list((tmp / "tmp1").glob("kbert-worker*"))


def test_the_training_script_takes_the_cluster_from_tf_config(tmp, one_layer_preset):
    train = tmp / "train.tsv"
    train.write_text("sentence\tlabel\n" + "".join(
        f"{text}\t{label}\n" for text, label in [("the film was great", 1), ("a dull book", 0),
                                                 ("i loved it", 1), ("really bad food", 0)] * 3))
    def command(model_dir):
        return lambda env: programs.start(
            "train_classifier", f"--preset={one_layer_preset}", f"--train_file={train}",
            f"--eval_file={train}", "--text_column=sentence", "--label_column=label",
            "--sequence_length=16", "--epochs=2", "--batch_size=4", "--seed=3",
            "--checkpoint_every=2", f"--model_dir={model_dir}", env=env)
    finish(start(command(tmp / "single"), [], tmp))
    (chief_out, chief_err), (other_out, other_err) = finish(
        start(command(tmp / "cluster"), free_ports(2), tmp))
    # The chief wrote the run's files, as one process does; the other worker left nothing.
    assert sorted(p.name for p in (tmp / "cluster").iterdir()) == sorted(
        p.name for p in (tmp / "single").iterdir())
    assert not list((tmp / "tmp1").glob("kbert-worker*"))
    single = json.loads((tmp / "single" / "metrics.json").read_text())
    cluster = json.loads((tmp / "cluster" / "metrics.json").read_text())
    # The same report; not the same numbers: each replica draws its own dropout masks (the
    # dropout-free program above is where the runs agree to float tolerance).
    assert [e.keys() for e in cluster["epochs"]] == [e.keys() for e in single["epochs"]]
    assert cluster["final"].keys() == single["final"].keys()
    assert cluster["train_examples"] == single["train_examples"] == 12
    # Progress and the final report come once, from the chief.
    assert "val_accuracy" in chief_out and "val_accuracy" not in other_out
    assert "Epoch 1/2" in chief_out and "Epoch 1/2" not in other_out


def test_a_malformed_tf_config_is_one_clear_error(monkeypatch):
    import kbert
    from kbert.training import distribute

    monkeypatch.setenv("TF_CONFIG", '{"cluster": ["127.0.0.1:1"]')
    with pytest.raises(kbert.KbertInputError, match="TF_CONFIG environment variable: not a cluster"):
        distribute.cluster_size()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}}')
    assert distribute.cluster_size() == 1 and distribute.cluster_strategy() is None


def script_command(preset, train, model_dir, *flags):
    """The training program's flags (`kbert-train-classifier`)."""
    return [f"--preset={preset}", f"--train_file={train}", "--text_column=sentence",
            "--label_column=label", "--sequence_length=16", "--batch_size=2", "--seed=3",
            f"--model_dir={model_dir}", *flags]


def small_table(path, rows=4):
    path.write_text("sentence\tlabel\n" + "".join(
        f"{text}\t{label}\n" for text, label in [("the film was great", 1), ("a dull book", 0),
                                                 ("i loved it", 1), ("really bad food", 0)] * rows))
    return path


def start_logged(command, ports, index, tmp, log):
    """Worker `index` of a cluster on `ports`, alone, its stderr in the file `log`."""
    return programs.start("train_classifier", *command,
                          env=environment(ports, index, tmp / f"tmp{index}"), stderr=log)


def wait_for_line(process, log, text, timeout=300):
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {log.read_text()[-3000:]}"
        time.sleep(0.5)


def test_a_worker_whose_peer_never_starts_gives_up_naming_it(tmp, one_layer_preset):
    ports = free_ports(2)
    log = tmp / "worker0.log"
    process = start_logged(script_command(one_layer_preset, small_table(tmp / "train.tsv"),
                                          tmp / "run", "--cluster_timeout=5"), ports, 0, tmp, log)
    process.wait(timeout=300)
    err = log.read_text()
    assert process.returncode == 1, err[-3000:]
    # It said whom it waited for, then gave up with one error line naming the missing worker.
    assert f"waiting for worker 1 (127.0.0.1:{ports[1]})" in err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "within 5 s" in error and f"worker 1 (127.0.0.1:{ports[1]})" in error
    assert "Traceback" not in err and not (tmp / "run").exists()


def test_sigterm_stops_a_worker_waiting_for_its_cluster(tmp, one_layer_preset):
    ports = free_ports(2)
    log = tmp / "worker1.log"
    process = start_logged(script_command(one_layer_preset, small_table(tmp / "train.tsv"),
                                          tmp / "run"), ports, 1, tmp, log)
    try:
        wait_for_line(process, log, "waiting for worker 0")  # The default timeout is 300 s.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)  # Before the fix: SIGTERM was ignored until SIGKILL.
    finally:
        process.kill()
    assert process.returncode == -signal.SIGTERM


def test_sigterm_stops_a_training_cluster_and_keeps_the_last_checkpoint(tmp, one_layer_preset):
    ports = free_ports(2)
    train = small_table(tmp / "train.tsv", rows=25)  # 100 rows: 50 steps an epoch.
    command = script_command(one_layer_preset, train, tmp / "run", "--epochs=20",
                             "--checkpoint_every=5")
    logs = [tmp / f"worker{i}.log" for i in range(2)]
    processes = [start_logged(command, ports, i, tmp, logs[i]) for i in range(2)]
    checkpoint = tmp / "run" / "checkpoint" / "checkpoint.json"
    deadline = time.monotonic() + 400
    try:
        while not checkpoint.exists():  # Training, past its first committed checkpoint.
            assert all(p.poll() is None for p in processes), logs[0].read_text()[-3000:]
            assert time.monotonic() < deadline, logs[0].read_text()[-3000:]
            time.sleep(0.5)
        for process in processes:  # What a scheduler does to every task of a preempted job.
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)  # Before the fix: TensorFlow's preemption notifier kept it.
    finally:
        for process in processes:
            process.kill()
    assert [p.returncode for p in processes] == [-signal.SIGTERM] * 2
    state = json.loads(checkpoint.read_text())
    assert (checkpoint.parent / state["latest"]).exists()
    assert not (tmp / "run" / "model.keras").exists()  # Stopped mid-run: not a finished model.
