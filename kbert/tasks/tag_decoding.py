"""From word-level tag scores to what an application shows: tags, repaired IOB sequences and
entity spans with character offsets. Pure Python and numpy, the same steps an app runs after the
on-device model (the export's reference pipeline uses these functions as they are)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from kbert.data.conll import to_iob2


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis (numerically stable)."""
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def is_iob(labels: Sequence[str]) -> bool:
    """Whether a label set is an IOB scheme (entities), as opposed to plain tags (POS)."""
    return any(label[:2] in ("B-", "I-") for label in labels)


def repair_iob(tags: Sequence[str]) -> list[str]:
    """Makes a predicted tag sequence valid IOB2: an I-X that does not continue an X entity
    opens one (becomes B-X), the convention of seqeval's and CoNLL's lenient readers.

    Example:
    >>> repair_iob(["O", "I-PER", "I-PER", "B-LOC", "I-ORG"])
    ['O', 'B-PER', 'I-PER', 'B-LOC', 'B-ORG']
    """
    return to_iob2(list(tags))


@dataclasses.dataclass
class Entity:
    """One entity: its type, its words [first_word, end_word) and characters [start, end)."""

    type: str
    text: str
    start: int
    end: int
    first_word: int
    end_word: int
    score: float | None = None


def word_offsets(words: Sequence[str], text: str | None = None) -> list[tuple[int, int]]:
    """Character span of each word in `text` (default: the words joined by single spaces),
    found left to right.

    Example:
    >>> word_offsets(["Jeremy", "lives", "in", "Paris"])
    [(0, 6), (7, 12), (13, 15), (16, 21)]
    """
    text = " ".join(words) if text is None else text
    offsets, position = [], 0
    for word in words:
        start = text.find(word, position)
        if start < 0:
            raise ValueError(f"word {word!r} not found in the text after character {position}.")
        offsets.append((start, start + len(word)))
        position = start + len(word)
    return offsets


def entity_spans(words: Sequence[str], tags: Sequence[str], text: str | None = None,
                 scores: Sequence[float] | None = None) -> list[Entity]:
    """Entities of a (repaired) IOB2 tag sequence, with character offsets into `text` (default:
    the words joined by single spaces) and, given per-word `scores`, their mean as the score.

    Example:
    >>> [(e.type, e.text, e.start, e.end) for e in entity_spans(
    ...     ["Jeremy", "Irons", "lives", "in", "Paris"], ["B-PER", "I-PER", "O", "O", "B-LOC"])]
    [('PER', 'Jeremy Irons', 0, 12), ('LOC', 'Paris', 22, 27)]
    """
    text = " ".join(words) if text is None else text
    offsets = word_offsets(words, text)
    tags = repair_iob(tags)
    entities: list[Entity] = []
    first = None
    for i, tag in enumerate([*tags, "O"]):
        if first is not None and not (tag.startswith("I-") and tag[2:] == tags[first][2:]):
            start, end = offsets[first][0], offsets[i - 1][1]
            score = None if scores is None else float(np.mean(scores[first:i]))
            entities.append(Entity(tags[first][2:], text[start:end], start, end, first, i, score))
            first = None
        if tag.startswith("B-"):
            first = i
    return entities
