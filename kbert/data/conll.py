"""CoNLL files: one token per line (`word POS chunk NER` in CoNLL-2003), blank lines between
sentences, `-DOCSTART-` lines between documents."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kbert.errors import KbertInputError


@dataclasses.dataclass
class TaggedSentences:
    """Sentences as word lists with one tag per word, and the file row where each starts."""

    words: list[list[str]]
    tags: list[list[str]] | None
    source: str
    rows: list[int]

    def __len__(self) -> int:
        return len(self.words)

    def take(self, count: int) -> "TaggedSentences":
        """The first `count` sentences."""
        return TaggedSentences(self.words[:count], None if self.tags is None else self.tags[:count],
                               self.source, self.rows[:count])


def read_conll(path: str | Path, tag_column: int = -1, scheme: str = "IOB2") -> TaggedSentences:
    """Reads a CoNLL file; `tag_column` picks the tags (-1: NER in CoNLL-2003, 1: POS).

    Example:
    >>> ner = read_conll("conll2003/train.txt")
    >>> ner.words[0], ner.tags[0]
    (['EU', 'rejects', 'German', ...], ['B-ORG', 'O', 'B-MISC', ...])

    `scheme="IOB1"` converts IOB1 tags (I- may open an entity) to IOB2; "IOB2" and tag sets
    without a scheme (POS) are kept as they are.
    """
    path = Path(path)
    if not path.is_file():
        raise KbertInputError("file not found", source=str(path))
    if scheme not in ("IOB1", "IOB2"):
        raise ValueError(f"scheme must be 'IOB1' or 'IOB2'; got {scheme!r}.")
    sentences = TaggedSentences([], [], str(path), [])
    words: list[str] = []
    tags: list[str] = []
    start = 0

    def close():
        if words:
            sentences.words.append(list(words))
            sentences.tags.append(to_iob2(tags) if scheme == "IOB1" else list(tags))
            sentences.rows.append(start)
            words.clear()
            tags.clear()

    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise KbertInputError(f"not valid UTF-8 (byte at column {error.start + 1})",
                                      source=str(path), row=number) from None
            if not line or line.startswith("-DOCSTART-"):
                close()
                continue
            fields = line.split()
            if len(fields) < 2 or not -len(fields) <= tag_column < len(fields):
                raise KbertInputError(
                    f"expected a word and at least {abs(tag_column) + (tag_column >= 0)} columns, "
                    f"got {len(fields)}: {line!r}", source=str(path), row=number,
                    field=f"column {tag_column}")
            if not words:
                start = number
            words.append(fields[0])
            tags.append(fields[tag_column])
    close()
    if not sentences.words:
        raise KbertInputError("no sentences in the file", source=str(path))
    return sentences


def to_iob2(tags: list[str]) -> list[str]:
    """IOB1 to IOB2: an I- tag that does not continue an entity of its type becomes B-.

    Example:
    >>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    """
    fixed, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        fixed.append(tag)
        previous = tag
    return fixed


def entity_types(tags: list[str]) -> list[str]:
    """The sorted set of entity types in a sentence's IOB tags.

    Example:
    >>> entity_types(["B-PER", "I-PER", "O", "B-LOC"])
    ['LOC', 'PER']
    """
    return sorted({tag[2:] for tag in tags if tag[:2] in ("B-", "I-")})


def tag_set(tag_lists: list[list[str]]) -> list[str]:
    """The tags seen, in a stable order: "O" first, then by entity type with B- before I-
    (plain tag sets such as POS: sorted).

    Example:
    >>> tag_set([["B-PER", "O", "I-PER"], ["B-LOC"]])
    ['O', 'B-LOC', 'B-PER', 'I-PER']
    """
    seen = {tag for tags in tag_lists for tag in tags}
    return sorted(seen, key=lambda t: (t != "O", t[2:] if t[:2] in ("B-", "I-") else t, t[:2]))
