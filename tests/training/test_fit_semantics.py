"""What `fit` means off the happy path (kbert/training/loop.py): fit after load_model or after
an earlier fit continues training with a fresh schedule and the optimizer state kept; custom
loops after compile(); pairs never taken for (x, y); every streaming option works or is refused;
resume refuses another run's checkpoint, naming what differs; checkpoints are atomic."""

import os
import shutil
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kbert
from kbert.preprocessing import pipeline
from kbert.training import checkpoint
from kbert.training.checkpoint import read_state
from tests.conftest import Crash, once_per_session, one_layer_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food", "the dog",
         "a very good and lovely film", "so boring", "not good"]
LABELS = ["pos", "neg", "pos", "neg", "neg", "pos", "neg", "neg"]


def classifier():
    return one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])


def weights(model):
    return [w.numpy().copy() for w in model.trainable_weights]


def learning_rate(model):
    return float(model.optimizer.learning_rate)


def changed(before, after):
    return sum(not np.array_equal(a, b) for a, b in zip(before, after))


def test_fit_on_a_loaded_model_trains_on_with_a_fresh_schedule(tmp_path):
    clf = classifier()
    clf.compile(learning_rate=1e-3)
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, seed=1, verbose=0)
    first_steps = int(clf.optimizer.iterations.numpy())
    assert learning_rate(clf) == 0.0  # The first plan decayed to zero at its last step.
    clf.save(tmp_path / "model.keras")

    loaded = kbert.load_model(tmp_path / "model.keras")
    moments = [v.numpy().copy() for v in loaded.optimizer.variables]
    assert int(loaded.optimizer.iterations.numpy()) == first_steps  # The state came back...
    before = weights(loaded)
    history = loaded.fit(TEXTS, LABELS, epochs=3, batch_size=4, seed=2, verbose=0)
    assert changed(before, weights(loaded)) == len(before)  # ...and every weight trains on.
    schedule = loaded.optimizer._learning_rate
    # Planned over this call's 3 x 2 steps, from the optimizer step where it began.
    assert (schedule.start_step, schedule.total_steps) == (first_steps, 6)
    assert int(loaded.optimizer.iterations.numpy()) == first_steps + 6
    assert len(history.history["loss"]) == 3
    assert any(not np.array_equal(a, v.numpy()) for a, v in
               zip(moments[1:], loaded.optimizer.variables[1:]))


def test_lazy_embeddings_train_only_the_looked_up_rows_through_save_load_and_fit(tmp_path):
    def token_table(model):
        return model.backbone.token_embedding.embeddings.numpy().copy()

    clf = classifier()
    clf.compile(learning_rate=1e-3, lazy_embeddings=True)
    start = token_table(clf)
    def looked_up(texts):  # The texts' token ids, and [PAD] (id 0) that shorter rows take.
        return {0} | set(clf.prepare(texts).encoded.token_ids.flat_values.numpy().tolist())

    def moved(model, before):
        return set(np.flatnonzero(np.any(token_table(model) != before, axis=1)).tolist())

    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, seed=1, verbose=0)
    assert moved(clf, start) == looked_up(TEXTS)
    clf.save(tmp_path / "model.keras")

    loaded = kbert.load_model(tmp_path / "model.keras")
    assert loaded.optimizer.lazy_sparse
    before, table = weights(loaded), token_table(loaded)
    loaded.fit(TEXTS[:2], LABELS[:2], epochs=1, batch_size=2, seed=2, verbose=0)
    assert changed(before, weights(loaded)) == len(before)
    # Rows with momentum from the first fit stay put: only this batch's rows move.
    assert moved(loaded, table) == looked_up(TEXTS[:2])


def test_a_first_fit_traces_the_training_step_once():
    # Keras's TensorFlow trainer leaves the optimizer's and metrics' variables to the step's
    # first trace, and TensorFlow traces a step that creates variables a second time: a whole
    # extra trace (forward, backward, every variable's update) in every first fit.
    clf = classifier()
    clf.compile(learning_rate=1e-3)
    traces, step = [], clf.train_step
    clf.train_step = lambda data: traces.append(1) or step(data)
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, seed=1, verbose=0)
    assert len(traces) == 1


