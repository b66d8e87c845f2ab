"""Task model to a SavedModel that TF Serving (or `tf.saved_model.load`) runs on raw strings."""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf
import tensorflow_text  # noqa: F401  Registers the tokenizer ops the raw-string signature uses.

from kbert.files import atomic_directory


def to_saved_model(model, directory: str | Path) -> str:
    """Exports two signatures:

    - `serving_default`: raw text, tokenized inside the graph (tensorflow-text WordPiece, the
      same layer as in training). Input `text` (and `text_pair` for pair models): string [batch].
      Outputs: `probability` [batch, classes] and `label` (top label name, or for multi-label a
      [batch, classes] string tensor with "" where the label is not predicted); regressors give
      `score` [batch].
    - `token_ids`: `token_ids`, `padding_mask`, `segment_ids` int32 [batch, length] to the same
      outputs, for clients that tokenize themselves.

    Example:
    >>> export.to_saved_model(clf, "out/saved_model")
    >>> served = tf.saved_model.load("out/saved_model").signatures["serving_default"]
    >>> served(text=tf.constant(["a gripping film"]))["label"]
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'positive'], dtype=object)>
    """
    pair = _is_pair_model(model)
    labels = getattr(model, "labels", None)

    def outputs(features):
        result = model(features, training=False)
        if labels is None:
            return {model.output_name: tf.reshape(result, [-1])}
        names = tf.constant(labels)
        if model.multi_label:
            chosen = result >= model.threshold
            label = tf.where(chosen, tf.broadcast_to(names, tf.shape(result)), "")
        else:
            label = tf.gather(names, tf.argmax(result, axis=-1))
        return {model.output_name: result, "label": label}

    def serve_text(text, text_pair=None):
        segments = [text] if text_pair is None else [text, text_pair]
        return outputs(model.preprocessor(segments))

    def serve_token_ids(token_ids, padding_mask, segment_ids):
        return outputs({"token_ids": token_ids, "padding_mask": padding_mask,
                        "segment_ids": segment_ids})

    strings = [tf.TensorSpec([None], tf.string, name="text")]
    if pair:
        strings.append(tf.TensorSpec([None], tf.string, name="text_pair"))
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(model.preprocessor)
    archive.add_endpoint("serving_default", serve_text, input_signature=strings)
    archive.add_endpoint("token_ids", serve_token_ids, input_signature=[
        tf.TensorSpec([None, None], tf.int32, name=n)
        for n in ("token_ids", "padding_mask", "segment_ids")])
    with atomic_directory(directory) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return str(directory)


def _is_pair_model(model) -> bool:
    """Whether the model was trained on pairs (it remembers; see Task.fit)."""
    return bool(getattr(model, "pair_inputs", False))
