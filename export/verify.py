"""Runs an exported .tflite in the LiteRT interpreter on real data and compares it with the Keras
model it came from: accuracy, agreement, probability differences, size, latency, ops."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from kbert.export.checks import tflite_ops
from kbert.export.tflite import device_features
from kbert.preprocessing import as_examples


def _runner(path: str, threads: int):
    interpreter = Interpreter(model_path=path, num_threads=threads)
    signature = interpreter.get_signature_runner()
    (output,) = interpreter.get_signature_list()["serving_default"]["outputs"]
    return lambda features: signature(**features)[output]


def verify(tflite_path: str | Path, eval_data, reference, *, threads: tuple[int, ...] = (1, 2),
           latency_examples: int = 100) -> dict:
    """Measures a .tflite variant against its Keras model on labelled (or unlabelled) data.

    Example:
    >>> report = export.verify("out/model.tflite", (dev_texts, dev_labels), reference=clf)
    >>> report["accuracy"], report["agreement"], report["latency_ms"]["1"]["p95"]
    (0.905, 0.998, 4.1)

    `eval_data` is anything `predict` takes, or (x, y) / `kbert.data` examples with labels.
    The report: accuracy (or the regression metrics) of the variant and of Keras, top-label
    agreement with Keras, max and mean absolute output difference, file size, mean and 95th
    percentile latency per example at each thread count (batch 1, LiteRT), and the op list.
    """
    tflite_path = str(tflite_path)
    x, y = eval_data if isinstance(eval_data, tuple) and len(eval_data) == 2 else (eval_data, None)
    examples = as_examples(x, y, name="eval_data")
    content = Path(tflite_path).read_bytes()
    sequence_length = int(Interpreter(model_path=tflite_path).get_input_details()[0]["shape"][1])
    features = device_features(reference, examples, sequence_length)
    run = _runner(tflite_path, threads[-1])
    device = np.concatenate([run(f) for f in features]).reshape(len(features), -1)
    keras_outputs = reference.predict(examples).reshape(len(features), -1)
    difference = np.abs(device - keras_outputs)
    report = {
        "path": tflite_path,
        "bytes": len(content),
        "examples": len(features),
        "max_abs_difference": float(difference.max()),
        "mean_abs_difference": float(difference.mean()),
        "ops": tflite_ops(content),
        "latency_ms": {},
    }
    classifier = hasattr(reference, "labels")
    if classifier and not reference.multi_label:
        report["agreement"] = float(np.mean(device.argmax(-1) == keras_outputs.argmax(-1)))
    elif classifier:
        report["agreement"] = float(np.mean((device >= reference.threshold)
                                            == (keras_outputs >= reference.threshold)))
    if examples.labels is not None:
        report["metrics"] = reference.metrics_for(device, examples)
        report["keras_metrics"] = reference.metrics_for(keras_outputs, examples)
    for count in threads:
        run = _runner(tflite_path, count)
        sample = features[:latency_examples]
        run(sample[0])  # Warm-up: the first call allocates.
        times = []
        for f in sample:
            start = time.perf_counter()
            run(f)
            times.append((time.perf_counter() - start) * 1000)
        report["latency_ms"][str(count)] = {"mean": float(np.mean(times)),
                                            "p95": float(np.percentile(times, 95))}
    return report