def test_fit_twice_plans_each_call_and_keeps_the_moments():
    clf = classifier()
    clf.compile(learning_rate=1e-3)
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, seed=1, verbose=0)
    velocity = [v.numpy().copy() for v in clf.optimizer.variables if "velocity" in v.path]
    assert any(np.any(v) for v in velocity)
    before = weights(clf)
    seen = []

    class RecordRate(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(learning_rate(self.model))

    optimizer = clf.optimizer
    clf.fit(TEXTS, LABELS, epochs=2, batch_size=4, seed=1, verbose=0, callbacks=[RecordRate()])
    assert changed(before, weights(clf)) == len(before)
    # The same optimizer went on: its step count (and so its Adam bias correction) continues.
    assert clf.optimizer is optimizer and int(optimizer.iterations.numpy()) == 2 + 4
    # 4 steps, warmup round(0.1 x 4) = 0 steps: the peak first, then down to zero.
    np.testing.assert_allclose(seen, [1e-3, 7.5e-4, 5e-4, 2.5e-4], rtol=1e-5)


def test_train_on_batch_after_compile_runs_at_the_learning_rate():
    clf = classifier()
    clf.compile(learning_rate=1e-3)
    features = clf.preprocessor([tf.constant(TEXTS[:4])])
    targets = np.array([1, 0, 1, 0])
    clf.train_on_batch(features, targets)
    before = weights(clf)
    clf.train_on_batch(features, targets)  # Not lr 0 after the first step.
    assert learning_rate(clf) == pytest.approx(1e-3)
    assert changed(before, weights(clf)) == len(before)


def test_compile_total_steps_plans_a_custom_loop():
    clf = classifier()
    clf.compile(learning_rate=1e-3, warmup_ratio=0.5, total_steps=4)
    schedule = clf.optimizer._learning_rate
    assert [float(schedule(s)) for s in range(5)] == pytest.approx(
        [0.0, 5e-4, 1e-3, 5e-4, 0.0])


def test_a_tuple_of_two_pairs_is_two_pairs_not_x_and_y():
    clf = one_layer_task(kbert.TextClassifier, labels=["a", "b"])
    pairs = (("a man plays", "someone plays"), ("a dog runs", "a cat sleeps"))
    np.testing.assert_allclose(clf.predict(pairs), clf.predict(list(pairs)), atol=1e-6)
    assert clf.evaluate_metrics(pairs, ["a", "b"])["accuracy"] in (0.0, 0.5, 1.0)
    clf.fit(pairs, ["a", "b"], validation_data=(pairs, ["a", "b"]), epochs=1, verbose=0)
    assert clf.pair_inputs


def test_a_tuple_of_two_sentences_is_two_sentences_for_a_tagger():
    tagger = one_layer_task(kbert.TokenClassifier, labels=["O", "B-PER"])
    sentences = (["jeremy", "lives"], ["the", "dog", "runs"])
    assert [len(tags) for tags in tagger.predict(sentences)] == [2, 3]


def test_in_memory_steps_per_epoch_sets_the_epoch_length_and_continues_the_data():
    clf = classifier()
    history = clf.fit(TEXTS, LABELS, epochs=3, batch_size=4, steps_per_epoch=3, seed=0,
                      group_by_length=False, verbose=0)
    assert len(history.history["loss"]) == 3
    assert int(clf.optimizer.iterations.numpy()) == 9
    assert clf.optimizer._learning_rate.total_steps == 9
    # The batches run through data epochs 0, 1, 2... (2 batches each) whatever the epoch length.
    encoded = clf.prepare(TEXTS, LABELS).encoded
    stream = pipeline.training_batches(clf.preprocessor, encoded, np.arange(8), 4, seed=0,
                                       group_by_length=False, start_step=3, steps=4)
    expected = [pipeline.plan_batches(encoded.lengths, clf.preprocessor.bucket_lengths, 4,
                                      seed=0, epoch=e, group_by_length=False) for e in range(4)]
    expected = [b for plan in expected for b in plan][3:7]
    assert [y.numpy().tolist() for _, y in stream] == [b.tolist() for b in expected]


def test_a_stream_shuffles_through_a_buffer_fixed_by_seed():
    texts = [f"the film {'very ' * i}good" for i in range(12)]
    dataset = tf.data.Dataset.from_tensor_slices((texts, list(range(12))))
    pre = classifier().preprocessor

    def order(seed, buffer):
        batches = pipeline.streaming_batches(pre, dataset, 4, group_by_length=False,
                                             shuffle_buffer=buffer, seed=seed)
        return [int(v) for _, y in batches for v in y.numpy()]

    assert order(None, 0) == list(range(12))
    assert order(3, 100) == order(3, 100) != list(range(12))
    assert sorted(order(3, 100)) == list(range(12))
    assert order(3, 100) != order(4, 100)


def test_streaming_fit_uses_seed_and_shuffle_and_refuses_checkpoints(tmp_path):
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, [1, 0, 1, 0, 0, 1, 0, 0]))

    def trained(**options):
        clf = classifier()
        with warnings.catch_warnings():
            # The stream's end is the epoch's end: nothing to warn of (Keras did, every run).
            warnings.filterwarnings("error", message="Your input ran out of data")
            clf.fit(dataset, epochs=1, batch_size=2, group_by_length=False, verbose=0, **options)
        return weights(clf)

    same = trained(seed=5)
    assert changed(same, trained(seed=5)) == 0
    assert changed(same, trained(seed=6)) > 0  # Another order of the same rows.
    with pytest.raises(ValueError, match="checkpoint_dir needs in-memory training data"):
        classifier().fit(dataset, checkpoint_dir=str(tmp_path / "ckpt"), verbose=0)
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("options, message", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(steps_per_epoch=0), "steps_per_epoch must be a positive integer"),
    (dict(epochs=2, initial_epoch=2), "initial_epoch=2 must be in 0..epochs-1"),
])
def test_impossible_fit_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        classifier().fit(TEXTS, LABELS, verbose=0, **options)


