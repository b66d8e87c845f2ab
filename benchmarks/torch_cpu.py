"""CPU fine-tuning: kbert against Hugging Face transformers + PyTorch, same checkpoint directory
(the offline MiniLM), same SST-2 training sentences, batch size, maximum length, learning rate,
schedule and number of examples; wall time from raw text to trained model, then dev accuracy.

Each side runs in its own process (`python -m benchmarks.torch_cpu kbert|torch
'<json>'` prints one JSON line), so TensorFlow's and PyTorch's thread pools never share one.
The PyTorch side is what a transformers user writes (what `Trainer` does, without its logging;
benchmarks/reference.py, the parity harness's loop too): AdamW with weight decay 0.01 except
biases and LayerNorm, linear warm-up (rounded up, as Trainer does) then decay, gradient
clipping at 1.0, batches shuffled and padded to their longest sentence (DataCollatorWithPadding),
tokenized as they are drawn. kbert's side is `TextClassifier.fit` with its defaults (length
buckets, the same recipe), run twice: as it is, and with `compile(lazy_embeddings=True)` (the
word-embedding table updated only in each batch's rows). Needs the bench extras: `pip install -e ".[bench]"` (torch 2.13 CPU).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from benchmarks import reference

PROFILE_LENGTHS = [16, 32, 64]  # Step-time profile shapes: SST-2's usual length buckets.


def read_sst2(path: str, count: int | None) -> tuple[list[str], list[int]]:
    """The first `count` (text, label) rows of a GLUE SST-2 TSV. A plain reader rather than
    kbert.data.read_table so that the PyTorch worker never imports TensorFlow; both sides read
    the same rows with it."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            text, label = line.rstrip("\n").split("\t")
            texts.append(text)
            labels.append(int(label))
            if count and len(texts) == count:
                break
    return texts, labels


def run_kbert(args: dict) -> dict:
    import keras
    import tensorflow as tf

    import kbert
    from kbert.preprocessing import pipeline

    tf.config.threading.set_intra_op_parallelism_threads(args["threads"])
    keras.utils.set_random_seed(args["seed"])
    texts, labels = read_sst2(args["train_file"], args["examples"])
    dev_texts, dev_labels = read_sst2(args["dev_file"], None)
    start = time.perf_counter()
    model = kbert.TextClassifier.from_preset(args["preset"], num_classes=2,
                                             sequence_length=args["sequence_length"],
                                             bucket_lengths=args["bucket_lengths"])
    load = time.perf_counter() - start
    lazy = args.get("lazy_embeddings", False)
    model.compile(learning_rate=args["learning_rate"], warmup_ratio=args["warmup_ratio"],
                  lazy_embeddings=lazy)
    start = time.perf_counter()
    history = model.fit(texts, labels, batch_size=args["batch_size"], epochs=1,
                        seed=args["seed"], verbose=0)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate_metrics(dev_texts, dev_labels)["accuracy"]
    steps = model.optimizer.iterations.numpy().item()
    # Profile: the input side alone (tokenizing, then every batch gathered and padded), to
    # tell whether the pipeline or the model's compute dominates the training time.
    start = time.perf_counter()
    prepared = model.prepare(texts, labels)
    tokenize = time.perf_counter() - start
    start, computed = time.perf_counter(), 0
    for features, _ in pipeline.training_batches(model.preprocessor, prepared.encoded,
                                                 prepared.targets, args["batch_size"],
                                                 seed=args["seed"]):
        computed += int(np.prod(features["token_ids"].shape))  # Positions incl. padding.
    batches = time.perf_counter() - start
    return {"framework": f"kbert (Keras {keras.__version__}, TensorFlow {tf.__version__})"
                         + (", lazy embeddings" if lazy else ""),
            "seconds": seconds, "load_seconds": load, "steps": steps, "examples": len(texts),
            "final_loss": history.history["loss"][-1], "accuracy": 100 * accuracy,
            "tokenize_seconds": tokenize, "batching_seconds": batches,
            "positions": computed, "tokens": int(sum(prepared.encoded.lengths))}


