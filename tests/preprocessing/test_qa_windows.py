"""Question/context windows with character offsets (kbert/preprocessing/qa.py), tiny vocabulary."""

import numpy as np
import pytest

from kbert.preprocessing import TextPreprocessor
from kbert.preprocessing.qa import qa_windows
from tests.conftest import VOCAB, tiny_tokenizer

CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"
#          0      7     13 16    22  26  30  34     41 44     51   56  60


def ids(*tokens):
    return [VOCAB.index(t) for t in tokens]


def answer(text, context=CONTEXT, nth=0):
    start = -1
    for _ in range(nth + 1):
        start = context.index(text, start + 1)
    return [{"text": text, "answer_start": start}]


@pytest.fixture
def pre():
    return TextPreprocessor(tiny_tokenizer(), sequence_length=12)


def span_text(w, window, context=CONTEXT):
    """The context characters a window's target span covers."""
    start, end = w.targets[window]
    words = w.token_word[window]
    offset = w.context_offset[window]
    spans = w.word_spans[w.example[window]]
    return context[spans[words[start - offset], 0]:spans[words[end - offset], 1]]


def test_short_context_is_one_window_with_segments_and_target(pre):
    context = "jeremy lives in paris"
    w = qa_windows(pre, ["who lives ?"], [context], [answer("paris", context)])
    assert len(w.encoded) == 1
    row = w.encoded.token_ids.to_list()[0]
    assert row[:5] == [2, 1, *ids("lives", "?"), 3]  # "who" is [UNK] in the tiny vocabulary
    assert row[5:] == [*ids("jeremy", "lives", "in", "paris"), 3]
    assert w.encoded.segment_ids.to_list()[0] == [0] * 5 + [1] * 5
    assert w.targets.tolist() == [[8, 8]] and span_text(w, 0, context) == "paris"


def test_long_context_windows_overlap_and_only_windows_holding_the_answer_point_at_it(pre):
    # 13 one-token words; question "who ?" = 2 tokens, so 12 - 2 - 3 = 7 context tokens per
    # window, windows start 4 tokens apart: tokens 0-6, 4-10, 8-12.
    w = qa_windows(pre, ["who ?"], [CONTEXT], [answer("london")], doc_stride=4)
    assert len(w.encoded) == 3
    assert all(len(r) <= 12 for r in w.encoded.token_ids.to_list())
    assert w.targets.tolist() == [[0, 0], [9, 9], [5, 5]]  # not in window 0: [CLS]
    assert span_text(w, 1) == span_text(w, 2) == "london"
    # Each context token is decoded from exactly one window (its max-context window).
    per_token = np.zeros(13)
    for window, best in enumerate(w.max_context):
        np.add.at(per_token, w.token_word[window][best], 1)
    assert per_token.tolist() == [1] * 13


def test_an_answer_straddling_two_windows_is_taken_from_the_window_that_holds_all_of_it(pre):
    # "sleeps in london" = tokens 7-9: past the end of window 0 (0-6), before the start of
    # window 2 (8-12); only window 1 (4-10) holds all of it.
    w = qa_windows(pre, ["who ?"], [CONTEXT], [answer("sleeps in london")], doc_stride=4)
    assert w.targets.tolist() == [[0, 0], [7, 9], [0, 0]]
    assert span_text(w, 1) == "sleeps in london"


def test_answers_at_the_very_start_and_end_of_the_context(pre):
    w = qa_windows(pre, ["who ?", "what ?"], [CONTEXT, CONTEXT],
                   [answer("jeremy"), answer("cat")], doc_stride=4)
    first = w.windows_of(0)[0]
    last = w.windows_of(1)[-1]
    assert span_text(w, first) == "jeremy" and w.targets[first][0] == 4
    assert span_text(w, last) == "cat"
    assert w.targets[last][1] == len(w.encoded.token_ids.to_list()[last]) - 2  # before [SEP]


def test_unanswerable_questions_point_at_cls_in_every_window(pre):
    w = qa_windows(pre, ["who ?"], [CONTEXT], [[]], doc_stride=4)
    assert w.targets.tolist() == [[0, 0]] * len(w.encoded)


def test_long_questions_are_cut_to_max_query_length(pre):
    w = qa_windows(pre, ["the dog " * 20], ["jeremy lives"], None, max_query_length=5)
    assert len(w.encoded.token_ids.to_list()[0]) == 10
    assert w.encoded.token_ids.to_list()[0][:7] == [2, *ids("the", "dog", "the", "dog", "the"), 3]
    assert w.targets is None


def test_a_context_word_that_yields_no_piece_is_one_unk_and_can_be_the_answer(pre):
    # A zero-width space and a control character are words of their own (split_words) that
    # WordPiece keeps nothing of; as in tagging windows (words.word_pieces) each becomes [UNK],
    # so its characters stay reachable and the tokens after it keep their words.
    context = "jeremy \u200b lives \x00 in paris"
    assert pre.word_pieces(["\u200b", "\x00"]).row_lengths().numpy().tolist() == [0, 0]
    w = qa_windows(pre, ["who ?", "who ?"], [context, context],
                   [answer("\u200b", context), answer("paris", context)])
    row = w.encoded.token_ids.to_list()[0]
    assert row[4:] == [*ids("jeremy"), 1, *ids("lives"), 1, *ids("in", "paris"), 3]
    assert w.token_word[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert w.targets.tolist() == [[5, 5], [9, 9]]
    assert span_text(w, 0, context) == "\u200b" and span_text(w, 1, context) == "paris"


def test_questions_are_tokenized_as_whole_texts(pre):
    # No [UNK] rule for a question: it is one text, not a list of words.
    w = qa_windows(pre, ["who \u200b ?"], ["jeremy lives"], None)
    assert w.encoded.token_ids.to_list()[0][:4] == [2, 1, *ids("?"), 3]
