"""Property tests (hypothesis): the alignment, windowing and decoding code never crashes on odd
input, and what it returns stays consistent with its input."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbert.preprocessing import TextPreprocessor
from kbert.preprocessing.qa import qa_windows
from kbert.preprocessing.words import split_words, word_windows
from kbert.tasks.qa_decoding import decode_answers
from kbert.tasks.tag_decoding import entity_spans, repair_iob
from tests.conftest import VOCAB, tiny_tokenizer

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
PRE = {length: TextPreprocessor(tiny_tokenizer(), sequence_length=length) for length in (8, 16)}

known_words = st.sampled_from(VOCAB[5:] + ["dogs", "unsss", "Paris", "naïve"])
odd_words = st.text(min_size=1, max_size=12)  # any unicode: control chars, emoji, spaces...
words = st.one_of(known_words, odd_words)
sentences = st.lists(st.lists(words, min_size=1, max_size=25), min_size=1, max_size=4)
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@FAST
@given(sentences, st.sampled_from([8, 16]), st.integers(1, 10))
def test_every_word_gets_exactly_one_prediction_slot(batch, length, stride):
    pre = PRE[length]
    windows = word_windows(pre, batch, [np.zeros(len(s), int) for s in batch], stride=stride)
    rows = windows.encoded.token_ids.to_list()
    assert all(len(r) <= length for r in rows)
    assert len(windows.owner_window) == sum(len(s) for s in batch)
    # Each word's slot lies inside its window, after [CLS] and before [SEP], in its sentence.
    for word, (w, p) in enumerate(zip(windows.owner_window, windows.owner_position)):
        assert 1 <= p < len(rows[w]) - 1
        sentence = np.searchsorted(windows.word_starts, word, side="right") - 1
        assert windows.window_sentence[w] == sentence
    targets = windows.targets.to_list()
    assert all(t[0] == -1 and t[-1] == -1 for t in targets)


@FAST
@given(st.lists(st.sampled_from(TAGS), min_size=0, max_size=30))
def test_iob_repair_always_gives_valid_iob2(tags):
    repaired = repair_iob(tags)
    assert len(repaired) == len(tags)
    for previous, tag in zip(["O"] + repaired, repaired):
        assert not tag.startswith("I-") or previous[2:] == tag[2:]


@FAST
@given(st.lists(st.tuples(words.filter(lambda w: w.strip() == w and w), st.sampled_from(TAGS)),
                min_size=1, max_size=20),
       st.lists(st.sampled_from([" ", "  ", "\n"]), min_size=20, max_size=20))
def test_entity_spans_are_slices_of_the_text(tagged, gaps):
    words_, tags = [w for w, _ in tagged], [t for _, t in tagged]
    text = "".join(w + g for w, g in zip(words_, gaps))
    for entity in entity_spans(words_, tags, text):
        assert text[entity.start:entity.end] == entity.text
        assert entity.text.startswith(words_[entity.first_word])
        assert entity.text.endswith(words_[entity.end_word - 1])


contexts = st.lists(st.one_of(known_words, st.text(max_size=8)), min_size=1, max_size=40).map(
    " ".join)


@FAST
@given(st.lists(st.tuples(st.text(min_size=1, max_size=30), contexts), min_size=1, max_size=3),
       st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_decoded_answers_are_substrings_at_their_offsets(pairs, stride, seed):
    questions = [q for q, _ in pairs]
    texts = [c for _, c in pairs]
    windows = qa_windows(PRE[16], questions, texts, doc_stride=stride, max_query_length=6)
    assert all(len(r) <= 16 for r in windows.encoded.token_ids.to_list())
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(windows.encoded), 16, 2))
    for answer, context in zip(decode_answers(windows, logits[..., 0], logits[..., 1], texts,
                                              n_best=5, max_answer_length=8), texts):
        assert context[answer.start:answer.end] == answer.text
        assert answer.text == "" or answer.text.strip() == answer.text


@FAST
@given(st.text(max_size=60))
def test_split_words_spans_are_exact(text):
    found, spans = split_words(text)
    assert [text[s:e] for s, e in spans] == found
    assert all(w.strip() == w and w for w in found)


@FAST
@given(contexts, st.integers(1, 12), st.data())
def test_training_targets_point_at_the_answer_characters(context, stride, data):
    found, spans = split_words(context)
    if not found:
        return
    first = data.draw(st.integers(0, len(found) - 1))
    last = data.draw(st.integers(first, min(first + 3, len(found) - 1)))
    start, end = spans[first][0], spans[last][1]
    answer = {"text": context[start:end], "answer_start": start}
    windows = qa_windows(PRE[16], ["who ?"], [context], [[answer]], doc_stride=stride)
    for w, (s, e) in enumerate(windows.targets):
        if s == 0:
            continue  # this window does not hold the whole answer
        offset, token_word = windows.context_offset[w], windows.token_word[w]
        chars = windows.word_spans[0]
        decoded = context[chars[token_word[s - offset], 0]:chars[token_word[e - offset], 1]]
        # Exact, unless an edge word of the answer has no sub-tokens (a lone control character):
        # then the span shrinks to the words the model can see.
        assert decoded and decoded in answer["text"]
