"""Fine-tuning modes every task has (Task.set_finetuning) and layer-wise learning-rate decay."""

import numpy as np
import pytest

import kbert
from kbert.training.optimizer import LayerwiseAdamW, layer_decay_multipliers
from tests.conftest import tiny_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"] * 2
LABELS = ["pos", "neg", "pos", "neg"] * 2


def snapshot(layer):
    return [w.numpy().copy() for w in layer.weights]


def changed(before, layer):
    return any(not np.array_equal(a, w.numpy()) for a, w in zip(before, layer.weights))


def test_frozen_encoder_stays_bit_identical_and_only_the_head_trains():
    clf = tiny_task(kbert.TextClassifier, labels=["neg", "pos"]).set_finetuning("frozen")
    assert {v.path.split("/")[0] for v in clf.trainable_variables} == {"logits"}
    before, head = snapshot(clf.backbone), snapshot(clf.get_layer("logits"))
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, clf.backbone.weights))
    assert changed(head, clf.get_layer("logits"))


def test_top_k_layers_train_and_the_rest_stays_frozen():
    clf = tiny_task(kbert.TextClassifier, labels=["neg", "pos"]).set_finetuning(1)
    top, bottom = clf.backbone.transformer_layers[1], clf.backbone.transformer_layers[0]
    embeddings = clf.backbone.get_layer("token_embedding")
    saved = {layer.name: snapshot(layer) for layer in (top, bottom, embeddings)}
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)
    assert changed(saved[top.name], top)
    assert not changed(saved[bottom.name], bottom) and not changed(saved[embeddings.name], embeddings)
    clf.set_finetuning("full")
    assert len(clf.trainable_variables) > len(clf.backbone.transformer_layers[1].weights) + 2


def test_layer_decay_gives_lower_layers_smaller_steps():
    multipliers = layer_decay_multipliers(tiny_task(kbert.TextClassifier, num_classes=2).backbone,
                                          0.5)
    assert multipliers["transformer_layer_1/"] == 0.5
    assert multipliers["transformer_layer_0/"] == 0.25 and multipliers["token_embedding"] == 0.125

    def step_sizes(decay):
        clf = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
        clf.compile(learning_rate=1e-2, warmup_ratio=0.0, layer_decay=decay)
        layers = clf.backbone.transformer_layers
        before = [snapshot(layer) for layer in layers]
        clf.fit(TEXTS, LABELS, epochs=1, batch_size=8, shuffle=False, verbose=0)
        return [max(np.abs(a - w.numpy()).max() for a, w in zip(b, layer.weights))
                for b, layer in zip(before, layers)]

    flat, decayed = step_sizes(None), step_sizes(0.1)
    assert decayed[1] < flat[1] and decayed[0] < decayed[1] / 3


def test_layerwise_optimizer_round_trips(tmp_path):
    clf = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
    clf.compile(layer_decay=0.8)
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)
    assert isinstance(clf.optimizer, LayerwiseAdamW)
    clf.save(tmp_path / "m.keras")
    loaded = kbert.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.lr_multipliers == clf.optimizer.lr_multipliers


def test_bad_modes_are_refused():
    clf = tiny_task(kbert.TextClassifier, num_classes=2)
    for mode in ("top", 3, -1, True):
        with pytest.raises(ValueError, match="finetuning mode"):
            clf.set_finetuning(mode)
    with pytest.raises(ValueError, match="layer_decay"):
        clf.compile(layer_decay=1.5)
