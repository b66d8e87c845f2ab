"""Inference batching: how `Task.predict`, `evaluate`, `evaluate_metrics` and the word- and
span-level decoders run a model over prepared data.

Rows held in memory (`kbert.preprocessing.prepared.Prepared`) are predicted sorted by length, so
each batch pads little, and come back in input order; pre-tokenized arrays
(`features.PreTokenized`) go to Keras as they are; a `tf.data.Dataset` is streamed in order.
The functions take Keras's own `predict` / `evaluate` of the model (`super().predict` in the
task), so a task's `predict` override (labels, decoded tags) is never re-entered.
"""

from __future__ import annotations

import warnings

from typing import Callable

import numpy as np

from kbert.errors import unwrapped_input_errors
from kbert.lazy import tf
from kbert.preprocessing import features, pipeline
from kbert.preprocessing.inputs import dataset_structure


def predict_prepared(predict: Callable, preprocessor, prepared, batch_size: int,
                     **kwargs) -> np.ndarray:
    """The model's outputs for prepared rows, in row order; `predict` is Keras's
    `Model.predict` of the model (kwargs go to it; `verbose` defaults to 0).

    Example:
    >>> predict_prepared(keras.Model.predict.__get__(clf), clf.preprocessor,
    ...                  clf.prepare(["a gripping film"]), 32).shape
    (1, 2)
    """
    kwargs.setdefault("verbose", 0)
    if isinstance(prepared, features.PreTokenized):
        return predict(prepared.features, batch_size=batch_size, **kwargs)
    # Sorted by length so each batch pads little; the original order is restored after.
    order = np.argsort(prepared.encoded.lengths, kind="stable")
    batches = pipeline.inference_batches(preprocessor, prepared.encoded, batch_size, order)
    sorted_outputs = predict(batches, **kwargs)
    outputs = np.empty_like(sorted_outputs)
    outputs[order] = sorted_outputs
    return outputs


def predict_stream(predict: Callable, preprocessor, dataset: tf.data.Dataset, batch_size: int,
                   **kwargs) -> np.ndarray:
    """The model's outputs for a `tf.data.Dataset` of texts or (text_a, text_b) pairs, streamed
    in order; a labelled dataset's labels are dropped. `predict` as in `predict_prepared`.

    Example:
    >>> predict_stream(keras.Model.predict.__get__(clf), clf.preprocessor,
    ...                tf.data.Dataset.from_tensor_slices(["a gripping film"]), 32).shape
    (1, 2)
    """
    _, labelled = dataset_structure(dataset)

    # Named functions, not lambdas: autograph finds a lambda by its source line, which proved
    # fragile here.
    def with_placeholder_label(*text):
        return (text if len(text) > 1 else text[0]), 0

    def features_only(features, _):
        return features

    batches = pipeline.streaming_batches(
        preprocessor, dataset if labelled else dataset.map(with_placeholder_label),
        batch_size, group_by_length=False).map(features_only)
    kwargs.setdefault("verbose", 0)
    with unwrapped_input_errors(), warnings.catch_warnings():
        # A stream's size is unknown until it ends, and its end is where predict stops: Keras's
        # "Your input ran out of data" warning says nothing wrong here.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        return predict(batches, **kwargs)


def evaluate_prepared(evaluate: Callable, preprocessor, prepared, batch_size: int, **kwargs):
    """Keras's `evaluate` (`evaluate`, the model's) over labelled prepared rows or pre-tokenized
    arrays with their targets.

    Example:
    >>> evaluate_prepared(keras.Model.evaluate.__get__(clf), clf.preprocessor,
    ...                   clf.prepare(dev_texts, dev_labels), 32)
    """
    if isinstance(prepared, features.PreTokenized):
        return evaluate(prepared.features, prepared.targets, batch_size=batch_size, **kwargs)
    batches = pipeline.inference_batches(preprocessor, prepared.encoded, batch_size,
                                         targets=prepared.targets)
    return evaluate(batches, **kwargs)


def window_outputs(predict_on_batch: Callable, preprocessor, prepared,
                   batch_size: int = 32) -> np.ndarray:
    """Per-token outputs of every prepared row, [rows, sequence_length, ...] float32 (zeros
    past each row's end), in row order; `predict_on_batch` is the model's.

    Example:
    >>> window_outputs(tagger.predict_on_batch, tagger.preprocessor,
    ...                tagger.prepare([["Jeremy", "lives", "in", "Paris"]])).shape
    (1, 128, 9)
    """
    encoded = prepared.encoded
    order = np.argsort(encoded.lengths, kind="stable")  # Batches of similar length pad little.
    outputs, done = None, 0
    for inputs in pipeline.inference_batches(preprocessor, encoded, batch_size, order):
        batch = np.asarray(predict_on_batch(inputs), np.float32)
        if outputs is None:
            outputs = np.zeros((len(encoded), preprocessor.sequence_length, *batch.shape[2:]),
                               np.float32)
        rows = order[done:done + len(batch)]
        outputs[rows, :batch.shape[1]] = batch
        done += len(batch)
    return outputs
