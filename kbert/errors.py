"""The errors kbert raises for a user's mistake.

Every one is a `ValueError`, so callers that already catch `ValueError` keep working, and each
message names where the problem is (file or argument, row, field) and what was expected.
"""

from __future__ import annotations

import contextlib
import re


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


class CheckpointMismatch(ValueError):
    """A checkpoint that another run wrote (other data, seed, batch size, epochs or optimizer
    recipe), so resuming from it would not continue that run."""


# How TensorFlow reports a KbertInputError raised inside a tf.data pipeline (a generator such as
# kbert.data.stream_table's): the message comes back inside an op error, after a traceback.
_WRAPPED = re.compile(r"KbertInputError: (?P<source>[^\n]*?)(?:, row (?P<row>\d+))?"
                      r"(?:, field '(?P<field>[^'\n]*)')?: (?P<message>[^\n]*)\n*(?:\t \[\[|$)")


@contextlib.contextmanager
def unwrapped_input_errors():
    """Gives back, as itself, a KbertInputError that TensorFlow wrapped while a tf.data pipeline
    read a file (the user sees one error naming file, row and field, not an op error)."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as error:
        found = None
        for found in _WRAPPED.finditer(error.message):
            pass  # The last one: the exception itself, after its traceback.
        if found is None:
            raise
        row = found["row"]
        raise KbertInputError(found["message"], source=found["source"] or None,
                              row=int(row) if row else None, field=found["field"]) from None
