import numpy as np

import kbert
from tests.conftest import one_layer_task

TEXTS = ["the film was great and i loved it", "a dull book , really boring",
         "the man plays with the dog", "the cat sleeps in paris"] * 8


def test_new_head_is_tied_to_the_word_embeddings():
    mlm = one_layer_task(kbert.MaskedLM)
    assert mlm.mask_head.token_embedding is mlm.backbone.token_embedding
    embedding = mlm.backbone.token_embedding.embeddings
    # The head adds a dense layer, a LayerNorm and an output bias, but no [hidden, vocab] kernel.
    head_shapes = [tuple(w.shape) for w in mlm.mask_head.weights]
    assert (32, len(embedding.numpy())) not in head_shapes
    assert sum(w is embedding for w in mlm.weights) == 1


def test_adaptation_lowers_heldout_loss_and_the_encoder_loads_into_a_task(tmp_path):
    mlm = one_layer_task(kbert.MaskedLM)
    before = mlm.heldout_loss(TEXTS[:4])
    assert mlm.heldout_loss(TEXTS[:4]) == before  # same masks every call
    mlm.compile(learning_rate=5e-3, warmup_ratio=0.0)
    mlm.fit(TEXTS, epochs=10, batch_size=8, verbose=0)
    after = mlm.heldout_loss(TEXTS[:4])
    assert after["loss"] < before["loss"]
    encoder = mlm.save_encoder(tmp_path / "encoder")
    clf = kbert.TextClassifier.from_preset(encoder, num_classes=2, sequence_length=32)
    np.testing.assert_array_equal(clf.backbone.token_embedding.embeddings.numpy(),
                                  mlm.backbone.token_embedding.embeddings.numpy())


def test_round_trip_and_whole_word_option(tmp_path):
    mlm = one_layer_task(kbert.MaskedLM, whole_word_masking=True)
    mlm.save(tmp_path / "mlm.keras")
    loaded = kbert.load_model(tmp_path / "mlm.keras")
    assert loaded.whole_word_masking and loaded.heldout_loss(TEXTS[:4]) == mlm.heldout_loss(TEXTS[:4])