def test_streaming_is_refused_by_tasks_that_cannot_stream():
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, [0] * 8))
    with pytest.raises(ValueError, match="TokenClassifier.fit takes word lists"):
        one_layer_task(kbert.TokenClassifier, labels=["O", "B-PER"]).fit(dataset)
    with pytest.raises(ValueError, match="MaskedLM.fit takes raw texts"):
        one_layer_task(kbert.MaskedLM).fit(dataset)


# ----------------------------------------------------------------------------- resume
def run(directory, *, texts=TEXTS, compile_args=None, crash_at=None, **options):
    clf = classifier()
    clf.compile(**{"learning_rate": 1e-3, **(compile_args or {})})
    callbacks = [Crash(crash_at)] if crash_at else []
    fit_options = {"epochs": 2, "batch_size": 4, "seed": 7, **options}
    clf.fit(texts, LABELS, verbose=0, checkpoint_dir=str(directory), checkpoint_every=1,
            callbacks=callbacks, **fit_options)
    return clf


@pytest.fixture(scope="module")
def crashed_run(tmp_path_factory):
    """The checkpoint of a run killed at step 3 (its last checkpoint: step 2), made once for the
    session (the tests below copy it)."""
    def compute(directory):
        with pytest.raises(KeyboardInterrupt):
            run(directory, crash_at=3)
        return None

    return once_per_session(tmp_path_factory, "fit_semantics-crashed", compute)[0]


