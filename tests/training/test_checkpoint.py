"""Exact resume (kbert/training/checkpoint.py + the batch plan) and the NaN stop."""

import shutil
import warnings

import keras
import numpy as np
import pytest

import kbert
from kbert.preprocessing import pipeline
from kbert.training.checkpoint import TrainingDiverged, read_state
from kbert.preprocessing import TextPreprocessor
from tests.conftest import Crash, once_per_session, one_layer_task, tiny_backbone, tiny_tokenizer

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food", "the dog",
         "a very very good and lovely film with the man", "so boring", "not good"] * 3
LABELS = ["pos", "neg", "pos", "neg", "neg", "pos", "neg", "neg"] * 3


def test_the_batch_plan_is_fixed_by_seed_and_epoch_and_covers_each_example_once():
    lengths = np.array([5, 30, 6, 31, 7, 8, 40, 3, 12])
    plan = pipeline.plan_batches(lengths, [16, 32, 64], 2, seed=3, epoch=1)
    assert [b.tolist() for b in plan] == [
        b.tolist() for b in pipeline.plan_batches(lengths, [16, 32, 64], 2, seed=3, epoch=1)]
    assert sorted(np.concatenate(plan).tolist()) == list(range(9))
    assert all(len(set(np.searchsorted([16, 32, 64], lengths[b]))) == 1 for b in plan)
    other = pipeline.plan_batches(lengths, [16, 32, 64], 2, seed=3, epoch=2)
    assert [b.tolist() for b in plan] != [b.tolist() for b in other]


def train(checkpoint_dir, crash_at=None):
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    clf.compile(learning_rate=1e-3)
    callbacks = [Crash(crash_at)] if crash_at else []
    history = clf.fit(TEXTS, LABELS, epochs=3, batch_size=4, seed=7, verbose=0,
                      checkpoint_dir=str(checkpoint_dir), checkpoint_every=2, callbacks=callbacks)
    return clf, history


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted run, trained once for the session: its step count, weights, epoch
    losses and the checkpoint directory it left."""
    def compute(directory):
        clf, history = train(directory / "checkpoint")
        np.savez(directory / "weights.npz", *[w.numpy() for w in clf.weights])
        return dict(iterations=int(clf.optimizer.iterations.numpy()),
                    loss=history.history["loss"])

    directory, result = once_per_session(tmp_path_factory, "checkpoint-uninterrupted", compute)
    with np.load(directory / "weights.npz") as saved:
        weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    return dict(result, weights=weights, checkpoint_dir=directory / "checkpoint")


@pytest.mark.parametrize("crash_at", [5, 6, 8])  # mid-epoch; at a checkpoint step; epoch 2
def test_a_run_resumed_after_a_crash_ends_exactly_like_an_uninterrupted_one(tmp_path, crash_at,
                                                                            uninterrupted):
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "crashed", crash_at=crash_at)
    # The last checkpoint before the crash (a crash at step 6 comes before its checkpoint).
    assert read_state(tmp_path / "crashed")["step"] == (crash_at - 1) // 2 * 2
    resumed, history = train(tmp_path / "crashed")  # same call again: resumes
    assert int(resumed.optimizer.iterations.numpy()) == uninterrupted["iterations"]
    assert len(resumed.weights) == len(uninterrupted["weights"])
    for a, b in zip(resumed.weights, uninterrupted["weights"]):  # same batches, dropout, steps
        np.testing.assert_array_equal(a.numpy(), b)
    # Every epoch reported, before and after the crash, with the uninterrupted run's averages
    # (an epoch resumed in the middle continues its running totals).
    np.testing.assert_allclose(history.history["loss"], uninterrupted["loss"], rtol=1e-5)


def test_a_checkpoint_from_another_run_is_refused(tmp_path, uninterrupted):
    # A copy of the shared run's checkpoint, so that nothing here can change the original.
    shutil.copytree(uninterrupted["checkpoint_dir"], tmp_path / "run")
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    with pytest.raises(ValueError, match="from another run"):
        clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, seed=7, verbose=0,
                checkpoint_dir=str(tmp_path / "run"))


class Poison(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == 3:
            kernel = self.model.get_layer("logits").kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 4 \(epoch 1, batch 4\); "
                                               r"the last good checkpoint \(step 2\)"):
        clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, seed=7, verbose=0,
                checkpoint_dir=str(tmp_path), checkpoint_every=2, callbacks=[Poison()])
    assert read_state(tmp_path)["step"] == 2


def other_encoder_classifier():
    """The same architecture and head on an encoder with other weights (another preset)."""
    keras.utils.set_random_seed(1)
    return kbert.TextClassifier(tiny_backbone(num_layers=1),
                                TextPreprocessor(tiny_tokenizer(), 32), labels=["neg", "pos"])


@pytest.mark.parametrize("make, named", [
    (lambda: one_layer_task(kbert.TextClassifier, labels=["neg", "pos"], pooling="cls"),
     "model pooling mean there, cls here"),
    (lambda: one_layer_task(kbert.TextClassifier, labels=["neg", "pos"]).set_finetuning("frozen"),
     "model finetuning full there, frozen here"),
    (lambda: one_layer_task(kbert.TextClassifier, labels=["neg", "pos"], dropout=0.3),
     "model dropout 0.1 there, 0.3 here"),
    (lambda: one_layer_task(kbert.TextClassifier, labels=["neg", "pos"], multi_label=True),
     "model multi_label False there, True here"),
    (other_encoder_classifier, "the starting encoder weights"),
])
def test_resuming_with_another_model_is_refused_naming_the_difference(tmp_path, uninterrupted,
                                                                     make, named):
    """Issue 33: the run identity covered the data and the recipe but not the model."""
    shutil.copytree(uninterrupted["checkpoint_dir"], tmp_path / "run")
    clf = make()
    clf.compile(learning_rate=1e-3)
    with pytest.raises(kbert.CheckpointMismatch, match="is from another run") as refused:
        clf.fit(TEXTS, LABELS, epochs=3, batch_size=4, seed=7, verbose=0,
                checkpoint_dir=str(tmp_path / "run"))
    message = str(refused.value)
    assert named in message and "\n" not in message
    assert message.count(" there, ") == 1  # Only that differs.


def test_resume_warns_of_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, crash_at=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(tmp_path)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]


def test_a_decoding_setting_may_change_on_resume(tmp_path, uninterrupted):
    """A classifier's threshold is read only when decoding (`decoding_settings`): the resumed
    run trains exactly as the uninterrupted one, so it is not refused."""
    shutil.copytree(uninterrupted["checkpoint_dir"], tmp_path / "run")
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"], threshold=0.7)
    clf.compile(learning_rate=1e-3)
    clf.fit(TEXTS, LABELS, epochs=3, batch_size=4, seed=7, verbose=0,
            checkpoint_dir=str(tmp_path / "run"))
    assert int(clf.optimizer.iterations.numpy()) == int(uninterrupted["iterations"])
