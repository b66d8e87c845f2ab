"""Local TSV / CSV / JSONL files of labelled text.

Read with the standard library rather than pandas or `datasets`' csv builder because every bad
row must fail with one error naming the file, the row and the field (both of those libraries
report a parser position, or silently turn a bad cell into NaN), and because GLUE's TSVs need
quoting turned off entirely.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

from kbert.data.examples import TextExamples
from kbert.errors import KbertInputError
from kbert.lazy import tf

Column = str | int


def read_table(path: str | Path, text_column: Column, label_column: Column | None = None, *,
               text_pair_column: Column | None = None, header: bool | None = None,
               delimiter: str | None = None, max_rows: int | None = None) -> TextExamples:
    """Reads labelled texts from a .tsv, .csv or .jsonl file.

    Example:
    >>> train = read_table("glue/SST-2/train.tsv", "sentence", "label")
    >>> cola = read_table("glue/CoLA/train.tsv", text_column=3, label_column=1)  # no header
    >>> mrpc = read_table("glue/MRPC/train.tsv", "#1 String", "Quality", text_pair_column="#2 String")

    Columns are names, or 0-based indices for files without a header (`header` defaults to
    True unless every column is given as an index). TSV is read with quoting off (GLUE's
    files hold bare quote characters); a UTF-8 byte-order mark is skipped. JSONL label values
    may be strings, numbers or lists (multi-label).
    """
    path = Path(path)
    rows = _rows(path, text_column, label_column, text_pair_column, header, delimiter)
    texts, pairs, labels, row_numbers = [], [], [], []
    for row_number, values in rows:
        texts.append(values["text"])
        if "text_pair" in values:
            pairs.append(values["text_pair"])
        if "label" in values:
            labels.append(values["label"])
        row_numbers.append(row_number)
        if max_rows is not None and len(texts) >= max_rows:
            break
    if not texts:
        raise KbertInputError("no rows: the file has a header but no examples", source=str(path))
    return TextExamples(texts, pairs if text_pair_column is not None else None,
                        labels if label_column is not None else None, source=str(path),
                        rows=row_numbers, text_field=str(text_column),
                        text_pair_field=str(text_pair_column), label_field=str(label_column))


def stream_table(path: str | Path, text_column: Column, label_column: Column, *,
                 labels: Sequence[str] | None = None, text_pair_column: Column | None = None,
                 header: bool | None = None, delimiter: str | None = None) -> tf.data.Dataset:
    """A file too large for memory as a `tf.data.Dataset` of (text, label) elements, read row by
    row as `fit` consumes it; the same formats, columns and per-row errors as `read_table`.

    Example:
    >>> data = stream_table("big.tsv", "sentence", "label", labels=clf.labels)
    >>> clf.fit(data, epochs=1, steps_per_epoch=10_000)

    Labels become the class index of their name in `labels` (a model's label names); without
    `labels` the cells must be numbers: class indices, or scores for a regressor (float32).
    Pairs come as ((text, text_pair), label).
    """
    path = Path(path)
    index = {str(name): i for i, name in enumerate(labels)} if labels is not None else None
    field = str(label_column)

    def label_of(value, row: int):
        if index is not None:
            if str(value) not in index:
                raise KbertInputError(f"unknown label {value!r}; the labels are {list(index)}",
                                      source=str(path), row=row, field=field)
            return index[str(value)]
        try:
            return float(value)
        except (TypeError, ValueError):
            raise KbertInputError(f"label {value!r} is not a number: pass labels=[...] to map "
                                  "label names to classes", source=str(path), row=row,
                                  field=field) from None

    def elements():
        for row, values in _rows(path, text_column, label_column, text_pair_column, header,
                                 delimiter):
            x = values["text"] if text_pair_column is None else (values["text"],
                                                                  values["text_pair"])
            yield x, label_of(values["label"], row)

    text = tf.TensorSpec([], tf.string)
    x_spec = text if text_pair_column is None else (text, text)
    # Class indices are integers; scores (and class ids given as numbers) float32.
    label_spec = tf.TensorSpec([], tf.int32 if index is not None else tf.float32)
    return tf.data.Dataset.from_generator(elements, output_signature=(x_spec, label_spec))


def _rows(path: Path, text_column: Column, label_column: Column | None,
          text_pair_column: Column | None, header: bool | None, delimiter: str | None):
    """(row number, {"text", "text_pair", "label"}) for every example row of the file."""
    if not path.is_file():
        raise KbertInputError("file not found", source=str(path))
    columns = {"text": text_column, "text_pair": text_pair_column, "label": label_column}
    wanted = {role: c for role, c in columns.items() if c is not None}
    if path.suffix.lower() in (".jsonl", ".json"):
        return _jsonl_rows(path, wanted)
    if header is None:
        header = not all(isinstance(c, int) for c in wanted.values())
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    return _delimited_rows(path, wanted, header, delimiter)


def _lines(path: Path):
    """(row number, decoded line) for every line, read as needed (files larger than memory
    stream); undecodable bytes name their row."""
    blank = True
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            raw = raw.rstrip(b"\r\n")
            blank = blank and not raw.strip()
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise KbertInputError(
                    f"not valid UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1})",
                    source=str(path), row=number) from None
    if blank:
        raise KbertInputError("the file is empty", source=str(path))


def _delimited_rows(path: Path, wanted: dict[str, Column], header: bool, delimiter: str):
    # csv.reader over lines keeps quoted multi-line CSV cells working; line_num is the row.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader((line for _, line in _lines(path)), delimiter=delimiter, quoting=quoting)
    positions: dict[str, int] = {}
    names: list[str] | None = next(reader) if header else None
    for role, column in wanted.items():
        if isinstance(column, int):
            positions[role] = column
        elif names is None:
            raise KbertInputError(f"column {column!r} given by name but the file is read without "
                                  "a header; give a 0-based column index", source=str(path))
        elif column not in names:
            raise KbertInputError(f"no column named {column!r}; the header has {names}",
                                  source=str(path), row=1, field=str(column))
        else:
            positions[role] = names.index(column)
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # Blank line.
        number = reader.line_num
        values = {}
        for role, index in positions.items():
            field = names[index] if names and index < len(names) else str(wanted[role])
            if index >= len(cells):
                raise KbertInputError(f"the row has {len(cells)} fields, so column {index} "
                                      "is missing", source=str(path), row=number, field=field)
            values[role] = _cell(cells[index], role, path, number, field)
        yield number, values


def _jsonl_rows(path: Path, wanted: dict[str, Column]):
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise KbertInputError(f"not valid JSON ({error.msg})", source=str(path),
                                  row=number) from None
        if not isinstance(record, dict):
            raise KbertInputError("expected a JSON object per line", source=str(path), row=number)
        values = {}
        for role, column in wanted.items():
            if column not in record:
                raise KbertInputError(f"missing field; the record has {sorted(record)}",
                                      source=str(path), row=number, field=str(column))
            values[role] = _cell(record[column], role, path, number, str(column))
        yield number, values


def _cell(value: Any, role: str, path: Path, row: int, field: str) -> Any:
    if isinstance(value, str):
        value = value.strip() if role == "label" else value
        if not value.strip():
            what = "label" if role == "label" else "text"
            raise KbertInputError(f"{what} is empty", source=str(path), row=row, field=field)
    elif value is None:
        raise KbertInputError("value is missing (null)", source=str(path), row=row, field=field)
    elif role != "label":
        raise KbertInputError(f"expected text, got {type(value).__name__} {value!r}",
                              source=str(path), row=row, field=field)
    return value


def infer_labels(values: Sequence[Any]) -> list[str]:
    """The sorted set of label names seen in a column (numerically when they are all integers;
    list-valued cells are multi-label and contribute each of their items).

    Example:
    >>> infer_labels(["1", "0", "1"])
    ['0', '1']
    >>> infer_labels([["PER", "LOC"], ["ORG"]])
    ['LOC', 'ORG', 'PER']
    """
    seen = set()
    for value in values:
        items = value if isinstance(value, (list, tuple)) else [value]
        seen.update(str(item).strip() for item in items)
    if all(_is_int(v) for v in seen):
        return sorted(seen, key=int)
    return sorted(seen)


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False
