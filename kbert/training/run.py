"""The run loop the training scripts share: fit with evaluation, then keep the model, the metrics
and TensorBoard logs in one model directory."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
from absl import logging

from kbert.files import atomic_path, write_json
from kbert.training import checkpoint, distribute
from kbert.training.callbacks import EvaluationCallback


def train_and_evaluate(model, train, eval_data=None, *, model_dir: str | Path, epochs: int,
                       batch_size: int, seed: int | None = None,
                       extra_metadata: dict[str, Any] | None = None,
                       finalize: Callable[[Any], dict] | None = None,
                       checkpoint_every: int | None = 500, resume: bool = True) -> dict[str, Any]:
    """Fits `model` (any kbert task) on prepared data and writes into `model_dir`:
    `model.keras`, `metrics.json` (every epoch and the final evaluation) and `logs/` for
    TensorBoard (and for a LoRA model `adapter.lora.h5`, see `Task.save_adapter`). The model and
    metrics files appear only once complete. `finalize(model)`, if
    given, runs after training and before saving (e.g. choosing a QA null threshold); its report
    becomes the final evaluation.

    The training state is checkpointed into `model_dir/checkpoint` every `checkpoint_every`
    steps (None: off); running the same command again after a crash resumes from it exactly
    (`resume=False` starts over). It is removed once the model is saved.

    Example:
    >>> train_and_evaluate(clf, clf.prepare(train), clf.prepare(dev), model_dir="runs/sst2",
    ...                    epochs=3, batch_size=32)
    {'final': {'accuracy': 0.91, ...}, 'epochs': [...], ...}
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    # Under MultiWorkerMirroredStrategy (TF_CONFIG) every worker runs this; the chief's files
    # are kept, the other workers write theirs to a temporary folder (see distribute).
    strategy = getattr(model, "distribute_strategy", None)
    chief = distribute.is_chief(strategy)
    with distribute.writer_directory(model_dir, strategy) as written:
        # The evaluation callback comes first so TensorBoard and History see its metrics.
        evaluation = (EvaluationCallback(eval_data, batch_size=batch_size * 2) if eval_data
                      else None)
        callbacks = [c for c in (evaluation, keras.callbacks.TensorBoard(str(written / "logs")))
                     if c]
        start = time.time()
        checkpoint_dir = model_dir / "checkpoint"  # Read by every worker, written by the chief.
        if not resume and checkpoint_dir.exists() and chief:
            shutil.rmtree(checkpoint_dir)
        if checkpoint_every and checkpoint.read_state(checkpoint_dir):
            logging.info("resuming from the checkpoint in %s", checkpoint_dir)
        history = model.fit(train, epochs=epochs, batch_size=batch_size, seed=seed,
                            callbacks=callbacks, verbose="auto",
                            checkpoint_dir=str(checkpoint_dir) if checkpoint_every else None,
                            checkpoint_every=checkpoint_every or 1)
        seconds = time.time() - start
        epochs_log = [{key: float(values[i]) for key, values in history.history.items()}
                      for i in range(len(history.epoch))]
        final = evaluation.last_report if evaluation else {}
        if finalize is not None:
            final = finalize(model)
        result = {
            **(extra_metadata or {}),
            "train_examples": len(train.examples) if hasattr(train, "examples") else None,
            "eval_examples": len(eval_data.examples) if hasattr(eval_data, "examples") else None,
            "epochs": epochs_log,
            "final": final,
            "train_seconds": round(seconds, 1),
        }
        if result["train_examples"]:
            result["train_examples_per_second"] = round(
                result["train_examples"] * epochs / seconds, 1)
        result["trainable_parameters"] = int(sum(np.prod(v.shape)
                                                 for v in model.trainable_variables))
        with atomic_path(written / "model.keras") as tmp:
            model.save(tmp)
        if model.lora is not None:  # The small file that rebuilds the model from its preset.
            model.save_adapter(written / "adapter.lora.h5")
        write_json(written / "metrics.json", result)
        if checkpoint_dir.exists() and chief:
            shutil.rmtree(checkpoint_dir)  # The run is complete: nothing left to resume.
        logging.info("final evaluation: %s", final)
        logging.info("wrote %s and %s%s", written / "model.keras", written / "metrics.json",
                     "" if chief else " (a worker's copies, removed: the chief keeps the run's)")
        return result
