"""LoRA fine-tuning (Task.set_finetuning("lora"), kbert/tasks/lora.py) on the tiny backbone:
what trains, save/load, the adapter file, a wrong base refused, resume from a checkpoint."""

import keras
import numpy as np
import pytest

import kbert
from kbert.tasks import lora
from kbert.tasks.lora import AdapterError
from tests.conftest import Crash, one_layer_task, tiny_backbone, tiny_tokenizer
from tests.tasks.test_every_task_trains import CASES

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"] * 2
LABELS = ["pos", "neg", "pos", "neg"] * 2
TRAINED = [name for name, case in CASES.items() if case.trains]


def adapter_ids(model):
    return {id(v) for layer in lora.adapted_layers(model.backbone)
            for v in (layer.lora_kernel_a, layer.lora_kernel_b)}


@pytest.mark.parametrize("name", TRAINED)
def test_every_task_trains_with_lora_and_only_adapters_and_head_change(name):
    case = CASES[name]
    model = case.make().set_finetuning("lora", rank=4)
    adapters = adapter_ids(model)
    # Query and value of every layer, A and B each.
    assert len(adapters) == 2 * 2 * model.backbone.num_layers > 0
    head = {id(v) for v in model.weights} - {id(v) for v in model.backbone.weights}
    assert {id(v) for v in model.trainable_variables} <= adapters | head
    before = {id(v): v.numpy().copy() for v in model.weights}
    model.fit(case.x, case.y, epochs=2, batch_size=4, verbose=0)
    changed = {id(v) for v in model.weights if not np.array_equal(before[id(v)], v.numpy())}
    assert changed <= adapters | head  # the base encoder is bit-identical
    assert changed & adapters and changed & head


def test_compile_picks_the_lora_learning_rate():
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"]).set_finetuning("lora")
    clf.compile()
    assert clf.optimizer._learning_rate.peak == lora.LEARNING_RATE
    full = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    full.compile()
    assert full.optimizer._learning_rate.peak == 5e-5


def test_rank_and_targets_are_configurable_and_checked():
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    clf.set_finetuning("lora", rank=2, targets=["query", "key", "feedforward_output_dense"])
    assert sorted(layer.name for layer in lora.adapted_layers(clf.backbone)) == sorted(
        ["query", "key", "feedforward_output_dense"] * clf.backbone.num_layers)
    assert clf.get_layer("logits").trainable
    for bad in (dict(rank=0), dict(targets=["querry"]), dict(targets=[])):
        with pytest.raises(ValueError, match="LoRA"):
            one_layer_task(kbert.TextClassifier, num_classes=2).set_finetuning("lora", **bad)
    with pytest.raises(ValueError, match="LoRA settings"):
        one_layer_task(kbert.TextClassifier, num_classes=2).set_finetuning("full", rank=4)
    with pytest.raises(ValueError, match="cannot be removed or changed"):
        clf.set_finetuning("full")
    assert clf.set_finetuning("lora", rank=2, targets=["query", "key",
                                                       "feedforward_output_dense"]) is clf


def test_save_and_load_model_keep_the_adapter_and_predictions(tmp_path):
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"]).set_finetuning("lora", rank=4)
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    clf.save(tmp_path / "m.keras")
    loaded = kbert.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(TEXTS), clf.predict(TEXTS))
    assert loaded.lora == clf.lora
    # The adapter itself came back (Keras alone would have merged it and zeroed A and B).
    for ours, theirs in zip(lora.adapted_layers(clf.backbone),
                            lora.adapted_layers(loaded.backbone)):
        np.testing.assert_array_equal(ours.lora_kernel_b.numpy(), theirs.lora_kernel_b.numpy())
        np.testing.assert_array_equal(ours._kernel.numpy(), theirs._kernel.numpy())
    assert [v.path for v in loaded.trainable_variables] == [v.path for v in clf.trainable_variables]
    b = [layer.lora_kernel_b.numpy().copy() for layer in lora.adapted_layers(loaded.backbone)]
    loaded.fit(TEXTS, LABELS, epochs=1, batch_size=4, verbose=0)  # and it trains on
    assert any(not np.array_equal(x, layer.lora_kernel_b.numpy())
               for x, layer in zip(b, lora.adapted_layers(loaded.backbone)))


def test_merged_copy_predicts_the_same_with_plain_layers():
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"],
                    pooling="pooled").set_finetuning("lora", rank=4)
    assert clf.backbone.get_layer("pooled_dense").trainable  # a head that reads the pooler
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    plain = clf.merged()
    assert plain.lora is None and not lora.adapted_layers(plain.backbone)
    reference = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"], pooling="pooled")
    assert [v.shape for v in plain.weights] == [v.shape for v in reference.weights]
    np.testing.assert_allclose(plain.predict(TEXTS), clf.predict(TEXTS), atol=1e-6)
    assert one_layer_task(kbert.TextClassifier, num_classes=2).merged().lora is None


def lora_classifier(preset, **kwargs):
    clf = kbert.TextClassifier.from_preset(preset, labels=["neg", "pos"], sequence_length=32,
                                           **kwargs).set_finetuning("lora", rank=4)
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    return clf


