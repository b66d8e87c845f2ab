"""BERT-base fine-tuning throughput on one GPU: kbert's TextClassifier on Keras 3 + JAX (XLA,
bf16) against Hugging Face transformers + PyTorch (bf16 autocast), same shapes, same steps.

  KERAS_BACKEND=jax python -m benchmarks --what=gpu                 # on a GPU machine
  KERAS_BACKEND=jax python -m benchmarks --what=gpu --gpu_model=tiny --quick --output=/tmp/b.md
  python -m benchmarks.gpu keras 4 16 2 1 [tiny]    # one worker: side batch length steps warm-up

Each configuration runs in its own subprocess (one JSON line back) so that neither side holds
GPU memory or compilation caches while the other runs. Neither side imports TensorFlow: the
GPU machines have JAX and PyTorch only, and the Keras side trains kbert's own `TextClassifier`
(KerasHub BertBackbone, BERT-base configuration, random weights: the compute is the same as
with pretrained ones; mean pooling, 2-class head) through `fit` on pre-tokenized arrays
(kbert.preprocessing.features) with kbert's `compile()` recipe. Inputs are random token ids
with every position valid, so no kernel can skip padding.

What makes the two sides compare equal things:
- The same recipe: AdamW (weight decay 0.01 except biases and LayerNorm, epsilon 1e-8), 10%
  warm-up then linear decay, global-norm clipping at 1.0 on both (the PyTorch side is
  benchmarks/reference.py's loop, the parity harness's).
- Compilation outside the timed window, on both sides the same way: ONE training run of
  `warm-up + timed` steps (one `fit` call; one loop and one schedule on PyTorch), the clock
  started when the warm-up's last step is done and stopped after the last step. A second `fit`
  would trace kbert's training step again (each `fit` plans its learning-rate schedule anew,
  and the plan is traced into the step), so a warm-up `fit` before a timed `fit` timed a full
  recompile. The Keras worker counts its traces of the step (`traces`): one per shape.
- The same input feeding: a new batch from host memory each step on both sides (kbert's `fit`
  over NumPy arrays; on PyTorch, pinned host tensors copied to the GPU as Trainer's DataLoader
  does), and the loss read on the host each step on both (kbert's `fit` stops on a non-finite
  loss; Trainer's default `logging_nan_inf_filter` checks each step's loss).

`--gpu_model=tiny` (2 layers, hidden 32) proves the harness on any CPU in seconds (the test
suite runs it on JAX's CPU backend); the PyTorch side reports itself skipped without torch or
a CUDA device.
"""

from __future__ import annotations

import json
import os
import sys
import time

MODELS = {  # Encoder sizes: BERT-base (KerasHub's bert_base_en_uncased, transformers' BertConfig
    # defaults), and a tiny one for smoke runs.
    "base": dict(vocabulary=30522, layers=12, heads=12, hidden=768, intermediate=3072,
                 max_positions=512),
    "tiny": dict(vocabulary=1000, layers=2, heads=2, hidden=32, intermediate=64,
                 max_positions=128),
}
PEAK_BF16_FLOPS = 989e12  # H100/H200 SXM dense bf16 tensor-core peak
LEARNING_RATE = 2e-5


def training_flops(non_embedding_params: int, batch: int, length: int,
                   model: str = "base") -> float:
    """Model FLOPs of one training step (forward + backward): 6·N per token for the weight
    matrices plus the attention scores and weighted sums, 12·layers·length·hidden per token
    (the PaLM paper's MFU accounting; embeddings are lookups, not FLOPs).

    Example:
    >>> f"{training_flops(85_000_000, 32, 128) / 1e12:.1f} TFLOP"
    '2.2 TFLOP'
    """
    size, tokens = MODELS[model], batch * length
    return (6 * non_embedding_params * tokens
            + 12 * size["layers"] * length * size["hidden"] * tokens)


def _random_batches(count: int, batch: int, length: int, vocabulary: int):
    """Host arrays of `count` batches: token ids past the special tokens, every position valid,
    random binary labels. The same for both sides (seed 0)."""
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(5, vocabulary, size=(count * batch, length), dtype=np.int32)
    return ids, np.ones_like(ids), np.zeros_like(ids), rng.integers(0, 2, size=(count * batch,))


