"""BERT-base fine-tuning throughput on one GPU: kbert's TextClassifier on Keras 3 + JAX (XLA,
bf16) against Hugging Face transformers + PyTorch (bf16 autocast), same shapes, same step count.

Each framework runs in its own subprocess (`python -m benchmarks.gpu keras|torch ...`
prints one JSON line) so neither holds GPU memory or compilation caches while the other runs.
Neither side imports TensorFlow: the GPU machines have JAX and PyTorch only, and the Keras side
trains kbert's own `TextClassifier` (KerasHub BertBackbone, BERT-base configuration, random
weights: the compute is the same as with pretrained ones; mean pooling, 2-class head) through
`fit` on pre-tokenized arrays (kbert.preprocessing.features), with kbert's `compile()` recipe
(AdamW, warmup + linear decay, global clipnorm 1.0). The PyTorch side is AdamW without
clipping, as Trainer's fastest setting. Inputs are random token ids with every position valid,
so no kernel can skip padding.
"""

from __future__ import annotations

import json
import os
import sys
import time

# BERT-base (KerasHub's bert_base_en_uncased configuration, transformers' BertConfig defaults).
VOCAB, LAYERS, HEADS, HIDDEN, INTERMEDIATE, MAX_POSITIONS = 30522, 12, 12, 768, 3072, 512
PEAK_BF16_FLOPS = 989e12  # H100/H200 SXM dense bf16 tensor-core peak
LEARNING_RATE = 2e-5


def training_flops(non_embedding_params: int, batch: int, length: int) -> float:
    """Model FLOPs of one training step (forward + backward): 6·N per token for the weight
    matrices plus the attention scores and weighted sums, 12·layers·length·hidden per token
    (the PaLM paper's MFU accounting; embeddings are lookups, not FLOPs)."""
    tokens = batch * length
    return 6 * non_embedding_params * tokens + 12 * LAYERS * length * HIDDEN * tokens


def _random_batch(rng, batch, length):
    import numpy as np
    ids = rng.integers(1000, VOCAB, size=(batch, length), dtype=np.int32)
    return ids, np.ones_like(ids), np.zeros_like(ids), rng.integers(0, 2, size=(batch,))


def run_keras(batch: int, length: int, steps: int, warmup: int, steps_per_execution: int,
              flash: bool) -> dict:
    # Blocked as on the GPU machines: kbert's pre-tokenized path must not need TensorFlow.
    sys.modules.setdefault("tensorflow", None)
    sys.modules.setdefault("tensorflow_text", None)
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras
    import keras_hub
    import numpy as np

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    import kbert
    from kbert.preprocessing import TextPreprocessor

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if flash:
        keras.config.enable_flash_attention()
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE, max_sequence_length=MAX_POSITIONS)
    # The vocabulary only sizes the tokenizer: training reads token ids, not text.
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        f"w{i}" for i in range(VOCAB - 5)]
    preprocessor = TextPreprocessor(keras_hub.models.BertTokenizer(vocabulary=vocabulary),
                                    length)
    model = kbert.TextClassifier(backbone, preprocessor, num_classes=2)
    model.compile(learning_rate=LEARNING_RATE, jit_compile=True,
                  steps_per_execution=steps_per_execution)
    rng = np.random.default_rng(0)
    ids, mask, segments, labels = _random_batch(rng, batch * max(steps, warmup), length)
    x = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}

    class Start(keras.callbacks.Callback):  # The clock starts after fit has checked the arrays.
        def on_train_begin(self, logs=None):
            self.time = time.perf_counter()

    def fit(count):
        start = Start()
        model.fit({k: v[:count * batch] for k, v in x.items()}, labels[:count * batch],
                  batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[start])
        jax.block_until_ready([v.value for v in model.trainable_variables])  # GPU work done
        return time.perf_counter() - start.time

    compile_and_warmup = fit(warmup)
    seconds = fit(steps)
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
            "params": model.count_params(), "non_embedding_params": model.count_params() - embedding,
            "seconds": seconds, "steps": steps, "first_steps_seconds": compile_and_warmup}