def run_torch(args: dict) -> dict:
    import torch
    import transformers

    torch.set_num_threads(args["threads"])
    torch.manual_seed(args["seed"])
    checkpoint = args["checkpoint"]  # The Hugging Face directory kbert's preset loads.
    texts, labels = read_sst2(args["train_file"], args["examples"])
    dev_texts, dev_labels = read_sst2(args["dev_file"], None)
    start = time.perf_counter()
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(checkpoint,
                                                                            num_labels=2)
    load = time.perf_counter() - start
    length, counted = args["sequence_length"], {"positions": 0, "tokens": 0}

    def batch_of(rows):
        inputs = tokenizer([texts[i] for i in rows], truncation=True, max_length=length,
                           padding=True, return_tensors="pt")
        counted["positions"] += inputs["input_ids"].numel()
        counted["tokens"] += int(inputs["attention_mask"].sum())
        return {**inputs, "labels": torch.tensor([labels[i] for i in rows])}

    run = reference.fit(model, batch_of, len(texts), batch_size=args["batch_size"], epochs=1,
                        learning_rate=args["learning_rate"], seed=args["seed"],
                        warmup_ratio=args["warmup_ratio"])
    computed, tokens, seconds, steps = (counted["positions"], counted["tokens"], run["seconds"],
                                        run["steps"])
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(dev_texts), 64):
            inputs = tokenizer(dev_texts[i:i + 64], truncation=True, max_length=length,
                               padding=True, return_tensors="pt")
            predicted = model(**inputs).logits.argmax(-1).numpy()
            correct += int((predicted == np.array(dev_labels[i:i + 64])).sum())
    return {"framework": f"transformers {transformers.__version__} + PyTorch {torch.__version__}",
            "seconds": seconds, "load_seconds": load, "steps": steps, "examples": len(texts),
            "final_loss": run["last_loss"], "accuracy": 100 * correct / len(dev_texts),
            "positions": computed, "tokens": tokens}


def step_times(args: dict) -> dict:
    """Profile: median milliseconds of one training step (forward, backward, clipping, AdamW)
    at fixed shapes [batch, length], each framework on the same random token ids."""
    side, batch = args["side"], args["batch_size"]
    rng = np.random.default_rng(0)
    times = {}
    if side == "kbert":
        import tensorflow as tf

        import kbert
        tf.config.threading.set_intra_op_parallelism_threads(args["threads"])
        model = kbert.TextClassifier.from_preset(args["preset"], num_classes=2,
                                                 sequence_length=max(args["lengths"]))
        # Planned over 1,000 steps, as fit plans the schedule before its steps.
        model.compile(learning_rate=args["learning_rate"], warmup_ratio=args["warmup_ratio"],
                      total_steps=1000, lazy_embeddings=args.get("lazy_embeddings", False))
        for length in args["lengths"]:
            x, y = _random_batch(rng, batch, length)
            times[length] = _median_ms(lambda: model.train_on_batch(x, y))
    else:
        import torch
        import transformers
        torch.set_num_threads(args["threads"])
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            args["checkpoint"], num_labels=2).train()
        # The reference recipe, planned over 1,000 steps as kbert's side is.
        optimizer, schedule = reference.adamw(model, args["learning_rate"], 1000,
                                              warmup_ratio=args["warmup_ratio"])
        for length in args["lengths"]:
            ids = torch.from_numpy(rng.integers(1000, 30000, (batch, length)))
            y = torch.from_numpy(rng.integers(0, 2, batch))
            inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": y}
            steps = reference.training_steps(model, iter(lambda: inputs, None), optimizer,
                                             schedule)
            times[length] = _median_ms(lambda: next(steps))
    return {"step_ms": times}