def test_save_adapter_then_base_preset_plus_adapter_predicts_identically(one_layer_preset, tmp_path):
    clf = lora_classifier(one_layer_preset, pooling="pooled")
    path = clf.save_adapter(tmp_path / "sst2.lora.h5")
    clf.save(tmp_path / "m.keras")
    rebuilt = kbert.TextClassifier.from_preset(one_layer_preset, adapter=path)
    np.testing.assert_array_equal(rebuilt.predict(TEXTS), clf.predict(TEXTS))
    assert rebuilt.labels == ["neg", "pos"] and rebuilt.lora == clf.lora
    assert rebuilt.preprocessor.sequence_length == 32
    # Task.from_preset takes the task class from the file.
    again = kbert.Task.from_preset(one_layer_preset, adapter=path)
    assert type(again) is kbert.TextClassifier
    np.testing.assert_array_equal(again.predict(TEXTS), clf.predict(TEXTS))
    # Only adapters and head: a small part of the whole model's file, even on this tiny encoder.
    whole = (tmp_path / "m.keras").stat().st_size
    assert (tmp_path / "sst2.lora.h5").stat().st_size < whole / 3
    # KerasHub's own reader takes the same file.
    base = kbert.TextClassifier.from_preset(one_layer_preset, labels=["neg", "pos"],
                                            sequence_length=32)
    base.backbone.enable_lora(4)
    base.backbone.load_lora_weights(path)


def test_an_adapter_of_another_base_or_task_is_refused(one_layer_preset, tmp_path):
    path = lora_classifier(one_layer_preset).save_adapter(tmp_path / "a.lora.h5")
    keras.utils.set_random_seed(1)  # The same architecture with other weights.
    other = tmp_path / "other_preset"
    tiny_backbone(num_layers=1).save_to_preset(str(other))
    tiny_tokenizer().save_to_preset(str(other))
    with pytest.raises(AdapterError, match="trained on another base encoder"):
        kbert.TextClassifier.from_preset(str(other), adapter=path)
    with pytest.raises(AdapterError, match="adapter of a TextClassifier"):
        kbert.TokenClassifier.from_preset(one_layer_preset, adapter=path)
    with pytest.raises(ValueError, match="needs a LoRA model"):
        one_layer_task(kbert.TextClassifier, num_classes=2).save_adapter(tmp_path / "b.lora.h5")
    with pytest.raises(ValueError, match=r"ends in '\.lora\.h5'"):
        kbert.TextClassifier.from_preset(one_layer_preset, adapter=path).save_adapter(
            tmp_path / "b.h5")
    (tmp_path / "junk.lora.h5").write_bytes(b"not h5")
    with pytest.raises(AdapterError, match="not an adapter file"):
        kbert.TextClassifier.from_preset(one_layer_preset, adapter=tmp_path / "junk.lora.h5")


def test_a_lora_model_as_preset_gives_its_merged_encoder(tmp_path):
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"]).set_finetuning("lora", rank=4)
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    clf.save(tmp_path / "m.keras")
    again = kbert.TextClassifier.from_preset(str(tmp_path / "m.keras"), labels=["neg", "pos"],
                                             sequence_length=32)
    assert again.lora is None
    np.testing.assert_allclose(again.predict(TEXTS), clf.predict(TEXTS), atol=1e-6)


def train(checkpoint_dir, crash_at=None):
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"]).set_finetuning("lora", rank=4)
    callbacks = [Crash(crash_at)] if crash_at else []
    clf.fit(TEXTS * 2, LABELS * 2, epochs=2, batch_size=4, seed=7, verbose=0,
            checkpoint_dir=str(checkpoint_dir), checkpoint_every=2, callbacks=callbacks)
    return clf


def test_a_lora_run_resumed_after_a_crash_ends_exactly_like_an_uninterrupted_one(tmp_path):
    reference = train(tmp_path / "uninterrupted")
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "crashed", crash_at=5)
    resumed = train(tmp_path / "crashed")
    for a, b in zip(resumed.weights, reference.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A full fine-tuning run cannot resume from it.
    full = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    with pytest.raises(kbert.CheckpointMismatch, match="LoRA"):
        full.fit(TEXTS * 2, LABELS * 2, epochs=2, batch_size=4, seed=7, verbose=0,
                 checkpoint_dir=str(tmp_path / "crashed"))


def test_a_qa_adapter_rebuilds_with_the_windows_it_records(one_layer_preset, tmp_path):
    """Issue 33: QuestionAnswerer's own default length (384) won over the adapter's."""
    from tests.tasks.test_every_task_trains import QUESTIONS

    qa = kbert.QuestionAnswerer.from_preset(one_layer_preset, sequence_length=24, doc_stride=8,
                                            max_query_length=8, n_best=5,
                                            bucket_lengths=[12, 24])
    qa.set_finetuning("lora", rank=4).fit(QUESTIONS, epochs=1, batch_size=4, verbose=0)
    path = qa.save_adapter(tmp_path / "qa.lora.h5")
    rebuilt = kbert.QuestionAnswerer.from_preset(one_layer_preset, adapter=path)
    assert rebuilt.preprocessor.sequence_length == 24
    assert rebuilt.preprocessor.bucket_lengths == [12, 24]
    assert (rebuilt.doc_stride, rebuilt.max_query_length, rebuilt.n_best) == (8, 8, 5)
    questions = [q["question"] for q in QUESTIONS]
    contexts = [q["context"] for q in QUESTIONS]
    assert rebuilt.answer(questions, contexts) == qa.answer(questions, contexts)
    # A value given explicitly wins over the file's.
    other = kbert.QuestionAnswerer.from_preset(one_layer_preset, adapter=path, sequence_length=32,
                                               doc_stride=4)
    assert other.preprocessor.sequence_length == 32 and other.doc_stride == 4
