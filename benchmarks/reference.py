"""The reference side's training: what a transformers user writes (what `Trainer` does, without
its logging), one recipe and one loop for every comparison (parity.py, torch_cpu.py, gpu.py), so
that they cannot drift apart again:

- AdamW, weight decay 0.01 except on biases and LayerNorm weights (Trainer's two groups),
  epsilon 1e-8 (PyTorch's and Trainer's default);
- linear warm-up over `warmup_steps(total, ratio)` = ceil(ratio x total) steps, rounded up as
  Trainer rounds `warmup_ratio` (`TrainingArguments.get_warmup_steps`), then linear decay to 0
  at the last step (`get_linear_schedule_with_warmup`);
- the global gradient norm clipped to 1.0 (Trainer's `max_grad_norm`), every step;
- gradients set to None after each step.

Imports torch and transformers only when called: the module loads without them.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable, Iterable, Iterator

import numpy as np

WARMUP_RATIO, WEIGHT_DECAY, EPSILON, CLIPNORM = 0.1, 0.01, 1e-8, 1.0


def warmup_steps(total_steps: int, warmup_ratio: float = WARMUP_RATIO) -> int:
    """Warm-up steps of a run of `total_steps`: rounded up, as transformers' Trainer does.

    Example:
    >>> warmup_steps(125), warmup_steps(100), warmup_steps(7)
    (13, 10, 1)
    """
    return math.ceil(warmup_ratio * total_steps)


def decays(name: str) -> bool:
    """Whether AdamW decays the parameter of this name: not biases nor LayerNorm weights.

    Example:
    >>> decays("bert.encoder.layer.0.output.dense.weight"), decays("classifier.bias")
    (True, False)
    """
    return not (name.endswith("bias") or "LayerNorm" in name)


def adamw(model, learning_rate: float, total_steps: int, *, warmup_ratio: float = WARMUP_RATIO,
          weight_decay: float = WEIGHT_DECAY, epsilon: float = EPSILON, fused: bool = False):
    """(torch AdamW over `model`'s two parameter groups, its warm-up + linear decay schedule
    over `total_steps`). `fused=True` is PyTorch's one-kernel AdamW (Trainer's default on a GPU
    with recent torch).

    Example:
    >>> optimizer, schedule = adamw(model, 5e-5, total_steps=500)   # 50 warm-up steps
    """
    import torch
    import transformers

    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if decays(n)], "weight_decay": weight_decay},
              {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, eps=epsilon,
                                  **({"fused": True} if fused else {}))
    schedule = transformers.get_linear_schedule_with_warmup(
        optimizer, warmup_steps(total_steps, warmup_ratio), total_steps)
    return optimizer, schedule


def training_steps(model, batches: Iterable[dict], optimizer, schedule, *,
                   clipnorm: float = CLIPNORM, autocast_dtype=None,
                   forward: Callable | None = None) -> Iterator:
    """Trains `model` one step per batch (the model's keyword inputs with `labels`): forward,
    backward, global-norm clipping, AdamW step, schedule step. Yields each step's loss,
    detached and where the model is (reading it as a number waits for the device: the
    caller's choice). `autocast_dtype` (e.g. torch.bfloat16) runs the forward under autocast,
    as Trainer's bf16=True; `forward` replaces the model's call (a `torch.compile`d model).

    Example:
    >>> for loss in training_steps(model, (batch_of(r) for r in rows), *adamw(model, 5e-5, n)):
    ...     total += float(loss)
    """
    import torch

    model.train()
    call = forward or model
    device = next(model.parameters()).device.type
    for inputs in batches:
        with (torch.autocast(device, dtype=autocast_dtype) if autocast_dtype is not None
              else contextlib.nullcontext()):
            loss = call(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clipnorm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        yield loss.detach()


def fit(model, batch_of: Callable, rows: int, *, batch_size: int, epochs: int,
        learning_rate: float, seed: int, epsilon: float = EPSILON,
        warmup_ratio: float = WARMUP_RATIO, forward: Callable | None = None) -> dict:
    """Trains `model` for `epochs` over `rows` training rows, batches of row indices in a random
    order drawn anew each epoch from a generator seeded with `seed` (the last batch smaller);
    `batch_of(indices)` gives a batch's keyword inputs with `labels` (tokenized as drawn,
    padded to its longest row, as DataCollatorWithPadding does). `forward` replaces the model's
    call as in `training_steps` (a loss of its own: distillation). Leaves the model in eval mode.

    Returns {"seconds": training wall time, "steps", "epoch_loss": each epoch's mean loss,
    "last_loss": the last step's}.

    Example:
    >>> fit(model, batch_of, len(texts), batch_size=32, epochs=1, learning_rate=5e-5, seed=0)
    """
    steps_per_epoch = math.ceil(rows / batch_size)
    optimizer, schedule = adamw(model, learning_rate, steps_per_epoch * epochs,
                                warmup_ratio=warmup_ratio, epsilon=epsilon)
    rng = np.random.default_rng(seed)
    start, epoch_loss, loss = time.perf_counter(), [], None
    for _ in range(epochs):
        order = rng.permutation(rows)
        batches = [order[step * batch_size:(step + 1) * batch_size]
                   for step in range(steps_per_epoch)]
        total = 0.0
        for indices, loss in zip(batches, training_steps(model, map(batch_of, batches),
                                                         optimizer, schedule, forward=forward)):
            total += float(loss) * len(indices)
        epoch_loss.append(total / rows)
    model.eval()
    return {"seconds": time.perf_counter() - start, "steps": steps_per_epoch * epochs,
            "epoch_loss": epoch_loss, "last_loss": float(loss)}
