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


SCHEMES = ("IOB2", "IOB1")


def is_iob(labels: Sequence[str]) -> bool:
    """Whether a label set is an IOB scheme (entities), as opposed to plain tags (POS)."""
    return any(label[:2] in ("B-", "I-") for label in labels)


def tag_scheme(labels: Sequence[str]) -> str | None:
    """The scheme a label set implies: None for plain tags (POS), "IOB1" where some type has
    I-X but no B-X (in IOB2 every entity opens with B-X, so such a set can only be IOB1, where
    I-X after O opens an entity and B-X only splits two adjacent ones), else "IOB2".

    Example:
    >>> tag_scheme(["O", "I-PER", "I-LOC"]), tag_scheme(["O", "B-PER", "I-PER"]), tag_scheme(["NN"])
    ('IOB1', 'IOB2', None)

    A label set with both B-X and I-X of every type is read as IOB2; pass `scheme="IOB1"` to
    the tagger for IOB1 data that uses B-X.
    """
    if not is_iob(labels):
        return None
    begins = {label[2:] for label in labels if label.startswith("B-")}
    inside = {label[2:] for label in labels if label.startswith("I-")}
    return "IOB1" if inside - begins else "IOB2"


def resolve_scheme(scheme, labels: Sequence[str]) -> str | None:
    """A tag scheme given as "auto" (`tag_scheme` of the labels), "IOB2", "IOB1", None or
    "none" (plain tags), or a bool (True: an IOB scheme, which one read from the labels, as
    files exported before schemes were recorded say), checked against the labels.

    Example:
    >>> resolve_scheme("auto", ["O", "I-PER"])
    'IOB1'
    """
    if scheme == "auto" or scheme is True:
        found = tag_scheme(labels)
        return found if scheme == "auto" else found or "IOB2"
    if scheme in (None, False, "none"):
        return None
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be 'auto', 'IOB2', 'IOB1' or None (plain tags); got "
                         f"{scheme!r}.")
    if not is_iob(labels):
        raise ValueError(f"scheme={scheme!r} needs B-/I- labels; {list(labels)} are plain tags "
                         "(pass scheme=None).")
    if scheme == "IOB2" and tag_scheme(labels) == "IOB1":
        missing = sorted({l[2:] for l in labels if l.startswith("I-")}
                         - {l[2:] for l in labels if l.startswith("B-")})
        raise ValueError(f"labels {list(labels)} have I- tags without B- ({missing}): that is "
                         "IOB1, where I-X after O opens an entity. Pass scheme='IOB1', or "
                         "convert the tags to IOB2 first (kbert.data.to_iob2, or "
                         "read_conll(path, scheme='IOB1')) and add the B- labels.")
    return scheme


def repair_iob(tags: Sequence[str]) -> list[str]:
    """Makes a predicted tag sequence valid IOB2: an I-X that does not continue an X entity
    opens one (becomes B-X), the convention of seqeval's and CoNLL's lenient readers.

    Example:
    >>> repair_iob(["O", "I-PER", "I-PER", "B-LOC", "I-ORG"])
    ['O', 'B-PER', 'I-PER', 'B-LOC', 'B-ORG']
    """
    return to_iob2(list(tags))


def allowed_transitions(labels: Sequence[str], scheme: str = "IOB2") -> np.ndarray:
    """[from, to] booleans of a scheme. IOB2: I-X only after B-X or I-X. IOB1: B-X only after
    B-X or I-X (it opens an entity right after another of its type; I-X opens one elsewhere).
    Any other move is allowed."""
    restricted = "I-" if scheme == "IOB2" else "B-"
    allowed = np.ones((len(labels), len(labels)), bool)
    for j, to in enumerate(labels):
        if to.startswith(restricted):
            allowed[:, j] = [f[2:] == to[2:] and f[:2] in ("B-", "I-") for f in labels]
    return allowed


def decode_iob(scores: np.ndarray, labels: Sequence[str], scheme: str = "IOB2") -> list[str]:
    """The valid IOB2 (or IOB1) sequence of highest probability under per-word `scores`
    [words, labels] (probabilities): Viterbi over the transitions `allowed_transitions`
    permits, a sentence never opening with I-X (IOB1: with B-X). Where the per-word argmax is
    valid already, it is that argmax.

    Example:
    >>> decode_iob(np.array([[0.1, 0.3, 0.6], [0.2, 0.1, 0.7]]), ["O", "B-PER", "I-PER"])
    ['B-PER', 'I-PER']
    >>> decode_iob(np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]]), ["O", "I-PER"], "IOB1")
    ['I-PER', 'I-PER', 'O']

    Why not `repair_iob` of the argmax (what kbert did before): a lone I-X turned into B-X
    makes entities the model did not predict, and costs entity F1 instead of gaining it.
    Issue 22 (RESULTS.md), CoNLL-2003 with the same per-word probabilities: the repair lost
    1.0-1.7 F1 against the raw argmax, kbert's and transformers' alike, and this decoder gained
    1.1-1.5 over the raw argmax. No maintained library decodes a softmax tagger's IOB output this
    way (seqeval scores tags, it does not decode them), hence these few lines.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return []
    log = np.log(np.maximum(scores, 1e-12))
    forbidden = np.where(allowed_transitions(labels, scheme), 0.0, -np.inf)
    restricted = "I-" if scheme == "IOB2" else "B-"
    start = np.array([-np.inf if label.startswith(restricted) else 0.0 for label in labels])
    best, back = start + log[0], []
    for word in log[1:]:
        total = best[:, None] + forbidden           # [from, to]
        back.append(total.argmax(0))
        best = total.max(0) + word
    path = [int(best.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return [labels[j] for j in reversed(path)]


def decode_tags(scores: np.ndarray, labels: Sequence[str], scheme="auto") -> list[str]:
    """A sentence's tags from its per-word probabilities [words, labels]: `decode_iob` in the
    label set's scheme (`resolve_scheme`: "auto" reads it from the labels), the per-word argmax
    for plain tags (POS, `scheme=None`).

    Example:
    >>> decode_tags(np.array([[0.2, 0.8], [0.6, 0.4]]), ["NN", "VB"])
    ['VB', 'NN']
    """
    scheme = resolve_scheme(scheme, labels)
    if scheme is not None:
        return decode_iob(scores, labels, scheme)
    return [labels[j] for j in np.argmax(scores, axis=-1)]


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
    """Entities of an IOB2 or IOB1 tag sequence (read as IOB1 reads: an I-X that does not
    continue an X entity opens one), with character offsets into `text` (default:
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