def step_parts(args: dict) -> dict:
    """Profile of kbert's training step by parts, median ms at each [batch, length] on random
    token ids: the whole step (`train_on_batch`), forward + loss, forward + loss + gradients,
    the optimizer update alone (clipping, weight decay, AdamW over every variable), and that
    update without the word-embedding table; with `"backend": "jax"` the whole step on Keras's
    JAX backend instead, with `"jit_compile": false` without XLA, and with `"fused": false`
    Keras's element-wise AdamW step instead of kbert's fused kernel."""
    import os

    if args.get("backend") == "jax":
        os.environ["KERAS_BACKEND"] = "jax"
    import keras

    import kbert

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(args["threads"])
    batch, rng = args["batch_size"], np.random.default_rng(0)
    model = kbert.TextClassifier.from_preset(args["preset"], num_classes=2,
                                             sequence_length=max(args["lengths"]))
    model.compile(learning_rate=args["learning_rate"], warmup_ratio=args["warmup_ratio"],
                  total_steps=1000, jit_compile=args.get("jit_compile", "auto"))
    if not args.get("fused", True):  # Keras's element-wise AdamW step (kbert before 2026-12-03)
        optimizer = model.optimizer
        optimizer._fused_update_step = lambda g, v, lr: keras.optimizers.AdamW.update_step(
            optimizer, g, v, lr)
    parts = {}
    for length in args["lengths"]:
        x, y = _random_batch(rng, batch, length)
        times = {"step": _median_ms(lambda: model.train_on_batch(x, y))}
        if keras.backend.backend() == "tensorflow":
            variables = model.trainable_variables
            jit = bool(model.jit_compile)

            @tf.function(jit_compile=jit)
            def forward(x, y):
                return model.loss(y, model(x, training=True))

            @tf.function(jit_compile=jit)
            def gradients(x, y):
                with tf.GradientTape() as tape:
                    loss = model.loss(y, model(x, training=True))
                return [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]

            grads = gradients(x, y)
            embedding = model.backbone.token_embedding.embeddings
            rest = [(g, v) for g, v in zip(grads, variables) if v is not embedding]

            @tf.function(jit_compile=jit)
            def update(grads):
                model.optimizer.apply(grads, variables)

            @tf.function(jit_compile=jit)
            def update_without_embedding(grads):
                model.optimizer.apply(grads, [v for _, v in rest])

            times["forward"] = _median_ms(lambda: forward(x, y).numpy())
            times["forward_backward"] = _median_ms(lambda: [g.numpy() for g in gradients(x, y)][0])
            times["update"] = _median_ms(lambda: (update(grads), variables[0].numpy()))
            times["update_without_embedding"] = _median_ms(
                lambda: (update_without_embedding([g for g, _ in rest]), variables[0].numpy()))
        parts[length] = times
    return {"backend": keras.backend.backend(), "jit_compile": bool(model.jit_compile),
            "parts_ms": parts}


def _random_batch(rng, batch: int, length: int) -> tuple[dict, np.ndarray]:
    """Random token ids [batch, length] with every position valid, and random binary labels."""
    x = {"token_ids": rng.integers(1000, 30000, (batch, length)).astype("int32"),
         "padding_mask": np.ones((batch, length), "int32"),
         "segment_ids": np.zeros((batch, length), "int32")}
    return x, rng.integers(0, 2, batch).astype("int32")


