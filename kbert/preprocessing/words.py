"""Word lists to sub-token windows, and window outputs back to one prediction per word: the
alignment token classification (NER, POS tagging) needs.

Each word is tokenized on its own, so every sub-token knows its word. A word the tokenizer keeps
nothing of (a lone control character, a zero-width space) becomes one `[UNK]`, so every word has
a first sub-token and gets exactly one prediction. A sentence longer than the sequence length is
cut into overlapping windows that start and end at word boundaries; every word is predicted from
the window where it has the most context on both sides (BERT's "max context" rule for SQuAD).
Written here because KerasHub has no token-classification preprocessing; the arithmetic mirrors
TF Model Garden's tagging data loader and Hugging Face's `word_ids()` alignment.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

import numpy as np
from absl import logging

from kbert.lazy import tf
from kbert.preprocessing.pipeline import EncodedTexts
from kbert.preprocessing.text import TextPreprocessor
from kbert.preprocessing.tokenizer import normalization_of

_WORD = re.compile(r"\w+|[^\w\s]")
IGNORE = -1  # Target of a sub-token that carries no label ([CLS], [SEP], continuation pieces).
_TOKENIZE_CHUNK = 65536


def split_words(text: str, tokenizer=None) -> tuple[list[str], list[tuple[int, int]]]:
    """Words of a raw text with their character spans in it, as `tokenizer` splits the text
    before WordPiece, so the words' pieces are the text's own.

    Example:
    >>> split_words("Jeremy lives in Paris, France.")
    (['Jeremy', 'lives', 'in', 'Paris', ',', 'France', '.'], [(0, 6), (7, 12), ...])
    >>> split_words("Frédéric\u200b日本", presets.load_tokenizer("minilm_l6_uncased"))
    (['Frédéric', '日', '本'], [(0, 8), (9, 10), (10, 11)])

    With a normalizing tokenizer (`kbert.preprocessing.tokenizer`), BERT's basic tokenization
    of the normalized text, mapped back to the original characters. Without one (KerasHub's
    tokenizer, as in models saved before it): runs of letters and digits, and every other
    non-space character on its own, as those models were trained.
    """
    return split_texts([text], tokenizer)[0]


def split_texts(texts: Sequence[str], tokenizer=None
                ) -> list[tuple[list[str], list[tuple[int, int]]]]:
    """`split_words` of many texts at once (one TensorFlow call for a normalizing tokenizer)."""
    normalization = normalization_of(tokenizer)
    if normalization is not None:
        return normalization.words_with_spans(list(texts))
    out = []
    for text in texts:
        matches = list(_WORD.finditer(text))
        out.append(([m.group() for m in matches], [m.span() for m in matches]))
    return out


@dataclasses.dataclass
class WordWindows:
    """Sentences as windows of sub-tokens, and where each word is read back from.

    `encoded` holds one row per window (`[CLS] pieces [SEP]`); word arrays are flat over all
    sentences, sentence `s` owning words `word_starts[s]:word_starts[s + 1]`.
    """

    encoded: EncodedTexts
    window_sentence: np.ndarray   # per window: the sentence it belongs to
    word_starts: np.ndarray       # per sentence (+1): offset of its first word in the flat arrays
    owner_window: np.ndarray      # per word: the window it is predicted from
    owner_position: np.ndarray    # per word: position of its first sub-token in that window
    targets: tf.RaggedTensor | None  # per window: a label id per token, IGNORE where none

    @property
    def num_sentences(self) -> int:
        return len(self.word_starts) - 1

    def word_outputs(self, window_outputs: np.ndarray) -> list[np.ndarray]:
        """Per-token outputs of every window, [windows, length, ...] (padded), to one row per word
        (its first sub-token in its owner window), split by sentence.

        Example:
        >>> [scores.shape for scores in windows.word_outputs(logits)]
        [(4, 9), (11, 9)]
        """
        per_word = np.asarray(window_outputs)[self.owner_window, self.owner_position]
        return np.split(per_word, self.word_starts[1:-1])


def word_windows(preprocessor: TextPreprocessor, sentences: Sequence[Sequence[str]],
                 label_ids: Sequence[np.ndarray] | None = None, *, stride: int | None = None,
                 label_all_subtokens: bool = False,
                 continuation: np.ndarray | None = None) -> WordWindows:
    """Tokenizes word lists into windows of at most `preprocessor.sequence_length` tokens.

    Example:
    >>> w = word_windows(pre, [["Jeremy", "lives", "in", "Paris"]], [np.array([1, 0, 0, 5])])
    >>> w.encoded.token_ids.to_list(), w.targets.to_list()
    ([[101, 6520, 3268, 1999, 3000, 102]], [[-1, 1, 0, 0, 5, -1]])

    `label_ids` (one int array per sentence, a label id per word) become per-token targets: on
    each word's first sub-token only, or with `label_all_subtokens` on every sub-token, the
    others taking `continuation[label]` (B-X continues as I-X). Windows after the first start
    about `stride` sub-tokens after the previous one (default: half a window), at a word start.
    """
    budget = preprocessor.sequence_length - 2  # Room left by [CLS] and [SEP].
    stride = max(1, min(stride or budget // 2, budget))
    tokenizer = preprocessor.tokenizer
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    pieces = word_pieces(preprocessor, [w for sentence in sentences for w in sentence])

    window_ids, window_targets, window_sentence = [], [], []
    owner_window, owner_position = [], []
    word_starts = np.zeros(len(sentences) + 1, np.int64)
    cut_words = 0
    first_word = 0
    for s, sentence in enumerate(sentences):
        n = len(sentence)
        word_starts[s + 1] = word_starts[s] + n
        words = pieces[first_word:first_word + n]
        first_word += n
        # A single word longer than a window keeps its first pieces.
        cut_words += sum(len(p) > budget for p in words)
        words = [p[:budget] for p in words]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in words])])
        labels = None if label_ids is None else np.asarray(label_ids[s])
        spans = _spans(offsets, budget, stride)
        best_score = np.full(n, -1)
        sentence_owner = np.zeros((n, 2), np.int64)
        for start, end in spans:
            window = len(window_ids)
            ids = np.concatenate([[cls_id], *words[start:end], [sep_id]])
            first_positions = 1 + offsets[start:end] - offsets[start]
            window_ids.append(ids)
            window_sentence.append(s)
            # Context on the word's poorer side; ties keep the earlier window.
            left = offsets[start:end] - offsets[start]
            right = offsets[end] - offsets[start + 1:end + 1]
            score = np.minimum(left, right)
            better = score > best_score[start:end]
            best_score[start:end][better] = score[better]
            sentence_owner[start:end][better] = np.stack(
                [np.full(better.sum(), window), first_positions[better]], axis=1)
            if labels is not None:
                window_targets.append(_token_targets(
                    labels[start:end], [len(p) for p in words[start:end]], label_all_subtokens,
                    continuation))
        owner_window.append(sentence_owner[:, 0])
        owner_position.append(sentence_owner[:, 1])
    if cut_words:
        logging.warning("%d words had more than %d sub-tokens; only their first sub-tokens are "
                        "kept.", cut_words, budget)

    lengths = np.array([len(ids) for ids in window_ids], np.int64)
    flat_ids = np.concatenate(window_ids).astype(np.int32)
    token_ids = tf.RaggedTensor.from_row_lengths(flat_ids, lengths)
    segment_ids = tf.RaggedTensor.from_row_lengths(np.zeros_like(flat_ids), lengths)
    targets = None
    if label_ids is not None:
        targets = tf.RaggedTensor.from_row_lengths(
            np.concatenate(window_targets).astype(np.int32), lengths)
    split = int(np.sum(np.bincount(window_sentence) > 1))
    if split:
        logging.info("%d sentences were longer than sequence_length=%d and were split into "
                     "overlapping windows.", split, preprocessor.sequence_length)
    return WordWindows(
        encoded=EncodedTexts(token_ids, segment_ids, lengths, truncated=cut_words),
        window_sentence=np.array(window_sentence, np.int64), word_starts=word_starts,
        owner_window=np.concatenate(owner_window), owner_position=np.concatenate(owner_position),
        targets=targets)


def text_pieces(preprocessor: TextPreprocessor, texts: Sequence[str]) -> list[np.ndarray]:
    """WordPiece ids of each text, tokenized as a whole (empty where the tokenizer keeps
    nothing), e.g. a question.

    Example:
    >>> [p.tolist() for p in text_pieces(pre, ["who lives in paris ?"])]
    [[2040, 3268, 1999, 3000, 1029]]
    """
    pieces: list[np.ndarray] = []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        ragged = preprocessor.word_pieces(list(texts[start:start + _TOKENIZE_CHUNK]))
        flat, counts = ragged.flat_values.numpy(), ragged.row_lengths().numpy()
        pieces.extend(np.split(flat, np.cumsum(counts)[:-1]))
    return pieces


def word_pieces(preprocessor: TextPreprocessor, words: Sequence[str]) -> list[np.ndarray]:
    """WordPiece ids of each word, a word the tokenizer keeps nothing of (a lone control
    character, a zero-width space) being one `[UNK]`: every word has a first sub-token, so a
    tagger predicts it and a question answerer can point at its characters. Tagging and QA
    windows both split their words with this routine.

    Example:
    >>> [p.tolist() for p in word_pieces(pre, ["jeremy", "\u200b", "dogs"])]
    [[6520], [100], [3899, 2015]]
    """
    tokenizer = preprocessor.tokenizer
    unk = np.array([tokenizer.token_to_id(tokenizer.oov_token)], np.int32)
    return [p if len(p) else unk for p in text_pieces(preprocessor, words)]


def _spans(offsets: np.ndarray, budget: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges [start, end) of the windows over one sentence; `offsets[i]` is where word i's
    sub-tokens begin (offsets[-1]: the total). Each window holds as many whole words as fit."""
    n = len(offsets) - 1
    spans, start = [], 0
    while True:
        end = int(np.searchsorted(offsets, offsets[start] + budget, side="right")) - 1
        end = min(max(end, start + 1), n)
        spans.append((start, end))
        if end >= n:
            return spans
        next_start = int(np.searchsorted(offsets, offsets[start] + stride, side="left"))
        start = min(max(next_start, start + 1), end)  # Overlap when it can, never a gap.


def _token_targets(labels: np.ndarray, piece_counts: list[int], label_all: bool,
                   continuation: np.ndarray | None) -> np.ndarray:
    """[IGNORE, (label of word 0 on its pieces), ..., IGNORE] for one window."""
    targets = [np.array([IGNORE])]
    for label, count in zip(labels, piece_counts):
        rest = continuation[label] if (label_all and continuation is not None) else (
            label if label_all else IGNORE)
        targets.append(np.array([label] + [rest] * (count - 1)))
    targets.append(np.array([IGNORE]))
    return np.concatenate(targets)
