"""Word-to-sub-token alignment and windowing (kbert/preprocessing/words.py), on the tiny vocabulary
of conftest.py: ids 2 = [CLS], 3 = [SEP], 1 = [UNK]."""

import numpy as np
import pytest

from kbert.preprocessing import TextPreprocessor
from kbert.preprocessing.words import IGNORE, word_windows
from tests.conftest import VOCAB, tiny_tokenizer

CLS, SEP, UNK = 2, 3, 1


def ids(*tokens):
    return [VOCAB.index(t) for t in tokens]


@pytest.fixture
def pre():
    return TextPreprocessor(tiny_tokenizer(), sequence_length=8)


def test_first_sub_token_carries_the_label_and_the_others_are_ignored(pre):
    # "dogs" is not in the vocabulary: it splits into "dog", "##s".
    w = word_windows(pre, [["jeremy", "dogs", "paris"]], [np.array([1, 0, 3])])
    assert w.encoded.token_ids.to_list() == [[CLS, *ids("jeremy", "dog", "##s", "paris"), SEP]]
    assert w.targets.to_list() == [[IGNORE, 1, 0, IGNORE, 3, IGNORE]]
    assert w.owner_position.tolist() == [1, 2, 4]  # first sub-token of each word


def test_label_all_subtokens_continues_b_as_i(pre):
    continuation = np.array([0, 2, 2])  # O -> O, B-PER -> I-PER, I-PER -> I-PER
    w = word_windows(pre, [["jeremy", "cats"]], [np.array([1, 2])], label_all_subtokens=True,
                     continuation=continuation)
    assert w.encoded.token_ids.to_list() == [[CLS, *ids("jeremy", "cat", "##s"), SEP]]
    assert w.targets.to_list() == [[IGNORE, 1, 2, 2, IGNORE]]
    w = word_windows(pre, [["dogs"]], [np.array([1])], label_all_subtokens=True,
                     continuation=continuation)
    assert w.targets.to_list() == [[IGNORE, 1, 2, IGNORE]]


def test_words_that_tokenize_to_nothing_or_unknown_still_get_one_prediction(pre):
    words = [["jeremy", "\u200b", "zzzqqq", "\x00", "paris"]]
    assert pre.word_pieces(words[0]).row_lengths().numpy().tolist()[1] == 0
    w = word_windows(pre, words, [np.array([1, 0, 0, 0, 3])])
    assert w.encoded.token_ids.to_list() == [[CLS, ids("jeremy")[0], UNK, UNK, UNK,
                                              ids("paris")[0], SEP]]
    assert len(w.owner_window) == 5
    assert w.owner_position.tolist() == [1, 2, 3, 4, 5]


def test_long_sentences_are_windowed_and_every_word_is_read_once_with_most_context(pre):
    # 11 one-piece words, 6 fit in a window of 8 ([CLS] + 6 + [SEP]); stride 3.
    sentence = "the man plays in london and the dog sleeps in paris".split()
    w = word_windows(pre, [["jeremy", "lives"], sentence], [np.zeros(2, int), np.arange(11) % 2],
                     stride=3)
    rows = w.encoded.token_ids.to_list()
    assert all(len(r) <= 8 for r in rows)
    assert w.window_sentence.tolist() == [0, 1, 1, 1]
    assert rows[1] == [CLS, *ids(*sentence[0:6]), SEP]
    assert rows[2] == [CLS, *ids(*sentence[3:9]), SEP]
    assert rows[3] == [CLS, *ids(*sentence[6:11]), SEP]
    # Each word of the long sentence is owned by the window where it is farthest from an edge.
    assert w.owner_window[2:].tolist() == [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    # Reading the token ids back at the owners gives the sentence, word by word.
    padded = w.encoded.token_ids.to_tensor().numpy()
    assert padded[w.owner_window, w.owner_position].tolist() == ids("jeremy", "lives", *sentence)
    # Every window trains on all the words it holds.
    assert w.targets.to_list()[2] == [IGNORE, *(np.arange(3, 9) % 2), IGNORE]


def test_a_word_longer_than_a_window_keeps_its_first_pieces(pre):
    # "unsssssssss" splits into "un" + 10 x "##s": more than the 6 pieces a window holds.
    w = word_windows(pre, [["jeremy", "un" + "s" * 10, "paris"]], [np.array([1, 0, 3])])
    rows = w.encoded.token_ids.to_list()
    assert all(len(r) <= 8 for r in rows)
    padded = w.encoded.token_ids.to_tensor().numpy()
    assert padded[w.owner_window, w.owner_position].tolist() == ids("jeremy", "un", "paris")
    assert w.encoded.truncated == 1


def test_word_outputs_map_window_scores_back_to_sentences(pre):
    sentence = "the man plays in london and the dog sleeps in paris".split()
    w = word_windows(pre, [sentence, ["jeremy"]], stride=3)
    # Fake outputs: each window position scores its own token id, so words read back their id.
    outputs = w.encoded.token_ids.to_tensor(shape=[len(w.encoded), 8]).numpy()[..., None]
    words = w.word_outputs(outputs)
    assert [o[:, 0].tolist() for o in words] == [ids(*sentence), ids("jeremy")]


def test_tagging_and_qa_windows_share_one_word_to_pieces_routine(pre):
    from kbert.preprocessing import qa, words

    assert qa.word_pieces is words.word_pieces
    pieces = words.word_pieces(pre, ["jeremy", "\u200b", "dogs"])
    assert [p.tolist() for p in pieces] == [ids("jeremy"), [UNK], ids("dog", "##s")]
