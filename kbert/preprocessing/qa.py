"""Questions and contexts to `[CLS] question [SEP] context window [SEP]` windows that remember
where each context token came from, in characters: what extractive QA trains and decodes on.

The context is split into words with character spans, as the tokenizer splits its normalized
text (`split_words`: the spans are in the original characters, whatever normalization added or
dropped), each word is WordPiece'd by the routine tagging windows use (`word_pieces`: a word
that yields no piece is one [UNK], so its characters can still be an answer), and the
sub-tokens are cut into windows of at most `sequence_length` tokens that start `doc_stride`
tokens apart (BERT's SQuAD recipe, as in TF Model Garden's `squad_lib` and Hugging Face's
`run_qa`); a question is tokenized as one text. A
token maps back to its word's characters, so an answer span is a slice of the original context.
Written here because KerasHub has no question-answering preprocessing.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from kbert.lazy import tf
from kbert.preprocessing.pipeline import EncodedTexts
from kbert.preprocessing.text import TextPreprocessor
from kbert.preprocessing.words import split_texts, text_pieces, word_pieces


@dataclasses.dataclass
class QAWindows:
    """Windows of many questions; per window, where its tokens come from."""

    encoded: EncodedTexts
    example: np.ndarray              # per window: its question
    context_offset: np.ndarray       # per window: position of its first context token
    token_word: list[np.ndarray]     # per window: context word of each context token
    max_context: list[np.ndarray]    # per window: whether this window is the token's best
    word_spans: list[np.ndarray]     # per question: [words, 2] character spans in the context
    targets: np.ndarray | None       # [windows, 2] start and end positions; 0 = [CLS] (no answer)

    def windows_of(self, example: int) -> np.ndarray:
        return np.flatnonzero(self.example == example)


def qa_windows(preprocessor: TextPreprocessor, questions: Sequence[str], contexts: Sequence[str],
               answers: Sequence[Sequence[dict]] | None = None, *, doc_stride: int = 128,
               max_query_length: int = 64) -> QAWindows:
    """Tokenizes question/context pairs into windows, with training targets if `answers` given.

    Example:
    >>> w = qa_windows(pre, ["Who lives in Paris?"], ["Jeremy lives in Paris."],
    ...                [[{"text": "Jeremy", "answer_start": 0}]])
    >>> w.targets          # the answer's first and last token in the window
    array([[7, 7]], dtype=int32)

    A window that does not hold the whole answer, and every window of an unanswerable question
    (an empty answer list), targets [CLS] (position 0). Where several answers are given (SQuAD
    dev sets), the first is the training target.
    """
    length = preprocessor.sequence_length
    tokenizer = preprocessor.tokenizer
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    question_pieces = text_pieces(preprocessor, list(questions))  # A question is one text.
    word_lists, span_lists = zip(*split_texts(contexts, tokenizer)) if contexts else ((), ())
    flat_pieces = word_pieces(preprocessor, [w for words in word_lists for w in words])

    ids, segments, example, offsets, token_words, max_contexts, targets = [], [], [], [], [], [], []
    word_spans = []
    first = 0
    for q, (question, spans) in enumerate(zip(question_pieces, span_lists)):
        question = question[:max_query_length]
        pieces = flat_pieces[first:first + len(spans)]
        first += len(spans)
        word_spans.append(np.array(spans, np.int64).reshape(-1, 2))
        doc = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, np.int32)
        doc_word = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])
        budget = length - len(question) - 3
        if budget < 1:
            raise ValueError(f"sequence_length={length} leaves no room for the context after a "
                             f"{len(question)}-token question; lower max_query_length.")
        starts = _window_starts(len(doc), budget, doc_stride)
        best = _max_context(starts, len(doc), budget)
        answer_tokens = None
        if answers is not None and answers[q]:
            answer_tokens = _answer_tokens(answers[q][0], spans, doc_word)
        context_offset = len(question) + 2
        for w, start in enumerate(starts):
            end = min(start + budget, len(doc))
            ids.append(np.concatenate([[cls_id], question, [sep_id], doc[start:end], [sep_id]]))
            segments.append(np.concatenate([np.zeros(context_offset, np.int32),
                                            np.ones(end - start + 1, np.int32)]))
            example.append(q)
            offsets.append(context_offset)
            token_words.append(doc_word[start:end])
            max_contexts.append(best[w][start:end])
            if answers is not None:
                target = (0, 0)
                if answer_tokens is not None and start <= answer_tokens[0] and \
                        answer_tokens[1] < end:
                    target = (answer_tokens[0] - start + context_offset,
                              answer_tokens[1] - start + context_offset)
                targets.append(target)

    lengths = np.array([len(i) for i in ids], np.int64)
    encoded = EncodedTexts(
        tf.RaggedTensor.from_row_lengths(np.concatenate(ids).astype(np.int32), lengths),
        tf.RaggedTensor.from_row_lengths(np.concatenate(segments).astype(np.int32), lengths),
        lengths, truncated=0)
    return QAWindows(encoded, np.array(example, np.int64), np.array(offsets, np.int64),
                     token_words, max_contexts, word_spans,
                     None if answers is None else np.array(targets, np.int32).reshape(-1, 2))


def _window_starts(doc_length: int, budget: int, stride: int) -> list[int]:
    """Start of each window over the context tokens: `stride` apart until the end is covered."""
    starts, start = [], 0
    while True:
        starts.append(start)
        if start + budget >= doc_length:
            return starts
        start += min(stride, budget)


def _max_context(starts: list[int], doc_length: int, budget: int) -> list[np.ndarray]:
    """For each window, which context tokens it sees with the most context on both sides
    (BERT's `_check_is_max_context`); a token is decoded only from that window."""
    positions = np.arange(doc_length)
    scores = []
    for start in starts:
        end = min(start + budget, doc_length)
        inside = (positions >= start) & (positions < end)
        score = np.minimum(positions - start, end - 1 - positions) + 0.01 * (end - start)
        scores.append(np.where(inside, score, -np.inf))
    scores = np.array(scores).reshape(len(starts), doc_length)
    best = scores.argmax(0) if doc_length else np.zeros(0, int)
    return [best == w for w in range(len(starts))]


def _answer_tokens(answer: dict, spans: list[tuple[int, int]],
                   doc_word: np.ndarray) -> tuple[int, int] | None:
    """First and last context token of an answer's words, or None if no word overlaps it."""
    start_char = answer["answer_start"]
    end_char = start_char + len(answer["text"])
    words = [i for i, (s, e) in enumerate(spans) if s < end_char and e > start_char]
    if not words:
        return None
    tokens = np.flatnonzero((doc_word >= words[0]) & (doc_word <= words[-1]))
    return (int(tokens[0]), int(tokens[-1])) if len(tokens) else None