def run_keras(batch: int, length: int, steps: int, warmup: int, steps_per_execution: int,
              flash: bool, model: str = "base") -> dict:
    # Blocked as on the GPU machines: kbert's pre-tokenized path must not need TensorFlow.
    sys.modules.setdefault("tensorflow", None)
    sys.modules.setdefault("tensorflow_text", None)
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras
    import keras_hub
    import numpy as np

    import kbert
    from kbert.preprocessing import TextPreprocessor

    size = MODELS[model]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if flash:
        keras.config.enable_flash_attention()
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=size["vocabulary"], num_layers=size["layers"], num_heads=size["heads"],
        hidden_dim=size["hidden"], intermediate_dim=size["intermediate"],
        max_sequence_length=size["max_positions"])
    # The vocabulary only sizes the tokenizer: training reads token ids, not text.
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        f"w{i}" for i in range(size["vocabulary"] - 5)]
    preprocessor = TextPreprocessor(keras_hub.models.BertTokenizer(vocabulary=vocabulary),
                                    length)
    classifier = kbert.TextClassifier(backbone, preprocessor, num_classes=2)
    classifier.compile(learning_rate=LEARNING_RATE, jit_compile=True,
                       steps_per_execution=steps_per_execution)
    traces = []
    step = type(classifier).train_step

    def counted_step(self, *args, **kwargs):
        traces.append(1)  # Python runs this only while JAX traces the step.
        return step(self, *args, **kwargs)

    # On the class (this worker's process only), so that Keras jits a new bound method each
    # time, as it does unpatched: one function object set on the instance would let JAX reuse
    # its first trace across `fit` calls, stale schedule and all, and hide retraces.
    type(classifier).train_step = counted_step
    # The clock's marks fall on execution boundaries: the warm-up is whole executions.
    warmup = -(-warmup // steps_per_execution) * steps_per_execution
    ids, mask, segments, labels = _random_batches(warmup + steps, batch, length,
                                                  size["vocabulary"])
    x = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
    marks = {}

    class Clock(keras.callbacks.Callback):
        """Marks the start, the end of the warm-up's last step and of the last step. The loss
        Keras hands a batch-end callback is a host number (Keras converts the logs first), so
        the device has finished that step when the mark is taken."""

        def on_train_begin(self, logs=None):
            marks["begin"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 in (warmup, warmup + steps):
                float((logs or {}).get("loss", 0.0))
                marks[batch + 1] = time.perf_counter()

    # One fit: the compile and the warm-up are its first steps, outside the timed window.
    classifier.fit(x, labels, batch_size=batch, epochs=1, verbose=0, shuffle=False,
                   callbacks=[Clock()])
    embedding = sum(int(np.prod(w.shape)) for w in backbone.get_layer("token_embedding").weights
                    + backbone.get_layer("position_embedding").weights
                    + backbone.get_layer("segment_embedding").weights)
    return {"framework": f"kbert TextClassifier, Keras {keras.__version__} + KerasHub "
                         f"{keras_hub.__version__}, JAX "
                         f"{jax.__version__}, XLA, mixed_bfloat16"
                         + (", flash attention" if flash else "")
                         + (f", steps_per_execution={steps_per_execution}"
                            if steps_per_execution > 1 else ""),
            "device": jax.devices()[0].device_kind,
            "params": classifier.count_params(),
            "non_embedding_params": classifier.count_params() - embedding,
            "seconds": marks[warmup + steps] - marks[warmup], "steps": steps, "warmup": warmup,
            "first_steps_seconds": marks[warmup] - marks["begin"], "traces": len(traces)}


def run_torch(batch: int, length: int, steps: int, warmup: int, compiled: bool,
              model: str = "base") -> dict:
    try:
        import torch
        import transformers
    except ImportError as error:
        return {"skipped": f"{error.name} is not installed (the bench extras)"}
    if not torch.cuda.is_available():
        return {"skipped": "PyTorch sees no CUDA device"}
    import numpy as np

    from benchmarks import reference

    size = MODELS[model]
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=size["vocabulary"], num_hidden_layers=size["layers"],
        num_attention_heads=size["heads"], hidden_size=size["hidden"],
        intermediate_size=size["intermediate"], max_position_embeddings=size["max_positions"],
        num_labels=2)
    net = transformers.BertForSequenceClassification(config).cuda()
    # What transformers' Trainer does with bf16=True: fp32 weights, bf16 autocast, fused AdamW;
    # the recipe (decay groups, warm-up, clipping) is the shared reference's.
    optimizer, schedule = reference.adamw(net, LEARNING_RATE, warmup + steps, fused=True)
    forward = torch.compile(net) if compiled else None
    host = dict(zip(("input_ids", "attention_mask", "token_type_ids", "labels"),
                    _random_batches(warmup + steps, batch, length, size["vocabulary"])))
    host["labels"] = host["labels"].astype(np.int64)

    def batches():  # A new host batch each step, pinned and copied as Trainer's DataLoader does.
        for index in range(warmup + steps):
            rows = slice(index * batch, (index + 1) * batch)
            yield {k: torch.from_numpy(v[rows]).pin_memory().cuda(non_blocking=True)
                   for k, v in host.items()}

    marks = {"begin": time.perf_counter()}
    for done, loss in enumerate(reference.training_steps(
            net, batches(), optimizer, schedule, autocast_dtype=torch.bfloat16,
            forward=forward), start=1):
        if not bool(torch.isfinite(loss)):  # Trainer's nan/inf check: the host waits here.
            raise FloatingPointError(f"the loss became {float(loss)} at step {done}")
        if done in (warmup, warmup + steps):
            torch.cuda.synchronize()
            marks[done] = time.perf_counter()
    embedding = sum(p.numel() for p in net.bert.embeddings.parameters())
    params = sum(p.numel() for p in net.parameters())
    return {"framework": f"transformers {transformers.__version__} + PyTorch "
                         f"{torch.__version__}, bf16 autocast, fused AdamW, "
                         f"{config._attn_implementation or 'sdpa'} attention"
                         + (", torch.compile" if compiled else ", eager"),
            "device": torch.cuda.get_device_name(),
            "params": params, "non_embedding_params": params - embedding,
            "seconds": marks[warmup + steps] - marks[warmup], "steps": steps, "warmup": warmup,
            "first_steps_seconds": marks[warmup] - marks["begin"]}


def measure(side: str, batch: int, length: int, steps: int, warmup: int,
            model: str = "base") -> dict:
    """One configuration in a fresh subprocess; returns its figures plus sequences/s and MFU,
    or {"framework", "error"} / {"framework", "skipped"}.

    Example:
    >>> measure("keras", 4, 16, 4, 2, model="tiny")["traces"]
    1
    """
    from benchmarks import in_subprocess

    result = in_subprocess("benchmarks.gpu", side, batch, length, steps, warmup, model)
    if "error" in result or "skipped" in result:
        return {"framework": side, **result}
    step_seconds = result["seconds"] / result["steps"]
    result["sequences_per_second"] = batch * steps / result["seconds"]
    result["mfu"] = training_flops(result["non_embedding_params"], batch, length, model) / (
        step_seconds * PEAK_BF16_FLOPS)
    result["batch"], result["length"] = batch, length
    return result


SIDES = {  # name -> (runner, keyword arguments)
    "keras": (run_keras, {"steps_per_execution": 1, "flash": False}),
    "keras_flash": (run_keras, {"steps_per_execution": 1, "flash": True}),
    "keras_spe8": (run_keras, {"steps_per_execution": 8, "flash": False}),
    "torch": (run_torch, {"compiled": False}),
    "torch_compile": (run_torch, {"compiled": True}),
}


def run(flags) -> "Section":
    from benchmarks import Section, error_line, markdown_table

    model = getattr(flags, "gpu_model", "base")
    size = MODELS[model]
    batches = [32] if flags.quick else [int(b) for b in flags.gpu_batch_sizes]
    steps, warmup = (16, 8) if flags.quick else (96, 16)
    results = []
    for batch in batches:
        for side in flags.gpu_sides:
            results.append(measure(side, batch, flags.gpu_sequence_length, steps, warmup, model))
            print(json.dumps(results[-1]), flush=True)  # a run cut short still shows these
    rows, best = [], {}
    for r in results:
        if "error" in r or "skipped" in r:
            why = f"failed: {error_line(r)}" if "error" in r else f"skipped: {r['skipped']}"
            rows.append([r["framework"], "-", "-", "-", "-", "-", why])
            continue
        rows.append([r["framework"], r["batch"], f"{r['sequences_per_second']:.0f}",
                     f"{100 * r['mfu']:.1f}%", f"{r['first_steps_seconds']:.1f}",
                     f"{1000 * r['seconds'] / r['steps']:.1f} ms/step", r.get("traces", "-")])
        side = "keras" if r["framework"].startswith("kbert") else "torch"
        key = (side, r["batch"])
        best[key] = max(best.get(key, 0.0), r["sequences_per_second"])
    ok = [r for r in results if "seconds" in r]
    device = ok[0]["device"] if ok else "?"
    ratios = [f"batch {b}: {best[('keras', b)] / best[('torch', b)]:.2f}x"
              for b in batches if ("keras", b) in best and ("torch", b) in best]
    top_mfu = max((r["mfu"] for r in ok if r["framework"].startswith("kbert")), default=0.0)
    summary = (f"Keras/JAX over transformers/PyTorch, best configuration of each, sequences per "
               f"second: {', '.join(ratios) or 'n/a'} (goal >= 1.3x). Best Keras MFU "
               f"{100 * top_mfu:.1f}% (goal >= 40%). MFU = (6 x non-embedding parameters x "
               f"tokens + 12 x layers x length x hidden x tokens) / (step time x 989 TFLOP/s).")
    table = markdown_table(["framework", "batch", "sequences/s", "MFU", "compile + first "
                            f"{warmup} steps, s", "step time", "traces of the step"], rows)
    setup = (f"{'BERT-base' if model == 'base' else 'A tiny BERT'} ({size['layers']} layers, "
             f"hidden {size['hidden']}, {ok[0]['params'] if ok else '?'} parameters, random "
             f"weights), 2-class head, sequence length {flags.gpu_sequence_length}, AdamW lr "
             f"{LEARNING_RATE}, warm-up + linear decay, clipnorm 1.0 on both sides, one run of "
             f"{warmup} warm-up steps (compilation included) then {steps} timed steps, a new "
             f"host batch each step, random token ids (no padding), on {device}")
    return Section("GPU fine-tuning throughput: Keras/JAX vs transformers/PyTorch", setup, table,
                   summary)


if __name__ == "__main__":
    side, batch, length, steps, warmup = sys.argv[1], *map(int, sys.argv[2:6])
    runner, options = SIDES[side]
    print(json.dumps(runner(batch, length, steps, warmup, **options,
                            model=sys.argv[6] if len(sys.argv) > 6 else "base")))