@pytest.mark.parametrize("change, named", [
    (dict(texts=TEXTS[::-1]), "the training data"),       # same count, other data
    (dict(seed=8), "seed 7 there, 8 here"),
    (dict(batch_size=2), "batch size 4 there, 2 here"),
    (dict(epochs=3), "epochs 2 there, 3 here"),
    (dict(compile_args={"learning_rate": 3e-4}), "optimizer learning_rate"),
    (dict(compile_args={"warmup_ratio": 0.3}), "optimizer learning_rate"),
    (dict(compile_args={"layer_decay": 0.5}), "class AdamW there, LayerwiseAdamW here"),
    (dict(compile_args={"weight_decay": 0.1}), "weight_decay 0.01 there, 0.1 here"),
    (dict(compile_args={"lazy_embeddings": True}), "lazy_sparse False there, True here"),
])
def test_resuming_another_run_is_refused_naming_what_differs(crashed_run, tmp_path, change,
                                                            named):
    shutil.copytree(crashed_run, tmp_path, dirs_exist_ok=True)
    with pytest.raises(kbert.CheckpointMismatch, match="is from another run") as refused:
        run(tmp_path, **change)
    assert named in str(refused.value)
    assert read_state(tmp_path)["step"] == 2  # The checkpoint is left as it was.


def test_a_loaded_model_resumes_its_own_continued_run(tmp_path):
    """A second run on a loaded model (optimizer at step S) checkpoints and resumes from S on."""
    clf = classifier()
    clf.compile(learning_rate=1e-3)
    clf.fit(TEXTS, LABELS, epochs=1, batch_size=4, seed=1, verbose=0)
    clf.save(tmp_path / "model.keras")

    def continued(crash_at=None):
        keras.utils.set_random_seed(0)  # The same dropout draws in each of the three runs.
        model = kbert.load_model(tmp_path / "model.keras")
        callbacks = [Crash(crash_at)] if crash_at else []
        model.fit(TEXTS, LABELS, epochs=2, batch_size=4, seed=2, verbose=0,
                  checkpoint_dir=str(tmp_path / "ckpt"), checkpoint_every=1,
                  callbacks=callbacks)
        return model

    reference = weights(continued())
    shutil.rmtree(tmp_path / "ckpt")
    with pytest.raises(KeyboardInterrupt):
        continued(crash_at=2 + 3)  # 2 steps before, 3 into this run (its checkpoint: 2).
    assert read_state(tmp_path / "ckpt")["step"] == 2
    resumed = continued()
    assert changed(reference, weights(resumed)) == 0


def test_a_crash_while_saving_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, crash_at=2)
    real_write = checkpoint.write_json

    def dies_before_the_pointer(path, data):
        if os.path.basename(path) == checkpoint.POINTER:
            raise KeyboardInterrupt("killed while saving")
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "write_json", dies_before_the_pointer)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path)  # Resumes at step 1 (saved before the crash at 2), dies committing 2.
    monkeypatch.undo()
    assert read_state(tmp_path)["step"] == 1  # Still the last complete checkpoint...
    # ...and a folder a killed writer left half written is gone once the next run starts.
    (tmp_path / ".partial-999999999").mkdir()
    resumed = run(tmp_path)
    assert int(resumed.optimizer.iterations.numpy()) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "step-000000004"]


def test_atomic_writes_clean_up_after_a_killed_writer(tmp_path):
    from kbert.files import atomic_directory, atomic_path

    dead = 999999999  # No such process.
    (tmp_path / f".model.partial-{dead}.keras").write_text("half")
    with atomic_path(tmp_path / "model.keras") as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]
    # Killed between atomic_directory's two renames: the previous directory comes back.
    (tmp_path / f".sm.old-{dead}").mkdir()
    (tmp_path / f".sm.old-{dead}" / "saved_model.pb").write_text("previous")
    (tmp_path / f".sm.partial-{dead}").mkdir()
    with atomic_directory(tmp_path / "sm") as tmp:
        assert (tmp_path / "sm" / "saved_model.pb").read_text() == "previous"
        tmp.mkdir()
        (tmp / "saved_model.pb").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "sm"]
    assert (tmp_path / "sm" / "saved_model.pb").read_text() == "new"
