"""A model is its config (issue 33): the fine-tuning mode round-trips through `save` ->
`kbert.load_model` (the same trainable variables, the optimizer state restored, `fit` continues
exactly), BERT's pooler trains iff the head reads it, and a masked LM's `save_encoder` writes
an encoder every task's `from_preset` loads, whatever the mode it was adapted in."""

import warnings

import numpy as np
import pytest

import kbert
from kbert.tasks import lora
from kbert.training.checkpoint import _random_states
from tests.conftest import tiny_task
from tests.tasks.test_every_task_trains import CASES

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"] * 2
LABELS = ["pos", "neg", "pos", "neg"] * 2
MODES = ["full", "frozen", 1, "lora"]


def trainable_paths(model):
    return [v.path for v in model.trainable_variables]


def values(variables):
    return [v.numpy().copy() for v in variables]


# Top-k with a pooled head: the pooler trains too. "full" is tests/tasks/test_every_task_trains.py.
@pytest.mark.parametrize("mode, pooling", [("frozen", "mean"), (1, "mean"), (1, "pooled"),
                                           ("lora", "pooled")])
def test_save_load_keeps_the_mode_and_fit_continues_exactly(tmp_path, mode, pooling):
    clf = tiny_task(kbert.TextClassifier, labels=["neg", "pos"], pooling=pooling)
    clf.set_finetuning(mode)
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, seed=1, verbose=0)
    clf.save(tmp_path / "m.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = kbert.load_model(tmp_path / "m.keras")
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert loaded.finetuning == clf.finetuning and loaded.get_config() == clf.get_config()
    assert trainable_paths(loaded) == trainable_paths(clf)
    assert int(loaded.optimizer.iterations.numpy()) == int(clf.optimizer.iterations.numpy()) == 2
    for ours, theirs in zip(clf.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    # Dropout's random generator states are not part of a saved model: the same draws on both.
    for ours, theirs in zip(_random_states(clf), _random_states(loaded)):
        theirs.assign(ours.numpy())
    frozen = [v for v in loaded.weights if v.path not in set(trainable_paths(loaded))]
    before = values(frozen)
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, seed=2, verbose=0)  # uninterrupted
    loaded.fit(TEXTS, LABELS, epochs=1, batch_size=4, seed=2, verbose=0)
    for ours, theirs in zip(clf.weights, loaded.weights):
        # Within float rounding (the embedding's scattered gradient sums in varying order); a
        # reset optimizer or another trainable set moves weights by a step, 1e-6 and more.
        np.testing.assert_allclose(theirs.numpy(), ours.numpy(), rtol=0, atol=1e-8,
                                   err_msg=theirs.path)
    for old, v in zip(before, frozen):  # What the mode freezes stayed frozen after loading.
        np.testing.assert_array_equal(old, v.numpy(), err_msg=v.path)


# Every task, and the heads that read BERT's pooler.
MAKERS = {**{name: case.make for name, case in CASES.items()},
          "classifier_pooled": lambda: tiny_task(kbert.TextClassifier, num_classes=2,
                                                 pooling="pooled"),
          "regressor_pooled": lambda: tiny_task(kbert.TextRegressor, pooling="pooled"),
          "embedder_pooler": lambda: tiny_task(kbert.TextEmbedder, pooling="pooler")}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(MAKERS))
def test_the_pooler_trains_iff_the_head_reads_it(name, mode):
    model = MAKERS[name]()
    reads = name.endswith(("_pooled", "_pooler"))
    model.set_finetuning(mode)
    assert model.backbone.get_layer("pooled_dense").trainable == (reads and mode != "frozen")


def test_what_the_head_reads_is_found_in_the_graph():
    from kbert.tasks import finetuning  # Added by issue 33 (here, so the rest runs without).

    for name, make in MAKERS.items():
        assert finetuning.reads_pooler(make()) == name.endswith(("_pooled", "_pooler")), name


@pytest.mark.parametrize("mode", MODES)
def test_a_masked_lm_encoder_loads_into_every_task_whatever_its_mode(tmp_path, mode):
    mlm = tiny_task(kbert.MaskedLM).set_finetuning(mode)
    for layer in lora.adapted_layers(mlm.backbone):  # As if trained: adapters that matter.
        layer.lora_kernel_b.assign(np.random.default_rng(0).normal(
            0, 0.1, layer.lora_kernel_b.shape).astype("float32"))
    expected = values(mlm.merged().backbone.weights)
    encoder = mlm.save_encoder(tmp_path / "encoder")
    for cls, kwargs in [(kbert.TextClassifier, dict(num_classes=2)), (kbert.TextRegressor, {}),
                        (kbert.TokenClassifier, dict(labels=["O", "B-PER"])),
                        (kbert.QuestionAnswerer, dict(sequence_length=32)),
                        (kbert.TextEmbedder, {}), (kbert.MaskedLM, {})]:
        model = cls.from_preset(encoder, **{"sequence_length": 32, **kwargs})
        assert model.lora is None and model.finetuning == "full"
        assert len(model.backbone.weights) == len(expected)
        for value, v in zip(expected, model.backbone.weights):
            np.testing.assert_array_equal(value, v.numpy(), err_msg=f"{cls.__name__} {v.path}")
        # A fresh model on the encoder: every encoder layer trains, whatever the MLM's mode.
        assert all(layer.trainable for layer in model.backbone.transformer_layers)


def test_a_loaded_model_from_before_modes_were_recorded_keeps_its_frozen_encoder():
    clf = tiny_task(kbert.TextClassifier, num_classes=2).set_finetuning("frozen")
    config = {k: v for k, v in clf.get_config().items() if k != "finetuning"}
    config["backbone"]["config"]["trainable"] = False
    old = kbert.TextClassifier.from_config(config)
    assert old.finetuning == "frozen" and trainable_paths(old) == trainable_paths(clf)


def test_load_model_names_a_path_without_a_model_and_reads_a_programs_folder(tmp_path):
    """Every program loads through kbert.load_model: a wrong --model_dir, --teacher or
    --students is one `error:` line naming the path (KbertInputError), not Keras's traceback."""
    with pytest.raises(kbert.KbertInputError, match=r"nowhere\.keras: no saved model here"):
        kbert.load_model(tmp_path / "nowhere.keras")
    with pytest.raises(kbert.KbertInputError, match="no saved model here"):
        kbert.load_model(tmp_path)  # A folder without model.keras.
    clf = tiny_task(kbert.TextClassifier, labels=["neg", "pos"])
    clf.save(tmp_path / "model.keras")
    loaded = kbert.load_model(tmp_path)  # What the programs write: <model_dir>/model.keras.
    assert type(loaded) is kbert.TextClassifier and loaded.get_config() == clf.get_config()
