"""Inference latency per example (batch 1, sequence 128) of one fine-tuned classifier in every
form kbert gives it (Keras, SavedModel, TFLite float32 / float16 / dynamic / int8 in LiteRT)
against onnxruntime fp32 and int8-dynamic of the same model, at 1 and 2 threads.

The ONNX model is converted by tf2onnx from the same token-id SavedModel the TFLite files come
from (kbert.export.tflite.write_token_id_saved_model), then quantized by onnxruntime's own
quantize_dynamic (int8 weights, activations quantized on the fly): what an onnxruntime user does.
Every (runtime, threads) pair runs in a fresh process (`python -m benchmarks.latency
worker '<json>'`) on the same real SST-2 dev sentences, padded to 128; each reports its outputs
too, so the table shows they compute the same model. Needs the bench extras (onnxruntime, tf2onnx).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

TFLITE = ("float32", "float16", "dynamic", "int8")


def _timed(call, features: list[dict], warmup: int) -> tuple[list[float], list]:
    for f in features[:warmup]:
        call(f)
    times, outputs = [], []
    for f in features:
        start = time.perf_counter()
        out = call(f)
        times.append(1000 * (time.perf_counter() - start))
        outputs.append(np.asarray(out, np.float32).reshape(-1).tolist())
    return times, outputs


def worker(args: dict) -> dict:
    """Latency of one runtime at one thread count; inputs from the .npz the parent wrote."""
    runtime, path, threads = args["runtime"], args["path"], args["threads"]
    data = np.load(args["inputs"])
    features = [{"ids": data["ids"][i], "mask": data["mask"][i], "segment_ids": data["segment_ids"][i]}
                for i in range(len(data["ids"]))]
    if runtime in ("keras", "saved_model"):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (the SavedModel's text signature uses its ops)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        if runtime == "keras":
            import kbert
            model = kbert.load_model(path)
            call = lambda f: model.predict_on_batch(  # noqa: E731
                {"token_ids": f["ids"], "padding_mask": f["mask"], "segment_ids": f["segment_ids"]})
        else:
            served = tf.saved_model.load(path).signatures["token_ids"]
            call = lambda f: served(  # noqa: E731
                token_ids=tf.constant(f["ids"]), padding_mask=tf.constant(f["mask"]),
                segment_ids=tf.constant(f["segment_ids"]))["probability"].numpy()
    elif runtime.startswith("tflite"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        # LiteRT applies XNNPACK by default; without it, its builtin reference-style kernels run
        # (the profile rows: which part of the time XNNPACK's kernels account for).
        resolver = (OpResolverType.AUTO if args.get("xnnpack", True)
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter = Interpreter(model_path=path, num_threads=threads,
                                  experimental_op_resolver_type=resolver)
        runner = interpreter.get_signature_runner()
        (output,) = interpreter.get_signature_list()["serving_default"]["outputs"]
        call = lambda f: runner(**f)[output]  # noqa: E731
    else:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        by_name = {n: next(k for k in ("segment_ids", "mask", "ids") if k in n) for n in names}
        call = lambda f: session.run(None, {n: f[k] for n, k in by_name.items()})[0]  # noqa: E731
    times, outputs = _timed(call, features, args["warmup"])
    return {"mean": float(np.mean(times)), "p95": float(np.percentile(times, 95)),
            "outputs": outputs}


def export_all(model, model_path: str, directory: Path, calibration: list[str],
               length: int) -> dict:
    """Every file the comparison runs, written once into `directory` (reused when present)."""
    import subprocess
    import tempfile

    import tf2onnx  # noqa: F401  (fail early, before the slow exports, if the extras are missing)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from kbert import export
    from kbert.export.tflite import write_token_id_saved_model

    files = {"keras": model_path, "saved_model": str(directory / "saved_model")}
    if not Path(files["saved_model"]).exists():
        export.to_saved_model(model, files["saved_model"])
    for quantization in TFLITE:
        path = directory / f"{quantization}.tflite"
        if not path.exists():
            export.to_tflite(model, path, quantization=None if quantization == "float32"
                             else quantization, representative_data=calibration,
                             sequence_length=length)
        files[f"tflite_{quantization}"] = str(path)
    onnx_fp32, onnx_int8 = directory / "model.onnx", directory / "model.int8.onnx"
    if not onnx_fp32.exists():
        with tempfile.TemporaryDirectory() as tmp:
            write_token_id_saved_model(model, tmp, length)
            subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", tmp,
                            "--output", str(onnx_fp32), "--opset", "17"], check=True,
                           capture_output=True)
    if not onnx_int8.exists():
        quantize_dynamic(str(onnx_fp32), str(onnx_int8), weight_type=QuantType.QInt8)
    files["onnx_fp32"], files["onnx_int8"] = str(onnx_fp32), str(onnx_int8)
    return files


def _size(path: str) -> int:
    p = Path(path)
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*")
                                                    if f.is_file())


NAMES = {"keras": "Keras model (predict_on_batch)", "saved_model": "SavedModel (token_ids signature)",
         "tflite_float32": "TFLite float32 (LiteRT)", "tflite_float16": "TFLite float16 (LiteRT)",
         "tflite_dynamic": "TFLite dynamic-range int8 (LiteRT)",
         "tflite_int8": "TFLite int8 (LiteRT)", "onnx_fp32": "onnxruntime fp32",
         "onnx_int8": "onnxruntime int8 dynamic"}


def run(flags):
    import os
    import tempfile

    import kbert
    from benchmarks import Section, error_line, in_subprocess, markdown_table
    from kbert.export.tflite import device_features

    if not flags.model:
        raise ValueError("--what=latency needs --model: a fine-tuned kbert classifier "
                         "(model.keras), e.g. from scripts/train_classifier.py on SST-2.")
    count, warmup, length = (30, 5, 128) if flags.quick else (flags.latency_examples, 20, 128)
    model = kbert.load_model(flags.model)
    dev = kbert.data.read_table(os.path.join(os.path.dirname(flags.train_file), "dev.tsv"),
                                "sentence", max_rows=count)
    calibration = kbert.data.read_table(flags.train_file, "sentence", max_rows=200).texts
    directory = Path(flags.export_dir or tempfile.mkdtemp(prefix="kbert_latency_"))
    directory.mkdir(parents=True, exist_ok=True)
    files = export_all(model, flags.model, directory, calibration, length)
    features = device_features(model, dev, length)
    inputs = directory / "inputs.npz"
    np.savez(inputs, **{k: np.stack([f[k] for f in features]) for k in ("ids", "mask",
                                                                         "segment_ids")})
    del model
    results = {}
    for runtime, path in files.items():
        for threads in (1, 2):
            results[runtime, threads] = in_subprocess(__spec__.name, "worker", json.dumps(
                {"runtime": runtime, "path": path, "threads": threads, "inputs": str(inputs),
                 "warmup": warmup}), threads=threads)
            print(runtime, threads, {k: v for k, v in results[runtime, threads].items()
                                     if k != "outputs"}, flush=True)
    for variant in ("float32", "dynamic"):  # Profile: the same files without XNNPACK.
        results[f"{variant} without XNNPACK", 1] = in_subprocess(__spec__.name, "worker", json.dumps(
            {"runtime": f"tflite_{variant}", "path": files[f"tflite_{variant}"], "threads": 1,
             "inputs": str(inputs), "warmup": warmup, "xnnpack": False}), threads=1)
    reference = np.array(results["keras", 1].get("outputs", []))
    rows = []
    for runtime, path in files.items():
        one, two = results[runtime, 1], results[runtime, 2]
        if "error" in one or "error" in two:
            rows.append([NAMES[runtime], "failed: " + error_line(one if "error" in one else two)]
                        + [""] * 6)
            continue
        outputs = np.array(one["outputs"])
        agreement = float(np.mean(outputs.argmax(-1) == reference.argmax(-1)))
        rows.append([NAMES[runtime], f"{one['mean']:.2f}", f"{one['p95']:.2f}", f"{two['mean']:.2f}",
                     f"{two['p95']:.2f}", f"{_size(path) / 1e6:.1f}",
                     f"{100 * agreement:.1f}%", f"{np.abs(outputs - reference).max():.4f}"])
    for variant in ("float32", "dynamic"):
        one = results[f"{variant} without XNNPACK", 1]
        rows.append([f"profile: TFLite {variant} without XNNPACK (LiteRT builtin kernels)",
                     f"{one.get('mean', float('nan')):.2f}", f"{one.get('p95', float('nan')):.2f}",
                     "", "", "", "", ""])
    table = markdown_table(["runtime", "1 thread mean ms", "1 thread p95 ms", "2 threads mean ms",
                            "2 threads p95 ms", "file MB", "top label = Keras",
                            "max abs prob. diff"], rows)

    def mean(runtime, threads):
        return results[runtime, threads].get("mean", float("nan"))

    ratios = []
    for threads in (1, 2):
        ratios.append(
            f"{threads} thread{'s' if threads > 1 else ''}: dynamic / float32 "
            f"**{mean('tflite_dynamic', threads) / mean('tflite_float32', threads):.2f}x** "
            f"(goal <= 0.6x), dynamic / onnxruntime int8 "
            f"**{mean('tflite_dynamic', threads) / mean('onnx_int8', threads):.2f}x** "
            f"(goal <= 1.0x)")
    size = _size(files["tflite_dynamic"]) / _size(files["tflite_float32"])
    summary = ("TFLite latency ratios, mean per example: " + "; ".join(ratios)
               + f". Dynamic file / float32 file: **{100 * size:.1f}%** (goal <= 27%).")
    setup = (f"One SST-2 classifier ({flags.model}), batch 1, every input padded to {length} "
             f"tokens, the first {count} SST-2 dev sentences, timed after {warmup} warm-up "
             "calls, each runtime at 1 and 2 threads in its own process (TF intra-op threads, "
             "LiteRT num_threads, onnxruntime intra_op_num_threads; inter-op 1); int8 calibrated "
             "on 200 training sentences; outputs compared with the Keras model's")
    return Section("Inference latency: Keras, SavedModel, TFLite vs onnxruntime (CPU)", setup,
                   table, summary)


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(sys.argv[2]))))
