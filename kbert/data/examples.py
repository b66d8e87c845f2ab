"""Rows of text with their labels, remembering where each row came from."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence


@dataclasses.dataclass
class TextExamples:
    """Texts (and optional second texts of a pair) with labels, plus where they were read.

    Example:
    >>> ex = TextExamples(["good", "bad"], labels=["pos", "neg"], source="reviews.tsv", rows=[2, 3])
    >>> ex.where(1)
    ('reviews.tsv', 3)

    `rows` holds each example's row in its source file (1-based, the header is row 1), so a
    problem found later (an unknown label, say) still names the file and the row.
    """

    texts: Sequence[str]
    text_pairs: Sequence[str] | None = None
    labels: Sequence[Any] | None = None
    source: str = "x"
    rows: Sequence[int] | None = None
    text_field: str = "text"
    text_pair_field: str = "text_pair"
    label_field: str = "label"

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def segments(self) -> list[Sequence[str]]:
        return [self.texts] if self.text_pairs is None else [self.texts, self.text_pairs]

    @property
    def x(self) -> list:
        """The inputs in the form the task models take: texts, or (text_a, text_b) pairs."""
        return list(self.texts) if self.text_pairs is None else list(zip(self.texts, self.text_pairs))

    def where(self, index: int) -> tuple[str, int]:
        """(source, row) of the example at `index`."""
        return self.source, (self.rows[index] if self.rows is not None else index)

    def take(self, count: int) -> "TextExamples":
        """The first `count` examples."""
        cut = lambda seq: None if seq is None else list(seq[:count])  # noqa: E731
        return dataclasses.replace(self, texts=cut(self.texts), text_pairs=cut(self.text_pairs),
                                   labels=cut(self.labels), rows=cut(self.rows))
