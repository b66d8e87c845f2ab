"""Task model to a SavedModel that TF Serving (or `tf.saved_model.load`) runs on raw strings."""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf
import tensorflow_text  # noqa: F401  Registers the tokenizer ops the raw-string signature uses.

from kbert.files import atomic_directory


def to_saved_model(model, directory: str | Path) -> str:
    """Exports a task model to a SavedModel with two signatures, written atomically.

    Example:
    >>> export.to_saved_model(clf, "out/saved_model")
    >>> served = tf.saved_model.load("out/saved_model").signatures["serving_default"]
    >>> served(text=tf.constant(["a gripping film"]))["label"]
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'positive'], dtype=object)>

    - `serving_default`: raw strings [batch], tokenized inside the graph (tensorflow-text
      WordPiece, the same layer as in training) and packed into one row each at the model's
      sequence length. Inputs are the task's `export_spec().text_inputs`: `text` (and
      `text_pair` for pair models); `question` and `context` for a question answerer; a sentence
      `text` for a tagger.
    - `token_ids`: `token_ids`, `padding_mask`, `segment_ids` int32 [batch, length], for clients
      that tokenize (and window) themselves. Rows of any length: the graph cuts each to the
      model's length policy (`export_spec().length`), so a text's whole row gives `predict`'s
      output (a pair trimmed longest-first, as kbert's packer does).

    Both return the task's named outputs (`export_spec().output_names`: `probability`, `score`,
    `logits`, `start_logits`/`end_logits`, `embedding`) and its string outputs (a classifier's
    `label`, a tagger's per-token `label`). Loading needs the TensorFlow Text ops registered:
    `import tensorflow_text` before `tf.saved_model.load`. A task with nothing to export
    (`kbert.MaskedLM`) raises `ExportError`. A LoRA model is exported with its adapters
    merged into the encoder's kernels (`Task.merged`). Export needs the TensorFlow backend: a
    model trained under JAX is refused with what to do.
    """
    from kbert.export.tflite import check_backend

    spec = model.export_spec()
    check_backend("export.to_saved_model")
    model = model.merged()
    policy = spec.length_policy(model)

    def outputs(features):
        served = spec.outputs(model(features, training=False))
        if spec.text_outputs is not None:
            served.update(spec.text_outputs(served, features))
        return served

    def serve_text(*texts):
        return outputs(model.preprocessor(list(texts)))

    def serve_token_ids(token_ids, padding_mask, segment_ids):
        # Whole rows are read as `predict` reads the raw text (the model's length policy).
        token_ids, padding_mask, segment_ids = policy.cut(token_ids, padding_mask, segment_ids)
        return outputs({"token_ids": token_ids, "padding_mask": padding_mask,
                        "segment_ids": segment_ids})

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(model.preprocessor)
    archive.add_endpoint("serving_default", serve_text, input_signature=[
        tf.TensorSpec([None], tf.string, name=name) for name in spec.text_inputs])
    archive.add_endpoint("token_ids", serve_token_ids, input_signature=[
        tf.TensorSpec([None, None], tf.int32, name=n)
        for n in ("token_ids", "padding_mask", "segment_ids")])
    with atomic_directory(directory) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return str(directory)
