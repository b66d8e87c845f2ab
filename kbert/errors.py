"""The errors kbert raises for a user's mistake.

Every one is a `ValueError`, so callers that already catch `ValueError` keep working, and each
message names where the problem is (file or argument, row, field) and what was expected.
"""

from __future__ import annotations


class KbertInputError(ValueError):
    """Bad user data: names the source (a file or an argument), the row and the field.

    Example:
    >>> str(KbertInputError("empty text", source="train.tsv", row=7, field="sentence"))
    "train.tsv, row 7, field 'sentence': empty text"
    """

    def __init__(self, message: str, *, source: str | None = None, row: int | None = None,
                 field: str | None = None):
        self.message, self.source, self.row, self.field = message, source, row, field
        where = [part for part in (
            source,
            None if row is None else f"row {row}",
            None if field is None else f"field '{field}'",
        ) if part]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class PresetError(ValueError):
    """A preset that cannot be resolved or loaded (unknown name, offline, not a BERT model)."""