def run_torch(batch: int, length: int, steps: int, warmup: int, compiled: bool) -> dict:
    import numpy as np
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB, num_hidden_layers=LAYERS,
                                     num_attention_heads=HEADS, hidden_size=HIDDEN,
                                     intermediate_size=INTERMEDIATE,
                                     max_position_embeddings=MAX_POSITIONS, num_labels=2)
    model = transformers.BertForSequenceClassification(config).cuda().train()
    # What transformers' Trainer does with bf16=True: fp32 weights, bf16 autocast, fused AdamW.
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01,
                                  fused=True)
    step_model = torch.compile(model) if compiled else model
    rng = np.random.default_rng(0)
    ids, mask, segments, labels = (torch.from_numpy(np.asarray(a)).cuda() for a in
                                   _random_batch(rng, batch, length))

    def train(count):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(count):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = step_model(input_ids=ids, attention_mask=mask, token_type_ids=segments,
                                  labels=labels.long()).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        loss.item()
        torch.cuda.synchronize()
        return time.perf_counter() - start

    first = train(warmup)
    seconds = train(steps)
    embedding = sum(p.numel() for p in model.bert.embeddings.parameters())
    params = sum(p.numel() for p in model.parameters())
    return {"framework": f"transformers {transformers.__version__} + PyTorch "
                         f"{torch.__version__}, bf16 autocast, fused AdamW, "
                         f"{config._attn_implementation or 'sdpa'} attention"
                         + (", torch.compile" if compiled else ", eager"),
            "device": torch.cuda.get_device_name(),
            "params": params, "non_embedding_params": params - embedding,
            "seconds": seconds, "steps": steps, "first_steps_seconds": first}


def measure(side: str, batch: int, length: int, steps: int, warmup: int) -> dict:
    """One configuration in a fresh subprocess; returns its figures plus sequences/s and MFU."""
    from benchmarks import in_subprocess

    result = in_subprocess(__spec__.name, side, batch, length, steps, warmup)
    if "error" in result:
        return {"framework": side, "error": [result["error"]]}
    step_seconds = result["seconds"] / result["steps"]
    result["sequences_per_second"] = batch * steps / result["seconds"]
    result["mfu"] = training_flops(result["non_embedding_params"], batch, length) / (
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
    from benchmarks import Section, markdown_table

    batches = [32] if flags.quick else [int(b) for b in flags.gpu_batch_sizes]
    steps, warmup = (16, 8) if flags.quick else (96, 16)
    results = []
    for batch in batches:
        for side in flags.gpu_sides:
            results.append(measure(side, batch, flags.gpu_sequence_length, steps, warmup))
            print(json.dumps(results[-1]), flush=True)  # a run cut short still shows these
    rows, best = [], {}
    for r in results:
        if "error" in r:
            rows.append([r["framework"], "-", "-", "-", "-", "failed: " + " ".join(r["error"])])
            continue
        rows.append([r["framework"], r["batch"], f"{r['sequences_per_second']:.0f}",
                     f"{100 * r['mfu']:.1f}%", f"{r['first_steps_seconds']:.1f}",
                     f"{1000 * r['seconds'] / r['steps']:.1f} ms/step"])
        side = "keras" if r["framework"].startswith("kbert") else "torch"
        key = (side, r["batch"])
        best[key] = max(best.get(key, 0.0), r["sequences_per_second"])
    ok = [r for r in results if "error" not in r]
    device = ok[0]["device"] if ok else "?"
    ratios = [f"batch {b}: {best[('keras', b)] / best[('torch', b)]:.2f}x"
              for b in batches if ("keras", b) in best and ("torch", b) in best]
    top_mfu = max((r["mfu"] for r in ok if r["framework"].startswith("kbert")), default=0.0)
    summary = (f"Keras/JAX over transformers/PyTorch, best configuration of each, sequences per "
               f"second: {', '.join(ratios) or 'n/a'} (goal >= 1.3x). Best Keras MFU "
               f"{100 * top_mfu:.1f}% (goal >= 40%). MFU = (6 x non-embedding parameters x "
               f"tokens + 12 x layers x length x hidden x tokens) / (step time x 989 TFLOP/s).")
    table = markdown_table(["framework", "batch", "sequences/s", "MFU", "compile + first "
                            f"{warmup} steps, s", "step time"], rows)
    setup = (f"BERT-base ({LAYERS} layers, hidden {HIDDEN}, {ok[0]['params'] if ok else '?'} "
             f"parameters, random weights), 2-class head, sequence length "
             f"{flags.gpu_sequence_length}, AdamW lr {LEARNING_RATE}, {steps} timed steps after "
             f"{warmup} warm-up steps, random token ids (no padding), on {device}")
    return Section("GPU fine-tuning throughput: Keras/JAX vs transformers/PyTorch", setup, table,
                   summary)


if __name__ == "__main__":
    side, batch, length, steps, warmup = sys.argv[1], *map(int, sys.argv[2:6])
    runner, options = SIDES[side]
    print(json.dumps(runner(batch, length, steps, warmup, **options)))
