"""Every task head starts from N(0, 0.02), as transformers' BERT heads do: issue 22 measured a
truncated-normal start ~4 entity F1 behind on CoNLL-2003, in Keras and in PyTorch alike."""

import keras
import pytest

import kbert
from kbert.tasks import heads
from tests.conftest import tiny_task

HEADS = [(kbert.TextClassifier, {"labels": ["neg", "pos"]}, "logits"),
         (kbert.TextRegressor, {}, "score"),
         (kbert.TokenClassifier, {"labels": ["O", "B-PER", "I-PER"]}, "logits"),
         (kbert.QuestionAnswerer, {}, "span_logits")]


@pytest.mark.parametrize("cls, kwargs, layer", HEADS, ids=lambda v: getattr(v, "__name__", ""))
def test_heads_start_from_an_untruncated_normal(cls, kwargs, layer):
    initializer = tiny_task(cls, **kwargs).get_layer(layer).kernel_initializer
    assert type(initializer) is keras.initializers.RandomNormal
    assert initializer.stddev == 0.02 and initializer.mean == 0.0


def test_the_truncated_start_stays_available_for_ablations():
    try:
        heads.set_head_initializer("truncated_normal")
        model = tiny_task(kbert.TokenClassifier, labels=["O", "B-PER", "I-PER"])
        assert type(model.get_layer("logits").kernel_initializer) is \
            keras.initializers.TruncatedNormal
    finally:
        heads.set_head_initializer("normal")
    with pytest.raises(ValueError, match="head initializer must be"):
        heads.set_head_initializer("glorot")