def _median_ms(step, calls: int = 8, warmup: int = 3) -> float:
    """Median milliseconds of `step()` over `calls` calls after the first `warmup`."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return 1000 * float(np.median(samples[warmup:]))


def run(flags):
    import os

    import kbert
    from benchmarks import Section, error_line, in_subprocess, markdown_table

    count = 512 if flags.quick else flags.examples
    dev_file = os.path.join(os.path.dirname(flags.train_file), "dev.tsv")
    args = {"preset": flags.preset, "checkpoint": kbert.presets.resolve(flags.preset),
            "train_file": flags.train_file, "dev_file": dev_file,
            "examples": count, "batch_size": flags.batch_size,
            "sequence_length": flags.sequence_length, "learning_rate": flags.learning_rate,
            "warmup_ratio": 0.1, "seed": 0, "threads": os.cpu_count(),
            "bucket_lengths": [int(b) for b in flags.bucket_lengths] if flags.bucket_lengths
            else None}
    # (worker, its arguments) per row: kbert as it is, kbert with lazy embeddings, PyTorch.
    sides = {"kbert": ("kbert", args), "kbert_lazy": ("kbert", {**args, "lazy_embeddings": True}),
             "torch": ("torch", args)}
    results = {}
    for side, (worker, side_args) in sides.items():
        results[side] = in_subprocess(__spec__.name, worker, json.dumps(side_args),
                                      threads=args["threads"])
        print(json.dumps(results[side]), flush=True)
    rows = []
    for r in results.values():
        if "error" in r:
            rows.append(["failed: " + error_line(r)] + ["-"] * 7)
            continue
        rows.append([r["framework"], f"{r['seconds']:.0f}", r["steps"],
                     f"{r['examples'] / r['seconds']:.1f}",
                     f"{r['positions']:,} ({r['positions'] / r['tokens']:.2f}x)",
                     f"{r['positions'] / r['seconds']:,.0f}", f"{r['final_loss']:.3f}",
                     f"{r['accuracy']:.2f}"])
    table = markdown_table(["framework", "training s", "steps", "examples/s",
                            "positions computed (x real tokens)", "positions/s", "last loss",
                            "SST-2 dev accuracy"], rows)
    profile = {side: in_subprocess(__spec__.name, "steps", json.dumps(
        {**side_args, "side": worker, "lengths": PROFILE_LENGTHS}), threads=args["threads"])
        for side, (worker, side_args) in sides.items()}
    print(json.dumps(profile), flush=True)
    if all("step_ms" in p for p in profile.values()):
        table += "\n" + markdown_table(
            ["profile: one training step, batch " + str(flags.batch_size)]
            + [f"{n} tokens, ms" for n in PROFILE_LENGTHS],
            [[results[side].get("framework", side)] + [f"{profile[side]['step_ms'][str(n)]:.0f}"
                                                       for n in PROFILE_LENGTHS]
             for side in sides])
    kb, pt = results["kbert"], results["torch"]
    if any("error" in r for r in results.values()):
        summary = "One side failed (table); no ratio."
    else:
        summary = ""
        for side, name in (("kbert", "kbert"), ("kbert_lazy", "kbert with lazy embeddings")):
            r = results[side]
            ratio = (r["examples"] / r["seconds"]) / (pt["examples"] / pt["seconds"])
            summary += (f"{name} / transformers + PyTorch, examples per second: "
                        f"**{ratio:.2f}x** (goal >= 1.5x); dev accuracy {r['accuracy']:.2f} vs "
                        f"{pt['accuracy']:.2f} (difference {r['accuracy'] - pt['accuracy']:+.2f};"
                        " goal within 0.5). ")
        summary += (f"Profile of kbert's side: tokenizing the {kb['examples']} sentences takes "
                   f"{kb['tokenize_seconds']:.1f} s and gathering and padding every batch "
                   f"{kb['batching_seconds']:.1f} s of the {kb['seconds']:.0f} s of training "
                   f"({100 * (kb['tokenize_seconds'] + kb['batching_seconds']) / kb['seconds']:.1f}%"
                   "); the rest is the model's forward and backward passes and the optimizer.")
    setup = (f"SST-2 fine-tuning of {flags.preset} (the same Hugging Face checkpoint directory "
             f"for both), first {count} training sentences, 1 epoch, batch {flags.batch_size}, "
             f"maximum length {flags.sequence_length}, peak learning rate {flags.learning_rate}, "
             f"10% warm-up then linear decay, weight decay 0.01, clipnorm 1.0, "
             f"{args['threads']} threads each; kbert's length buckets "
             f"{args['bucket_lengths'] or 'by default (powers of two)'}; training wall time from "
             "raw text (tokenization included), then accuracy on the full dev set (872 sentences)")
    return Section("CPU fine-tuning: kbert vs transformers + PyTorch", setup, table, summary)


if __name__ == "__main__":
    side, arguments = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"kbert": run_kbert, "torch": run_torch, "steps": step_times,
                      "parts": step_parts}[side](arguments)))
