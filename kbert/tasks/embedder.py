"""Sentence embeddings from any layer of a BERT encoder (feature extraction)."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from kbert.tasks import exports
from kbert.tasks.heads import masked_mean
from kbert.tasks.task import Task

POOLINGS = ("cls", "pooler", "mean", "max")
LAYER_MODES = ("last", "all", "last4_concat")


def hidden_states(backbone) -> keras.Model:
    """A view of the encoder that returns every hidden state: the embeddings' output, then each
    transformer layer's, [batch, length, hidden] each. KerasHub's BertBackbone returns only the
    last; this model reuses the backbone's own layers and weights (nothing is copied).

    Example:
    >>> states = hidden_states(backbone)(features)      # num_layers + 1 tensors
    """
    outputs = [backbone.get_layer("embeddings_dropout").output] + [
        layer.output for layer in backbone.transformer_layers]
    return keras.Model(backbone.input, outputs, name="hidden_states")


def _layer_indices(layers, num_layers: int) -> list[int]:
    if layers == "last":
        return [num_layers]
    if layers == "all":
        return list(range(num_layers + 1))
    if layers == "last4_concat":
        return list(range(max(0, num_layers - 3), num_layers + 1))
    if isinstance(layers, (list, tuple)) and layers and all(isinstance(i, int) for i in layers):
        indices = [i if i >= 0 else num_layers + 1 + i for i in layers]
        if all(0 <= i <= num_layers for i in indices):
            return indices
    raise ValueError(f"layers must be one of {LAYER_MODES} or a list of layer indices in "
                     f"[-{num_layers + 1}, {num_layers}] (0: the embeddings, {num_layers}: the "
                     f"last layer); got {layers!r}.")


@keras.saving.register_keras_serializable(package="kbert")
class TextEmbedder(Task):
    """A BERT encoder that maps each text (or pair) to a vector.

    Example:
    >>> emb = kbert.TextEmbedder.from_preset("minilm_l6_uncased", pooling="mean", normalize=True)
    >>> vectors = emb.embed(["A man plays guitar.", "Someone plays an instrument."])
    >>> float(vectors[0] @ vectors[1])                  # cosine similarity (normalized)
    0.71

    pooling: "cls" (the [CLS] hidden state), "pooler" (BERT's tanh pooler over [CLS]; last layer
    only), "mean" or "max" over real tokens (padding excluded). layers: "last"; "all" (every
    hidden state, embeddings first: the output is [batch, layers + 1, hidden]);
    "last4_concat" (the last four layers' pooled vectors side by side); or a list of indices
    (0: the embeddings, i: after transformer layer i, negative from the end), concatenated.
    normalize: L2-normalize the final vector(s), so dot products are cosine similarities.
    """

    def __init__(self, backbone, preprocessor, pooling: str = "mean", layers="last",
                 normalize: bool = False, **kwargs):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {pooling!r}.")
        indices = _layer_indices(layers, backbone.num_layers)
        if pooling == "pooler" and indices != [backbone.num_layers]:
            raise ValueError("pooling='pooler' applies BERT's pooler, which exists for the last "
                             "layer only: use layers='last'.")
        inputs = backbone.input
        mask = ops.cast(ops.expand_dims(inputs["padding_mask"], -1), "float32")
        if pooling == "pooler":
            pooled = [ops.cast(backbone(inputs)["pooled_output"], "float32")]
        else:
            states = hidden_states(backbone)(inputs)
            pooled = [_pool(ops.cast(states[i], "float32"), mask, pooling) for i in indices]
        if layers == "all":
            output = ops.stack(pooled, axis=1)
        else:
            output = pooled[0] if len(pooled) == 1 else ops.concatenate(pooled, axis=-1)
        if normalize:
            output = output / ops.maximum(ops.norm(output, axis=-1, keepdims=True), 1e-12)
        super().__init__(inputs=inputs, outputs=output, backbone=backbone,
                         preprocessor=preprocessor, **kwargs)
        # `layers` is a Keras Model attribute: kept under another name, given back in the config.
        self.pooling, self.layer_selection, self.normalize = pooling, layers, bool(normalize)

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "layers": self.layer_selection,
                "normalize": self.normalize}

    def distillation_loss(self, teacher_outputs, student_outputs, *, temperature: float,
                          padding_mask=None):
        """What a student of this embedder learns (`kbert.distill`): the teacher's embedding
        (mean squared difference, as sentence-embedding distillation trains it; on normalized
        vectors that is a cosine distance). A student's `fit` takes texts alone.

        Example:
        >>> emb.distillation_loss(teacher_vectors, student_vectors, temperature=1.0)
        """
        from kbert.training import distill

        return distill.mean_squared(teacher_outputs, student_outputs)

    def fit(self, *args, **kwargs):
        if getattr(self, "distillation", None) is not None:  # A student: its teacher's targets.
            return super().fit(*args, **kwargs)
        raise NotImplementedError(
            "TextEmbedder extracts features and has no training objective: fine-tune a task model "
            "(TextClassifier, TextRegressor...) or adapt the encoder with MaskedLM, then embed with "
            "TextEmbedder.from_preset on the saved encoder.")

    def evaluate_metrics(self, *args, **kwargs):
        raise NotImplementedError(
            "TextEmbedder has no labels to score against: compare embeddings yourself (e.g. "
            "examples/zero_shot_similarity.py: STS-B Spearman of cosine similarities).")

    evaluate = evaluate_metrics

    def embed(self, texts: Sequence, batch_size: int = 64) -> np.ndarray:
        """Embeddings of raw texts (or pairs), in input order: [n, dim] ([n, layers + 1, hidden]
        for layers="all")."""
        return self.predict(texts, batch_size=batch_size)

    # ----------------------------------------------------------------------------- export
    def export_spec(self) -> exports.ExportSpec:
        """Exports `embedding` [batch, dim] ([batch, layers + 1, hidden] for layers="all").
        MediaPipe's TextEmbedder runs uncased single-text embedders with one vector per text.

        Example:
        >>> emb.export_spec().mediapipe
        'text_embedder'
        """
        several = self.layer_selection == "all"
        mediapipe, note = exports.mediapipe_text_task(
            self, "text_embedder",
            reason="it gives one [layers + 1, hidden] matrix per text (layers='all'), not one "
                   "vector" if several else "")
        normalized = " (L2-normalized)" if self.normalize else ""
        shape = "[1, layers + 1, hidden]" if several else "[1, dim]"
        what = "matrix (a vector per layer)" if several else "vector"
        return exports.text_spec(
            self, task="embedder", outputs=lambda outputs: {"embedding": outputs},
            output_names=("embedding",),
            output_descriptions={"embedding": f"The text's embedding{normalized}, {shape}."},
            description=f"Text embedder: the output is one {what} per text{normalized}. "
                        "Exported by kbert.",
            mediapipe=mediapipe, mediapipe_note=note, verify="embeddings",
            settings={"pooling": self.pooling, "layers": self.layer_selection,
                      "normalize": self.normalize})


def _pool(sequence, mask, pooling: str):
    if pooling == "cls":
        return sequence[:, 0, :]
    if pooling == "max":
        # Padding takes the sequence's own minimum (never above a real token's value), not a
        # -1e9 that an int8 export would have to fit into the tensor's quantization range.
        floor = ops.min(sequence, axis=1, keepdims=True)
        return ops.max(ops.where(mask > 0, sequence, floor), axis=1)
    return masked_mean(sequence, mask)
