"""Data-parallel training on two CPU devices matches single-device training, on both engines:
TensorFlow (tf.distribute.MirroredStrategy over two logical CPUs) and JAX (Keras's distribution
API, DataParallel over two forced host devices). Each engine runs in a fresh process: devices must
be configured before the engine starts. That process trains on one device, then on two (a new
model each time, built from the same seed): one engine start, not two."""

import json
import subprocess
import sys
from pathlib import Path

from tests import programs

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {root!r})
import keras, kbert
from tests.conftest import one_layer_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"] * 4
LABELS = ["pos", "neg", "pos", "neg"] * 4

def train(devices, lazy=False):
    strategy = (tf.distribute.MirroredStrategy([f"/cpu:{{i}}" for i in range(devices)])
                if devices > 1 else tf.distribute.get_strategy())
    with strategy.scope():
        clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"], dropout=0.0)
        clf.backbone.trainable = True
        # clipnorm this small clips every step: the clip must see the whole batch's gradient.
        clf.compile(learning_rate=1e-3, warmup_ratio=0.0, clipnorm=0.01, lazy_embeddings=lazy)
    # No dropout anywhere, so that both runs compute the same function.
    for layer in clf._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    history = clf.fit(TEXTS, LABELS, epochs=3, batch_size=8, seed=1, shuffle=False, verbose=0)
    return {{"replicas": strategy.num_replicas_in_sync, "loss": history.history["loss"]}}

print(json.dumps([train(1), train(2), train(2, lazy=True)]))
"""


def losses():
    """[the run on one device, the run on two, the run on two with lazy embedding updates], from
    one process."""
    # A process of its own: the two logical CPU devices must be set before TensorFlow runs an
    # op (a child of tests/programs.py's server, which has only imported TensorFlow).
    result = programs.run_code(PROGRAM.format(root=str(ROOT)))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_strategy_on_two_cpu_devices_matches_one_device():
    single, mirrored, lazy_mirrored = losses()
    assert single["replicas"] == 1 and mirrored["replicas"] == lazy_mirrored["replicas"] == 2
    for a, b in zip(single["loss"], mirrored["loss"]):
        assert abs(a - b) < 1e-5 * max(1.0, abs(a))
    # Lazy embedding updates run under the strategy too (their math: test_optimizer_and_metrics).
    assert lazy_mirrored["loss"][-1] < lazy_mirrored["loss"][0]


JAX_PROGRAM = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
sys.path.insert(0, {root!r})
import jax, keras, kbert
from tests.conftest import one_layer_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"] * 4
LABELS = ["pos", "neg", "pos", "neg"] * 4

def train(devices):
    if devices > 1:  # The one-device run comes first, before any distribution is set.
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=jax.devices()[:devices]))
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"], dropout=0.0)
    clf.compile(learning_rate=1e-3, warmup_ratio=0.0)
    for layer in clf._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    history = clf.fit(TEXTS, LABELS, epochs=3, batch_size=8, seed=1, shuffle=False, verbose=0)
    weights = clf.trainable_variables[0].value
    return {{"backend": keras.backend.backend(), "loss": history.history["loss"],
            "weight_devices": len(weights.sharding.device_set)}}

print(json.dumps([train(1), train(2)]))
"""


def jax_losses():
    """[the run on one device, the run on two], from one process."""
    program = JAX_PROGRAM.format(root=str(ROOT))
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_jax_data_parallel_on_two_host_devices_matches_one_device():
    single, parallel = jax_losses()
    assert single["backend"] == parallel["backend"] == "jax"
    # With the distribution set, the weights live (replicated) on both devices.
    assert single["weight_devices"] == 1 and parallel["weight_devices"] == 2
    for a, b in zip(single["loss"], parallel["loss"]):
        assert abs(a - b) < 1e-5 * max(1.0, abs(a))
