import numpy as np
import tensorflow as tf

from kbert.preprocessing import TextPreprocessor, default_bucket_lengths, encode
from kbert.preprocessing import pipeline
from tests.conftest import VOCAB, tiny_tokenizer


def ids(*words):
    return [VOCAB.index(w) for w in words]


def test_bucket_lengths_are_powers_of_two_ending_at_sequence_length():
    assert default_bucket_lengths(128) == [16, 32, 64, 128]
    assert default_bucket_lengths(100) == [16, 32, 64, 100]
    assert default_bucket_lengths(16) == [16]


def test_single_text_is_packed_with_cls_and_sep_and_padded_to_its_bucket():
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=32)
    features = pre([tf.constant(["The film was great!", "dull"])])
    assert features["token_ids"].shape == (2, 16)
    first = features["token_ids"][0].numpy().tolist()
    assert first[:7] == ids("[CLS]", "the", "film", "was", "great", "!", "[SEP]")
    assert first[7:] == [0] * 9
    assert features["padding_mask"].numpy().sum(1).tolist() == [7, 3]
    assert features["segment_ids"].numpy().max() == 0


def test_pair_gets_segment_ids_and_round_robin_truncation_keeps_the_short_text():
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=10)
    long_text = "the dog runs and the cat sleeps and the man eats"
    features = pre([tf.constant([long_text]), tf.constant(["a dog"])])
    row = features["token_ids"][0].numpy().tolist()
    # Budget 10 - 3 special tokens = 7: the short segment keeps both tokens, the long one 5.
    assert row == ids("[CLS]", "the", "dog", "runs", "and", "the", "[SEP]", "a", "dog", "[SEP]")
    assert features["segment_ids"][0].numpy().tolist() == [0] * 7 + [1] * 3


def test_encode_counts_truncated_examples_and_keeps_unpadded_lengths():
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=8)
    encoded = encode(pre, [["the film", "the film was great and lovely and fine"]])
    assert encoded.lengths.tolist() == [4, 8]
    assert encoded.truncated == 1


def test_unknown_words_become_unk_and_are_lowercased():
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=16)
    row = pre([tf.constant(["ZEBRA Film"])])["token_ids"][0].numpy().tolist()
    assert row[:4] == ids("[CLS]", "[UNK]", "film", "[SEP]")


def test_training_batches_group_by_length_and_pad_to_buckets():
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=64)
    short = ["a dog"] * 20
    long = [" ".join(["the good film"] * 8)] * 20   # 24 words -> bucket 32
    encoded = encode(pre, [short + long])
    targets = np.array([0] * 20 + [1] * 20, np.int32)
    batches = pipeline.training_batches(pre, encoded, targets, batch_size=8, seed=0)
    assert int(batches.cardinality()) == 6  # ceil(20/8) per bucket, two buckets
    assert pipeline.steps_per_epoch(encoded, pre.bucket_lengths, 8) == 6
    seen = 0
    for features, y in batches:
        width = features["token_ids"].shape[1]
        # A batch holds one bucket only, so its labels are all equal here.
        assert width == (16 if y.numpy()[0] == 0 else 32)
        assert len(set(y.numpy().tolist())) == 1
        seen += len(y)
    assert seen == 40


def test_inference_batches_follow_the_given_order():
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=32)
    texts = ["a dog", "the film was great", "a cat"]
    encoded = encode(pre, [texts])
    order = np.array([2, 0, 1])
    (features,) = list(pipeline.inference_batches(pre, encoded, batch_size=8, order=order))
    assert features["padding_mask"].numpy().sum(1).tolist() == [4, 4, 6]


