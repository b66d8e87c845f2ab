"""Runs an exported .tflite in LiteRT (its CompiledModel, as a LiteRT 2.x app does) on real data and compares it with the Keras
model it came from: accuracy, agreement, output differences, size, latency, ops.

Which on-device check a model gets is declared by its task (`export_spec().verify`); this module
maps the declared name to its function (`PIPELINES`) and never looks at the task's type.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np

from kbert.export.checks import ExportError, tflite_ops
from kbert.export.litert_runtime import LiteRtModel, file_length
from kbert.export.mediapipe_runtime import (mediapipe_classify, mediapipe_embed,
                                            normalize_for_mediapipe, recorded_normalization)
from kbert.export.on_device_qa import OnDeviceQuestionAnswerer
from kbert.export.on_device_tagger import OnDeviceTagger
from kbert.export.tflite import full_rows, pad_features, padded_inputs, stack_rows
from kbert.preprocessing import as_examples
from kbert.preprocessing.inputs import split_xy
from kbert.tasks.tag_decoding import softmax

_KERAS_INPUTS = {"token_ids": "ids", "padding_mask": "mask", "segment_ids": "segment_ids"}


def _run_file(tflite_path: str, threads: int, features: list[dict],
              width: int | None = None) -> dict[str, np.ndarray]:
    """Every output of the file for each [1, L] (or [1, n]) input, stacked by name: [rows, ...];
    per-token outputs of a dynamic file padded with zeros to `width`."""
    runner = LiteRtModel(tflite_path, num_threads=threads)
    results = [runner(**f) for f in features]
    return {name: stack_rows([r[name] for r in results], width) for name in results[0]}


def keras_outputs(model, features: list[dict], batch_size: int = 32) -> dict[str, np.ndarray]:
    """The Keras model's named serving outputs (`export_spec().outputs`) on exactly the rows an
    app feeds the model (`device_features`), stacked: [rows, ...].

    Example:
    >>> keras_outputs(clf, export.device_features(clf, ["a gripping film"], 128))["probability"]
    array([[0.03, 0.97]], dtype=float32)
    """
    spec = model.export_spec()
    # A dynamic file's rows have their own lengths: batched for Keras padded to the longest.
    features = pad_features(features, max(f["ids"].shape[1] for f in features))
    parts: dict[str, list] = {}
    for start in range(0, len(features), batch_size):
        chunk = features[start:start + batch_size]
        batch = {key: np.concatenate([f[name] for f in chunk])
                 for key, name in _KERAS_INPUTS.items()}
        for name, value in spec.outputs(np.asarray(model.predict_on_batch(batch))).items():
            parts.setdefault(name, []).append(np.asarray(value, np.float32))
    return {name: np.concatenate(values) for name, values in parts.items()}


def predicted_outputs(model, x, batch_size: int = 32) -> dict[str, np.ndarray]:
    """`predict` on raw texts (or pairs), by exported name (`export_spec().outputs`): what every
    exported path must give on the same raw inputs (DESIGN decision 7).

    Example:
    >>> predicted_outputs(clf, ["a gripping film"])["probability"]
    array([[0.03, 0.97]], dtype=float32)
    """
    spec = model.export_spec()
    texts = spec.raw_text(as_examples(x, name="eval_data"))
    raw = texts[0] if len(texts) == 1 else list(zip(*texts))
    outputs = np.asarray(model.predict(raw, batch_size=batch_size, verbose=0), np.float32)
    if outputs.ndim == 1:  # A regressor's predict gives [n]; its graph's output is [n, 1].
        outputs = outputs[:, None]
    return {name: np.asarray(value, np.float32) for name, value in spec.outputs(outputs).items()}


def _differences(device: dict, reference: dict) -> dict[str, float]:
    difference = np.concatenate([np.abs(device[n] - reference[n]).reshape(-1)
                                 for n in sorted(reference)])
    return {"max_abs_difference": float(difference.max()),
            "mean_abs_difference": float(difference.mean())}


def _mediapipe_task(spec, reference, mediapipe: bool) -> str | None:
    if not mediapipe:
        return None
    if spec.mediapipe is None:
        raise ExportError(f"MediaPipe cannot run this {type(reference).__name__} faithfully: "
                          f"{spec.mediapipe_note}. Verify it without mediapipe=True (LiteRT with "
                          "kbert's preprocessing).")
    return spec.mediapipe


def verify(tflite_path: str | Path, eval_data, reference, *, threads: tuple[int, ...] = (1, 2),
           latency_examples: int = 100, mediapipe: bool = False) -> dict:
    """Measures a .tflite variant against its Keras model on labelled (or unlabelled) data.

    Example:
    >>> report = export.verify("out/model.tflite", (dev_texts, dev_labels), reference=clf)
    >>> report["metrics"]["accuracy"], report["agreement"], report["latency_ms"]["1"]["p95"]
    (0.905, 0.998, 4.1)
    >>> report["latency_by_length_ms"]["1"]["16"]
    {'rows': 41, 'mean': 0.9, 'p95': 1.2}

    `eval_data` is anything `predict` takes, or (x, y) / `kbert.data` examples with labels. The
    file gets what an app feeds it: a dynamic file each text's whole row (its graph reads the
    model's first `sequence_length` tokens, `export_spec().length`), a static file rows packed
    at its own length; the reference is `predict` on the same raw inputs, so the comparison
    covers the runtime, the quantization and the length policy. The report: the task's metrics for the variant and for Keras, agreement with
    Keras on the task's decisions (top label, chosen labels, word tags, answer texts), max and
    mean absolute output difference, file size, mean and 95th percentile latency per row at
    each thread count (batch 1, LiteRT), overall and per length bucket of the rows' real tokens
    (16, 32, 64, 128 tokens: `latency_by_length_ms`, so a dynamic file and its static twin
    compare bucket by bucket), and the op list. Which check runs is the task's
    declaration (`export_spec().verify`, see `PIPELINES`): taggers and question answerers go
    through the on-device reference pipelines (`OnDeviceTagger`, `OnDeviceQuestionAnswerer`),
    embedders are compared by cosine. `mediapipe=True` also runs the texts through the
    MediaPipe task the model declares (`export_spec().mediapipe`, tokenizing on its own) and
    reports its agreement with Keras: on the text an app feeds it (normalized as the file's
    kbert.json records: `mediapipe_agreement`, `mediapipe_max_abs_difference`, or
    `mediapipe_min_cosine` for an embedder), on the raw text (`mediapipe_raw_*`), and the same
    for non-ASCII texts (accents, CJK, full-width forms: `mediapipe_non_ascii`, with its
    `examples` count) and the rest (`mediapipe_ascii`) apart; a model MediaPipe cannot run
    raises `ExportError` saying why. A task with nothing to export (`kbert.MaskedLM`) raises
    `ExportError`.
    """
    spec = reference.export_spec()
    return PIPELINES[spec.verify](tflite_path, eval_data, reference, threads=threads,
                                  latency_examples=latency_examples, mediapipe=mediapipe)


def verify_texts(tflite_path: str | Path, eval_data, reference, *,
                 threads: tuple[int, ...] = (1, 2), latency_examples: int = 100,
                 mediapipe: bool = False) -> dict:
    """`verify` for tasks with one row per text or pair (classifiers, regressors): every output
    of the file (fed whole rows, or rows at a static file's length) against `predict` on the
    same raw texts, agreement on the task's decisions.

    Example:
    >>> export.verify_texts("out/model.tflite", (dev_texts, dev_labels), reference=clf)["agreement"]
    0.998
    """
    spec = reference.export_spec()
    runtime = _mediapipe_task(spec, reference, mediapipe)
    tflite_path = str(tflite_path)
    x, y = split_xy(eval_data, "eval_data")
    examples = as_examples(x, y, name="eval_data")
    features = _features(spec, reference, examples, file_length(tflite_path))
    device = _run_file(tflite_path, threads[-1], features)
    expected = predicted_outputs(reference, examples)
    report = {"path": tflite_path, "bytes": Path(tflite_path).stat().st_size,
              "examples": len(features), **_differences(device, expected),
              "ops": tflite_ops(Path(tflite_path).read_bytes())}
    if spec.decide is not None:
        report["agreement"] = _agreement(spec.decide(device), spec.decide(expected))
    if runtime == "text_classifier":
        names, output = list(spec.labels), spec.labelled_output

        def classify(texts, timings=None):
            scores = mediapipe_classify(tflite_path, texts, normalize=False, timings=timings)
            return np.array([[row.get(n, 0.0) for n in names] for row in scores], np.float32)

        def measure(scores, rows):
            return {"agreement": _agreement(spec.decide({output: scores[rows]}),
                                            spec.decide({output: expected[output][rows]})),
                    "max_abs_difference": float(np.abs(scores[rows]
                                                       - expected[output][rows]).max())}

        report.update(_mediapipe_report(tflite_path, [str(t) for t in examples.texts],
                                        classify, measure, features[:latency_examples]))
    if examples.labels is not None:
        first = spec.output_names[0]
        report["metrics"] = reference.metrics_for(device[first], examples)
        report["keras_metrics"] = reference.metrics_for(expected[first], examples)
    report.update(_latency(tflite_path, features[:latency_examples], threads))
    return report


def _features(spec, reference, x, sequence_length: int | None,
                name: str = "eval_data") -> list[dict]:
    """The rows an app feeds the file: for a dynamic file (None) each text's whole row, which the
    file cuts to the model's length policy itself; for a static one packed at its length. Never
    rows packed at the model's length here: the file's own cut is what is checked."""
    if sequence_length is None:
        return full_rows(reference, x, name)
    encoded = spec.pack(x, sequence_length, name).encoded
    return padded_inputs(encoded.token_ids.to_list(), encoded.segment_ids.to_list(),
                         sequence_length, reference.preprocessor.pad_id)


def _mediapipe_report(tflite_path: str, texts: list[str], run, measure,
                      timed: list[dict]) -> dict:
    """MediaPipe's side of a report. `run(texts, timings=None)` gives MediaPipe's outputs as an
    array (one row per text), `measure(outputs, rows)` the figures for the selected rows
    ({name: value}). The first len(`timed`) texts (`timed`: their LiteRT rows, for their token
    counts) are timed on one CPU core (`one_core`) as LiteRT is with one thread:
    `mediapipe_latency_ms` {mean, p95} and `mediapipe_latency_by_length_ms` per length bucket.

    MediaPipe is fed what an app feeds it: the text normalized as the file's kbert.json records
    (`normalize_for_mediapipe`; MediaPipe's own tokenizer only lowercases ASCII letters), and
    the raw text too (`mediapipe_raw_*`) so the normalization's effect shows. Text holding any
    non-ASCII character (accents, CJK, full-width forms...) is where tokenizations differ: it is
    reported on its own (`mediapipe_non_ascii`), as is the rest (`mediapipe_ascii`).
    """
    normalization = recorded_normalization(tflite_path)
    fed_texts = normalize_for_mediapipe(tflite_path, texts)
    timings: list[float] = []
    with one_core():
        run(fed_texts[:len(timed)], timings)
    fed = run(fed_texts)
    raw = fed if normalization is None else run(texts)
    every = np.ones(len(texts), bool)
    report = {"mediapipe_normalization": None if normalization is None
              else normalization.get_config()}
    report.update({f"mediapipe_{k}": v for k, v in measure(fed, every).items()})
    report.update({f"mediapipe_raw_{k}": v for k, v in measure(raw, every).items()})
    non_ascii = np.array([not text.isascii() for text in texts], bool)
    for name, rows in (("non_ascii", non_ascii), ("ascii", ~non_ascii)):
        block = {"examples": int(rows.sum())}
        if rows.any():
            block.update(measure(fed, rows))
            block.update({f"raw_{k}": v for k, v in measure(raw, rows).items()})
        report[f"mediapipe_{name}"] = block
    if timings:
        report["mediapipe_latency_ms"] = _summary(timings)
        report["mediapipe_latency_by_length_ms"] = _by_bucket(
            [length_bucket(int(f["mask"].sum())) for f in timed], timings)
    return report


@contextlib.contextmanager
def one_core():
    """While inside: this process runs on one CPU core (Linux), so a runtime whose thread count
    cannot be set (MediaPipe Tasks' Python API) is timed as with one thread."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.asarray(a) == np.asarray(b)))


# Length buckets latency is reported in: a row of n real tokens falls in the first bucket >= n.
LENGTH_BUCKETS = (16, 32, 64, 128)


def length_bucket(tokens: int) -> str:
    """The latency bucket of a row with `tokens` real tokens: "16", "32", "64", "128" or ">128".

    Example:
    >>> length_bucket(20)
    '32'
    """
    for bucket in LENGTH_BUCKETS:
        if tokens <= bucket:
            return str(bucket)
    return f">{LENGTH_BUCKETS[-1]}"


def _summary(times: list[float]) -> dict:
    return {"mean": float(np.mean(times)), "p95": float(np.percentile(times, 95))}


def _by_bucket(buckets: list[str], times: list[float]) -> dict:
    """{bucket: {rows, mean, p95}} of the times, bucket by bucket in length order."""
    grouped: dict[str, list[float]] = {}
    for bucket, elapsed in zip(buckets, times):
        grouped.setdefault(bucket, []).append(elapsed)
    order = [str(b) for b in LENGTH_BUCKETS] + [f">{LENGTH_BUCKETS[-1]}"]
    return {b: {"rows": len(grouped[b]), **_summary(grouped[b])} for b in order if b in grouped}


def _latency(tflite_path: str, sample: list[dict], threads: tuple[int, ...]) -> dict:
    """Milliseconds per LiteRT call (CompiledModel), batch 1, per thread count: mean and 95th percentile
    over all rows (`latency_ms`) and per length bucket of the rows' real tokens
    (`latency_by_length_ms`: {threads: {bucket: {rows, mean, p95}}}), so a dynamic file and its
    static twin compare bucket by bucket; `dynamic_length` says which this file is."""
    latency, by_length = {}, {}
    buckets = [length_bucket(int(f["mask"].sum())) for f in sample]
    for count in threads:
        run = LiteRtModel(tflite_path, num_threads=count)
        dynamic = run.dynamic
        run(**sample[0])  # Warm-up: the first call allocates.
        times = []
        for f in sample:
            start = time.perf_counter()
            run(**f)
            times.append((time.perf_counter() - start) * 1000)
        latency[str(count)] = _summary(times)
        by_length[str(count)] = _by_bucket(buckets, times)
    return {"latency_ms": latency, "latency_by_length_ms": by_length, "dynamic_length": dynamic}


def verify_tagger(tflite_path: str | Path, sentences, reference, *,
                  threads: tuple[int, ...] = (1, 2), latency_examples: int = 100,
                  mediapipe: bool = False) -> dict:
    """`verify` for a `kbert.TokenClassifier`: the .tflite through the on-device reference
    pipeline (`OnDeviceTagger`: the file's own vocabulary, labels and length) against Keras on
    the same windows, on the same word lists (`kbert.data.read_conll` sentences, or
    (word_lists, tag_lists)).

    Example:
    >>> report = export.verify("out/ner/model.tflite", read_conll("valid.txt"), reference=tagger)
    >>> report["metrics"]["f1"], report["keras_metrics"]["f1"], report["agreement"]
    (0.893, 0.895, 0.998)

    `agreement` is the share of words whose label matches Keras's; the output differences are
    on per-word probabilities; latency is per window (one model call).
    """
    spec = reference.export_spec()
    _mediapipe_task(spec, reference, mediapipe)
    tflite_path = str(tflite_path)
    x, y = split_xy(sentences, "eval_data")
    examples = reference.prepare(x, y, name="eval_data").examples
    device = OnDeviceTagger(tflite_path, lowercase=bool(reference.preprocessor.tokenizer.lowercase),
                            num_threads=threads[-1], window_stride=reference.window_stride)
    packed = spec.pack(examples, device.sequence_length, "eval_data")
    features = device.window_features(packed.windows)
    device_scores = device.word_scores(examples.words)
    logits = keras_outputs(reference, pad_features(features, device.sequence_length))[
        spec.output_names[0]]
    keras_scores = [softmax(s) for s in packed.windows.word_outputs(logits)]
    flat_device, flat_keras = np.concatenate(device_scores), np.concatenate(keras_scores)
    difference = np.abs(flat_device - flat_keras)
    report = {
        "path": tflite_path,
        "bytes": Path(tflite_path).stat().st_size,
        "examples": len(examples.words),
        "windows": len(features),
        "max_abs_difference": float(difference.max()),
        "mean_abs_difference": float(difference.mean()),
        "agreement": _agreement(flat_device.argmax(-1), flat_keras.argmax(-1)),
        "ops": tflite_ops(Path(tflite_path).read_bytes()),
    }
    if examples.tags is not None:
        report["metrics"] = reference.metrics_for(device_scores, examples)
        report["keras_metrics"] = reference.metrics_for(keras_scores, examples)
    report.update(_latency(tflite_path, features[:latency_examples], threads))
    return report


def verify_question_answerer(tflite_path: str | Path, examples, reference, *,
                             threads: tuple[int, ...] = (1, 2), latency_examples: int = 100,
                             mediapipe: bool = False) -> dict:
    """`verify` for a `kbert.QuestionAnswerer`: the .tflite through the on-device reference
    pipeline (`OnDeviceQuestionAnswerer`) against Keras on the same windows (built at the file's
    length), on the same SQuAD examples, scored by the official SQuAD evaluation.

    Example:
    >>> report = export.verify("out/qa/model.tflite", evaluation, reference=qa)
    >>> report["metrics"]["f1"], report["keras_metrics"]["f1"], report["agreement"]
    (71.9, 72.3, 0.97)

    `agreement` is the share of questions whose final answer text is the same; the output
    differences are on start/end logits of real tokens; latency is per window.
    """
    spec = reference.export_spec()
    _mediapipe_task(spec, reference, mediapipe)
    tflite_path = str(tflite_path)
    device = OnDeviceQuestionAnswerer.from_model(tflite_path, reference, num_threads=threads[-1])
    packed = spec.pack(reference.prepare(examples, name="eval_data").examples,
                       device.sequence_length, "eval_data")
    features = device.window_features(packed.windows)
    device_logits = np.stack([np.stack(device.run(f), -1) for f in features])
    expected = keras_outputs(reference, pad_features(features, device.sequence_length))
    keras_logits = np.stack([expected["start_logits"], expected["end_logits"]], -1)
    real = np.concatenate([f["mask"] for f in pad_features(features, device.sequence_length)]) > 0
    difference = np.abs(device_logits - keras_logits)[real]
    device_spans = reference.decode(packed, device_logits[..., 0], device_logits[..., 1])
    keras_spans = reference.decode(packed, keras_logits[..., 0], keras_logits[..., 1])
    report = {
        "path": tflite_path,
        "bytes": Path(tflite_path).stat().st_size,
        "examples": len(packed.examples),
        "windows": len(features),
        "max_abs_difference": float(difference.max()),
        "mean_abs_difference": float(difference.mean()),
        "agreement": float(np.mean([reference.final_text(a) == reference.final_text(b)
                                    for a, b in zip(device_spans, keras_spans)])),
        "ops": tflite_ops(Path(tflite_path).read_bytes()),
    }
    if packed.examples.answers is not None:
        report["metrics"] = reference.metrics_for(device_spans, packed)
        report["keras_metrics"] = reference.metrics_for(keras_spans, packed)
    report.update(_latency(tflite_path, features[:latency_examples], threads))
    return report


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1),
                                        1e-12)


def verify_embedder(tflite_path: str | Path, texts, reference, *, threads: tuple[int, ...] = (1, 2),
                    latency_examples: int = 100, mediapipe: bool = False) -> dict:
    """`verify` for a `kbert.TextEmbedder`: cosine similarity between the .tflite's embeddings
    (LiteRT fed each text's whole row, and with `mediapipe=True` MediaPipe's TextEmbedder on the
    raw texts) and `predict`'s on the same texts.

    Example:
    >>> export.verify("out/embedder.tflite", sentences, reference=emb, mediapipe=True)
    {'min_cosine': 0.998, 'mean_cosine': 0.9996, 'mediapipe_min_cosine': 0.997, ...}

    MediaPipe's figures are described in `verify` (normalized text as an app feeds it, raw
    text, non-ASCII texts apart).
    """
    spec = reference.export_spec()
    runtime = _mediapipe_task(spec, reference, mediapipe)
    tflite_path = str(tflite_path)
    examples = as_examples(texts, name="eval_data")
    features = _features(spec, reference, examples, file_length(tflite_path))
    (name,) = spec.output_names
    device = _run_file(tflite_path, threads[-1], features)[name]
    expected = predicted_outputs(reference, examples)[name]
    cosine = _cosine(device, expected)
    report = {"path": tflite_path, "bytes": Path(tflite_path).stat().st_size,
              "examples": len(features), "min_cosine": float(cosine.min()),
              "mean_cosine": float(cosine.mean()),
              **_differences({name: device}, {name: expected}),
              "ops": tflite_ops(Path(tflite_path).read_bytes())}
    if runtime == "text_embedder":
        def measure(vectors, rows):
            cosine = _cosine(vectors[rows], expected[rows])
            return {"min_cosine": float(cosine.min()), "mean_cosine": float(cosine.mean()),
                    "max_abs_difference": float(np.abs(vectors[rows] - expected[rows]).max())}

        report.update(_mediapipe_report(
            tflite_path, [str(t) for t in examples.texts],
            lambda texts, timings=None: mediapipe_embed(tflite_path, texts, normalize=False,
                                                        timings=timings),
            measure, features[:latency_examples]))
    report.update(_latency(tflite_path, features[:latency_examples], threads))
    return report


# The on-device checks a task can declare (`kbert.tasks.exports.VERIFY_PIPELINES`).
PIPELINES = {"texts": verify_texts, "embeddings": verify_embedder, "tags": verify_tagger,
             "answers": verify_question_answerer}


def verify_saved_model(directory: str | Path, eval_data, reference, batch_size: int = 64) -> dict:
    """Runs both SavedModel signatures on the evaluation inputs and compares them with Keras.

    Example:
    >>> export.verify_saved_model("out/saved_model", dev_texts, reference=clf)
    {'examples': 872, 'max_abs_difference': 3.1e-07, 'token_ids_max_abs_difference': 2.9e-07,
     'label_agreement': 1.0}

    `serving_default` gets the raw strings (`export_spec().raw_text`: the texts or pairs, a
    tagger's words joined by spaces, a question and its context) and is compared with Keras on
    the same strings packed by the model's preprocessor (one row each); `label_agreement` is
    the share of rows whose string outputs (labels) match those of Keras's outputs. `token_ids`
    gets each text's whole row (cut by the signature to the model's length policy) and is
    compared with `predict` on the raw texts; a tagger's or question answerer's windows are fed
    as kbert builds them and compared with Keras on them. Loading needs `import tensorflow_text` (done here).
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  The raw-string signature's tokenizer ops.

    spec = reference.export_spec()
    x, y = split_xy(eval_data, "eval_data")
    examples = reference.prepare(x, y, name="eval_data").examples
    loaded = tf.saved_model.load(str(directory))
    raw = spec.raw_text(examples)
    count = len(raw[0])
    differences, token_differences, agreeing = [], [], []
    for start in range(0, count, batch_size):
        strings = [tf.constant(texts[start:start + batch_size]) for texts in raw]
        served = loaded.signatures["serving_default"](**dict(zip(spec.text_inputs, strings)))
        features = reference.preprocessor(strings)
        expected = spec.outputs(reference.predict_on_batch(features))
        differences += [np.abs(served[n].numpy() - np.asarray(expected[n])).reshape(-1)
                        for n in spec.output_names]
        if spec.text_outputs is not None:
            labels = spec.text_outputs({n: tf.constant(v) for n, v in expected.items()}, features)
            agreeing += [np.all((served[n].numpy() == labels[n].numpy()).reshape(
                len(strings[0]), -1), axis=-1) for n in labels]
    if spec.length_policy(reference).windowed:
        # The task's own windows (each within the model's length) and Keras on the same rows.
        packed = spec.pack(examples, reference.preprocessor.sequence_length, "eval_data").encoded
        for start in range(0, len(packed), batch_size):
            rows = slice(start, start + batch_size)
            features = reference.preprocessor.pad(packed.token_ids[rows], packed.segment_ids[rows])
            served = loaded.signatures["token_ids"](**features)
            expected = spec.outputs(reference.predict_on_batch(features))
            token_differences += [np.abs(served[n].numpy() - np.asarray(expected[n])).reshape(-1)
                                  for n in spec.output_names]
    else:
        # Each text's whole row, which the signature cuts itself, against `predict`.
        rows = full_rows(reference, examples, "eval_data")
        expected = predicted_outputs(reference, examples)
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            chunk = pad_features(chunk, max(f["ids"].shape[1] for f in chunk))
            served = loaded.signatures["token_ids"](**{
                key: tf.constant(np.concatenate([f[name] for f in chunk]))
                for key, name in _KERAS_INPUTS.items()})
            token_differences += [np.abs(served[n].numpy() - expected[n][start:start + len(chunk)])
                                  .reshape(-1) for n in spec.output_names]
    report = {"examples": count,
              "max_abs_difference": float(np.concatenate(differences).max()),
              "token_ids_max_abs_difference": float(np.concatenate(token_differences).max())}
    if agreeing:
        report["label_agreement"] = float(np.mean(np.concatenate(agreeing)))
    return report
