import numpy as np
import pytest
import tensorflow as tf

import kbert
from tests.conftest import tiny_task

TEXTS = ["the film was great", "a dull book", "i loved it , really", "the man plays"]


def reference_states(embedder):
    """Every hidden state computed by hand, layer by layer, from the backbone's own layers."""
    features = embedder.preprocessor([tf.constant(TEXTS)])
    backbone = embedder.backbone
    x = backbone.embeddings_layer_norm(backbone.embeddings_add((
        backbone.token_embedding(features["token_ids"]),
        backbone.position_embedding(backbone.token_embedding(features["token_ids"])),
        backbone.segment_embedding(features["segment_ids"]))))
    states = [x]
    for layer in backbone.transformer_layers:
        x = layer(x, padding_mask=features["padding_mask"])
        states.append(x)
    mask = features["padding_mask"].numpy()[..., None].astype(bool)
    return [s.numpy() for s in states], mask, backbone(features)["pooled_output"].numpy()


def pool(state, mask, pooling):
    if pooling == "cls":
        return state[:, 0]
    if pooling == "max":
        return np.where(mask, state, -np.inf).max(1)
    return (state * mask).sum(1) / mask.sum(1)


@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
@pytest.mark.parametrize("layers, indices", [("last", [2]), ("all", [0, 1, 2]),
                                             ("last4_concat", [0, 1, 2]), ([0, -1], [0, 2])])
def test_every_pooling_and_layer_mode_matches_a_hand_computation(pooling, layers, indices):
    embedder = tiny_task(kbert.TextEmbedder, pooling=pooling, layers=layers)
    states, mask, _ = reference_states(embedder)
    pooled = [pool(states[i], mask, pooling) for i in indices]
    expected = np.stack(pooled, 1) if layers == "all" else np.concatenate(pooled, -1)
    np.testing.assert_allclose(embedder.embed(TEXTS), expected, atol=1e-5)


def test_pooler_and_normalize():
    embedder = tiny_task(kbert.TextEmbedder, pooling="pooler", normalize=True)
    _, _, pooled = reference_states(embedder)
    expected = pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)
    vectors = embedder.embed(TEXTS)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), 1.0, rtol=1e-5)


def test_padding_never_changes_an_embedding():
    embedder = tiny_task(kbert.TextEmbedder, pooling="max", layers="last4_concat")
    alone = embedder.embed(TEXTS[:1])
    with_longer = embedder.embed([TEXTS[0], " ".join(TEXTS * 2)])[:1]
    np.testing.assert_allclose(alone, with_longer, atol=1e-5)


def test_the_view_shares_the_backbone_weights_and_round_trips(tmp_path):
    embedder = tiny_task(kbert.TextEmbedder, layers="all")
    assert len(embedder.weights) == len(embedder.backbone.weights)  # nothing copied
    embedder.save(tmp_path / "e.keras")
    loaded = kbert.load_model(tmp_path / "e.keras")
    np.testing.assert_allclose(loaded.embed(TEXTS), embedder.embed(TEXTS), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"pooling": "sum"}, "pooling must be one of"),
    ({"layers": "first"}, "layers must be one of"),
    ({"layers": [5]}, "layers must be one of"),
    ({"pooling": "pooler", "layers": "all"}, "last layer only"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_task(kbert.TextEmbedder, **kwargs)


def test_an_embedder_is_not_trained_directly():
    with pytest.raises(NotImplementedError, match="has no training objective"):
        tiny_task(kbert.TextEmbedder).fit(TEXTS, [0, 1, 0, 1])
