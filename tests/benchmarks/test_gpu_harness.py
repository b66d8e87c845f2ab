"""The GPU comparison's harness (benchmarks/gpu.py) runs end to end on JAX's CPU backend with a
tiny encoder (2 layers, hidden 32): the Keras side traces its training step once for the warm-up
and the timed steps together (a warm-up `fit` followed by a timed `fit` traced it twice, the
timed run then including a full recompile), and the PyTorch side reports itself skipped, not
failed, where torch or a CUDA device is missing."""

import json
import sys
import types

import pytest

from benchmarks import gpu


@pytest.fixture(scope="module")
def section():
    """The driver as `python -m benchmarks --what=gpu --gpu_model=tiny --quick` runs it: each
    side in its own subprocess, the Keras one on KERAS_BACKEND=jax, on CPU."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_BACKEND", "jax")
        patch.setenv("JAX_PLATFORMS", "cpu")
        patch.setenv("CUDA_VISIBLE_DEVICES", "")  # PyTorch too sees no GPU, where it is installed.
        flags = types.SimpleNamespace(quick=True, gpu_batch_sizes=["32"], gpu_sequence_length=16,
                                      gpu_sides=["keras", "torch"], gpu_model="tiny")
        printed = []
        patch.setattr("builtins.print", lambda *args, **kwargs: printed.append(args))
        result = gpu.run(flags)
    return result, [json.loads(args[0]) for args in printed]


def test_keras_side_traces_its_step_once_across_warmup_and_timed_steps(section):
    result, rows = section
    keras_row = rows[0]
    assert "error" not in keras_row, keras_row
    assert keras_row["device"] == "cpu" and keras_row["framework"].startswith("kbert")
    # One shape, one trace: the compile falls in the warm-up, none in the timed window.
    assert keras_row["traces"] == 1
    assert (keras_row["warmup"], keras_row["steps"]) == (8, 16)
    assert 0 < keras_row["seconds"] < keras_row["first_steps_seconds"]
    assert keras_row["sequences_per_second"] > 0 and keras_row["mfu"] > 0
    assert "| 1 |" in result.table  # The table's traces column.


def test_torch_side_is_skipped_cleanly_without_torch_or_cuda(section):
    result, rows = section
    torch_row = rows[1]
    assert "error" not in torch_row and "skipped" in torch_row, torch_row
    assert "skipped: " in result.table and "failed" not in result.table
    assert "n/a" in result.summary  # No ratio against a side that did not run.


def test_torch_runner_reports_a_missing_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError.
    assert gpu.run_torch(4, 16, 2, 1, compiled=False, model="tiny") == {
        "skipped": "torch is not installed (the bench extras)"}