def test_inference_batches_pad_as_the_training_pipeline_pads():
    # The inference batches are padded in NumPy; the training batches by TextPreprocessor.pad
    # in tf.data: rows, bucket widths, masks and per-token targets (-1 past each row) agree.
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=32)
    firsts = ["a dog", "the man plays with a dog and the cat sleeps in paris and london " * 2,
              "a cat", "the film was great", "i loved it"]
    seconds = ["the cat", "a dull book", "the dog runs fast " * 3, "fine", "so boring"]
    encoded = encode(pre, [firsts, seconds])
    # One label per token of each row, as a tagger's targets are.
    per_token = tf.ragged.constant([[k % 3 for k in range(n)] for n in encoded.lengths], tf.int32)
    for targets in (np.array([0.5, 1.0, 2.0, 3.0, 4.0]), per_token):
        trained = list(pipeline.training_batches(pre, encoded, targets, 2, shuffle=False,
                                                 group_by_length=False))
        inferred = list(pipeline.inference_batches(pre, encoded, 2, targets=targets))
        assert len(inferred) == len(trained) == 3
        for (a, a_targets), (b, b_targets) in zip(trained, inferred):
            assert a.keys() == b.keys()
            for name in a:
                np.testing.assert_array_equal(a[name].numpy(), b[name].numpy(), err_msg=name)
            np.testing.assert_array_equal(a_targets.numpy(), b_targets.numpy())
            assert a_targets.dtype == b_targets.dtype
    assert [b["token_ids"].shape[1] for b, _ in inferred] == [32, 32, 16]


def test_streaming_batches_accept_an_unbatched_tf_dataset():
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=32)
    dataset = tf.data.Dataset.from_tensor_slices((["a dog", "the film", "a cat"], [0, 1, 0]))
    batches = list(pipeline.streaming_batches(pre, dataset, batch_size=2, group_by_length=False))
    assert [b[0]["token_ids"].shape[0] for b in batches] == [2, 1]


def test_over_long_inputs_are_truncated_with_a_warning_count(caplog):
    pre = TextPreprocessor(tiny_tokenizer(), sequence_length=8)
    with caplog.at_level("WARNING"):
        encoded = encode(pre, [["a dog", "the good film " * 5, "the film " * 9]])
    assert encoded.truncated == 2 and encoded.lengths.max() == 8
    assert "2 of 3 examples were longer than sequence_length=8 and were truncated" in caplog.text


def test_preprocessors_that_tokenize_alike_share_one_traced_graph_and_no_other():
    """A loaded model or a distilled student tokenizes as the model it came from: its
    preprocessor reuses that graph instead of tracing the tokenizer again (about a second per
    kind of input); what changes the ids (vocabulary, casing, length) gets a graph of its own."""
    import keras_hub

    from kbert.preprocessing import text

    texts = [tf.constant(["The film was great", "dull"])]
    first = TextPreprocessor(tiny_tokenizer(), sequence_length=32)
    first.encode(texts)
    again = TextPreprocessor(tiny_tokenizer(), sequence_length=32)  # As load_model builds it.
    assert again.tokenizer is not first.tokenizer
    assert again.encode(texts)[0].to_list() == first.encode(texts)[0].to_list()
    assert again._graph_functions[1] is first._graph_functions[1]

    swapped = list(VOCAB)
    swapped[VOCAB.index("film")], swapped[VOCAB.index("great")] = "great", "film"
    cased = keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=False)
    others = [TextPreprocessor(keras_hub.models.BertTokenizer(vocabulary=swapped, lowercase=True),
                               sequence_length=32),
              TextPreprocessor(cased, sequence_length=32),
              TextPreprocessor(tiny_tokenizer(), sequence_length=4)]
    rows = [other.encode(texts)[0].to_list()[0] for other in others]
    assert rows[0] == ids("[CLS]", "the", "great", "was", "film", "[SEP]")
    assert rows[1] == ids("[CLS]", "[UNK]", "film", "was", "great", "[SEP]")
    assert rows[2] == ids("[CLS]", "the", "film", "[SEP]")
    functions = {id(p._graph_functions[1]) for p in [first, *others]}
    assert len(functions) == 4
    assert len(text._SHARED_FUNCTIONS) <= text._SHARED_FUNCTIONS_KEPT
