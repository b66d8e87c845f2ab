"""Runs an exported .tflite in the LiteRT interpreter on real data and compares it with the Keras
model it came from: accuracy, agreement, probability differences, size, latency, ops."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from kbert.export.checks import tflite_ops
from kbert.export.mediapipe_runtime import mediapipe_classify, mediapipe_embed
from kbert.export.on_device_qa import OnDeviceQuestionAnswerer
from kbert.export.on_device_tagger import OnDeviceTagger
from kbert.export.tflite import device_features
from kbert.preprocessing import as_examples
from kbert.tasks import QuestionAnswerer, TextEmbedder, TokenClassifier


def _runner(path: str, threads: int):
    interpreter = Interpreter(model_path=path, num_threads=threads)
    signature = interpreter.get_signature_runner()
    (output,) = interpreter.get_signature_list()["serving_default"]["outputs"]
    return lambda features: signature(**features)[output]


def verify(tflite_path: str | Path, eval_data, reference, *, threads: tuple[int, ...] = (1, 2),
           latency_examples: int = 100, mediapipe: bool = False) -> dict:
    """Measures a .tflite variant against its Keras model on labelled (or unlabelled) data.

    Example:
    >>> report = export.verify("out/model.tflite", (dev_texts, dev_labels), reference=clf)
    >>> report["accuracy"], report["agreement"], report["latency_ms"]["1"]["p95"]
    (0.905, 0.998, 4.1)

    `eval_data` is anything `predict` takes, or (x, y) / `kbert.data` examples with labels.
    The report: accuracy (or the regression metrics) of the variant and of Keras, top-label
    agreement with Keras, max and mean absolute output difference, file size, mean and 95th
    percentile latency per example at each thread count (batch 1, LiteRT), and the op list.
    `mediapipe=True` (single-label classifiers with metadata) also classifies the raw texts with
    MediaPipe's TextClassifier, which tokenizes on its own, and reports its agreement with Keras.
    Taggers go through `verify_tagger`, question answerers through `verify_question_answerer`,
    embedders through `verify_embedder`.
    """
    if isinstance(reference, TokenClassifier):
        return verify_tagger(tflite_path, eval_data, reference, threads=threads,
                             latency_examples=latency_examples)
    if isinstance(reference, TextEmbedder):
        return verify_embedder(tflite_path, eval_data, reference, threads=threads,
                               latency_examples=latency_examples, mediapipe=mediapipe)
    if isinstance(reference, QuestionAnswerer):
        return verify_question_answerer(tflite_path, eval_data, reference, threads=threads,
                                        latency_examples=latency_examples)
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
    if mediapipe:
        names = list(reference.labels)
        scores = mediapipe_classify(tflite_path, [str(t) for t in examples.texts])
        by_label = np.array([[row.get(name, 0.0) for name in names] for row in scores])
        report["mediapipe_agreement"] = float(np.mean(by_label.argmax(-1) == keras_outputs.argmax(-1)))
        report["mediapipe_max_abs_difference"] = float(np.abs(by_label - keras_outputs).max())
    if examples.labels is not None:
        report["metrics"] = reference.metrics_for(device, examples)
        report["keras_metrics"] = reference.metrics_for(keras_outputs, examples)
    report["latency_ms"] = _latency(tflite_path, features[:latency_examples], threads)
    return report


def _latency(tflite_path: str, sample: list[dict], threads: tuple[int, ...]) -> dict:
    """Mean and 95th-percentile milliseconds per interpreter call, batch 1, per thread count."""
    latency = {}
    for count in threads:
        run = Interpreter(model_path=tflite_path, num_threads=count).get_signature_runner()
        run(**sample[0])  # Warm-up: the first call allocates.
        times = []
        for f in sample:
            start = time.perf_counter()
            run(**f)
            times.append((time.perf_counter() - start) * 1000)
        latency[str(count)] = {"mean": float(np.mean(times)),
                               "p95": float(np.percentile(times, 95))}
    return latency


def verify_tagger(tflite_path: str | Path, sentences, reference, *,
                  threads: tuple[int, ...] = (1, 2), latency_examples: int = 100) -> dict:
    """`verify` for a `kbert.TokenClassifier`: the .tflite through the on-device reference
    pipeline (`OnDeviceTagger`) against Keras on the same word lists (`kbert.data.read_conll`
    sentences, or (word_lists, tag_lists)).

    Example:
    >>> report = export.verify("out/ner/model.tflite", read_conll("valid.txt"), reference=tagger)
    >>> report["metrics"]["f1"], report["keras_metrics"]["f1"], report["agreement"]
    (0.893, 0.895, 0.998)

    `agreement` is the share of words whose label matches Keras's; the output differences are
    on per-word probabilities; latency is per window (one interpreter call).
    """
    tflite_path = str(tflite_path)
    prepared = reference.prepare(sentences, name="eval_data")
    device = OnDeviceTagger(tflite_path, lowercase=bool(reference.preprocessor.tokenizer.lowercase),
                            num_threads=threads[-1], window_stride=reference.window_stride)
    words = prepared.examples.words
    device_scores = device.word_scores(words)
    keras_scores = reference.predict_scores(prepared)
    flat_device, flat_keras = np.concatenate(device_scores), np.concatenate(keras_scores)
    difference = np.abs(flat_device - flat_keras)
    report = {
        "path": tflite_path,
        "bytes": Path(tflite_path).stat().st_size,
        "examples": len(words),
        "windows": len(prepared.encoded),
        "max_abs_difference": float(difference.max()),
        "mean_abs_difference": float(difference.mean()),
        "agreement": float(np.mean(flat_device.argmax(-1) == flat_keras.argmax(-1))),
        "ops": tflite_ops(Path(tflite_path).read_bytes()),
    }
    if prepared.examples.tags is not None:
        report["metrics"] = reference.metrics_for(device_scores, prepared)
        report["keras_metrics"] = reference.metrics_for(keras_scores, prepared)
    sample = device.window_features(prepared.windows)[:latency_examples]
    report["latency_ms"] = _latency(tflite_path, sample, threads)
    return report


def verify_saved_model(directory: str | Path, eval_data, reference, batch_size: int = 64) -> dict:
    """Runs the SavedModel's raw-string signature on the texts and compares with Keras.

    Example:
    >>> export.verify_saved_model("out/saved_model", dev_texts, reference=clf)
    {'examples': 872, 'max_abs_difference': 3.1e-07, 'label_agreement': 1.0}
    """
    import tensorflow as tf

    x, y = eval_data if isinstance(eval_data, tuple) and len(eval_data) == 2 else (eval_data, None)
    examples = as_examples(x, y, name="eval_data")
    serve = tf.saved_model.load(str(directory)).signatures["serving_default"]
    outputs, labels = [], []
    for start in range(0, len(examples), batch_size):
        segments = [tf.constant([str(t) for t in s[start:start + batch_size]])
                    for s in examples.segments]
        names = ("text", "text_pair")[:len(segments)]
        result = serve(**dict(zip(names, segments)))
        outputs.append(result[reference.output_name].numpy())
        if "label" in result:
            labels.extend(result["label"].numpy().tolist())
    served = np.concatenate(outputs).reshape(len(examples), -1)
    keras_outputs = reference.predict(examples).reshape(len(examples), -1)
    report = {"examples": len(examples),
              "max_abs_difference": float(np.abs(served - keras_outputs).max())}
    if labels and not getattr(reference, "multi_label", False):
        expected = reference.predict_labels(examples)
        report["label_agreement"] = float(np.mean([a.decode() == b for a, b in zip(labels, expected)]))
    return report


def verify_question_answerer(tflite_path: str | Path, examples, reference, *,
                             threads: tuple[int, ...] = (1, 2), latency_examples: int = 100) -> dict:
    """`verify` for a `kbert.QuestionAnswerer`: the .tflite through the on-device reference
    pipeline (`OnDeviceQuestionAnswerer`) against Keras on the same SQuAD examples, scored by
    the official SQuAD evaluation.

    Example:
    >>> report = export.verify("out/qa/model.tflite", evaluation, reference=qa)
    >>> report["metrics"]["f1"], report["keras_metrics"]["f1"], report["agreement"]
    (71.9, 72.3, 0.97)

    `agreement` is the share of questions whose final answer text is the same; the output
    differences are on start/end logits of real tokens; latency is per window.
    """
    tflite_path = str(tflite_path)
    prepared = reference.prepare(examples, name="eval_data")
    device = OnDeviceQuestionAnswerer.from_model(tflite_path, reference, num_threads=threads[-1])
    features = device.window_features(prepared.windows)
    device_logits = np.stack([np.stack(device.run(f), -1) for f in features])
    keras_logits = reference.window_outputs(prepared)
    real = prepared.encoded.token_ids.to_tensor(
        default_value=-1, shape=[len(features), device.sequence_length]).numpy() >= 0
    difference = np.abs(device_logits - keras_logits)[real]
    device_spans = reference.decode(prepared, device_logits[..., 0], device_logits[..., 1])
    keras_spans = reference.decode(prepared, keras_logits[..., 0], keras_logits[..., 1])
    report = {
        "path": tflite_path,
        "bytes": Path(tflite_path).stat().st_size,
        "examples": len(prepared.examples),
        "windows": len(features),
        "max_abs_difference": float(difference.max()),
        "mean_abs_difference": float(difference.mean()),
        "agreement": float(np.mean([reference.final_text(a) == reference.final_text(b)
                                    for a, b in zip(device_spans, keras_spans)])),
        "ops": tflite_ops(Path(tflite_path).read_bytes()),
    }
    if prepared.examples.answers is not None:
        report["metrics"] = reference.metrics_for(device_spans, prepared)
        report["keras_metrics"] = reference.metrics_for(keras_spans, prepared)
    report["latency_ms"] = _latency(tflite_path, features[:latency_examples], threads)
    return report


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1),
                                        1e-12)


def verify_embedder(tflite_path: str | Path, texts, reference, *, threads: tuple[int, ...] = (1, 2),
                    latency_examples: int = 100, mediapipe: bool = False) -> dict:
    """`verify` for a `kbert.TextEmbedder`: cosine similarity between the .tflite's embeddings
    (LiteRT with kbert's tokenization, and with `mediapipe=True` MediaPipe's TextEmbedder on the
    raw texts) and Keras's.

    Example:
    >>> export.verify("out/embedder.tflite", sentences, reference=emb, mediapipe=True)
    {'min_cosine': 0.998, 'mean_cosine': 0.9996, 'mediapipe_min_cosine': 0.997, ...}
    """
    tflite_path = str(tflite_path)
    examples = as_examples(texts, name="eval_data")
    sequence_length = int(Interpreter(model_path=tflite_path).get_input_details()[0]["shape"][1])
    features = device_features(reference, examples, sequence_length)
    run = _runner(tflite_path, threads[-1])
    device = np.concatenate([run(f) for f in features])
    keras_outputs = reference.predict(examples)
    cosine = _cosine(device, keras_outputs)
    report = {"path": tflite_path, "bytes": Path(tflite_path).stat().st_size,
              "examples": len(features), "min_cosine": float(cosine.min()),
              "mean_cosine": float(cosine.mean()),
              "max_abs_difference": float(np.abs(device.reshape(keras_outputs.shape)
                                                 - keras_outputs).max()),
              "ops": tflite_ops(Path(tflite_path).read_bytes())}
    if mediapipe:
        by_mediapipe = _cosine(mediapipe_embed(tflite_path, [str(t) for t in examples.texts]),
                               keras_outputs)
        report.update(mediapipe_min_cosine=float(by_mediapipe.min()),
                      mediapipe_mean_cosine=float(by_mediapipe.mean()))
    report["latency_ms"] = _latency(tflite_path, features[:latency_examples], threads)
    return report
