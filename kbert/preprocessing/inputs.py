"""Whatever a user passes as `x` (lists, pairs, pandas, kbert.data examples) to checked texts."""

from __future__ import annotations

from typing import Any

import numpy as np

from kbert.data.examples import TextExamples
from kbert.errors import KbertInputError, unwrapped_input_errors
from kbert.lazy import is_dataset, tf


def as_examples(x: Any, y: Any = None, *, name: str = "x") -> TextExamples:
    """Normalizes task inputs and checks every text.

    Example:
    >>> as_examples([("a man eats", "someone eats")], [1]).text_pairs
    ['someone eats']

    Accepts a list (or array, or pandas Series) of strings, a list of (text_a, text_b) pairs,
    a pandas DataFrame with one or two text columns, `kbert.data.TextExamples` (whose labels
    are used when `y` is None), or a finite `tf.data.Dataset` (`dataset_structure`), read whole
    here with its own labels. Empty, whitespace-only, missing or undecodable texts raise
    `KbertInputError` naming the row and field.
    """
    if is_dataset(x):
        x = _from_dataset(x, y, name)
        y = None
    if isinstance(x, TextExamples):
        examples = x if y is None else TextExamples(
            x.texts, x.text_pairs, y, x.source, x.rows, x.text_field, x.text_pair_field)
    else:
        examples = _from_python(x, y, name)
    for field, texts in zip((examples.text_field, examples.text_pair_field), examples.segments):
        for index, text in enumerate(texts):
            _check_text(text, examples, index, field)
    if len(examples) == 0:
        raise KbertInputError("no examples: the input is empty", source=examples.source)
    if examples.labels is not None and len(examples.labels) != len(examples):
        raise KbertInputError(
            f"{len(examples)} texts but {len(examples.labels)} labels", source=examples.source)
    return examples


def split_xy(data: Any, name: str = "validation_data") -> tuple[Any, Any]:
    """(x, y) of labelled data given as Keras's `validation_data`: a tuple is always (x, y),
    anything else (labelled `kbert.data` examples, SQuAD records) is x with its own labels.

    Example:
    >>> split_xy((["good", "bad"], ["pos", "neg"]))
    (['good', 'bad'], ['pos', 'neg'])

    Only labelled arguments are read this way: `predict` and `evaluate` never unpack, so a
    tuple of two (text_a, text_b) pairs stays two pairs there.
    """
    if isinstance(data, tuple):
        if len(data) != 2:
            raise KbertInputError(f"expected (x, y), got a tuple of {len(data)}; pass unlabelled "
                                  "inputs as a list", source=name)
        return data
    return data, None


def dataset_structure(dataset: "tf.data.Dataset", name: str = "x") -> tuple[bool, bool]:
    """(pairs, labelled) of a `tf.data.Dataset` of texts, batched or not: its elements are
    `text`, `(text_a, text_b)`, `(text, label)` or `((text_a, text_b), label)`, labels numeric
    (what `kbert.data.stream_table` gives). Anything else raises `KbertInputError`.

    Example:
    >>> dataset_structure(tf.data.Dataset.from_tensor_slices((["good", "bad"], [1, 0])))
    (False, True)

    A tuple of two strings is a pair, never a text with a string label: labels in a dataset
    are numbers, as `fit` trains on them.
    """
    spec = dataset.element_spec

    def text(s) -> bool:
        return isinstance(s, tf.TensorSpec) and s.dtype == tf.string and s.shape.rank in (0, 1)

    if text(spec):
        return False, False
    if isinstance(spec, tuple) and len(spec) == 2:
        x, y = spec
        if text(x) and text(y):
            return True, False
        pair = isinstance(x, tuple) and len(x) == 2 and all(map(text, x))
        if (text(x) or pair) and isinstance(y, tf.TensorSpec) and y.dtype != tf.string:
            return pair, True
    raise KbertInputError(
        "a tf.data.Dataset of texts holds text, (text_a, text_b), (text, label) or "
        f"((text_a, text_b), label) elements with numeric labels; got {spec}", source=name)


def _from_dataset(dataset: "tf.data.Dataset", y: Any, name: str) -> TextExamples:
    """The examples of a finite dataset, read whole (its rows numbered from 0)."""
    if y is not None:
        raise KbertInputError("a tf.data.Dataset carries its own labels: pass y=None",
                              source=name)
    pairs, labelled = dataset_structure(dataset, name)
    x_spec = dataset.element_spec[0] if labelled else dataset.element_spec
    first = x_spec[0] if isinstance(x_spec, tuple) else x_spec
    if first.shape.rank == 1:
        dataset = dataset.unbatch()
    if int(dataset.cardinality()) == tf.data.INFINITE_CARDINALITY:
        raise KbertInputError("the tf.data.Dataset is infinite (repeat()?): only fit reads a "
                              "stream for a number of steps; give a finite dataset", source=name)
    segments, labels = [[], []], []
    with unwrapped_input_errors():  # A bad row of a streamed file (stream_table) names itself.
        for element in dataset.as_numpy_iterator():
            x = element[0] if labelled else element
            for segment, text in zip(segments, x if pairs else (x,)):
                segment.append(_decoded(text))
            if labelled:
                label = element[1]
                labels.append(label.item() if np.ndim(label) == 0 else label)
    return TextExamples(segments[0], segments[1] if pairs else None,
                        labels if labelled else None, source=name)


def _decoded(text: bytes) -> str | bytes:
    """UTF-8 bytes as text; invalid bytes are kept, for `_check_text` to name the row."""
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        return text


def _from_python(x: Any, y: Any, name: str) -> TextExamples:
    if isinstance(x, (str, bytes)):
        raise KbertInputError("expected a list of texts, got a single string; wrap it in a list",
                              source=name)
    if hasattr(x, "columns") and hasattr(x, "iloc"):  # pandas DataFrame
        columns = list(x.columns)
        if len(columns) not in (1, 2):
            raise KbertInputError(f"a DataFrame of texts needs 1 or 2 columns, got {columns}",
                                  source=name)
        segments = [list(x[c]) for c in columns]
        fields = [str(c) for c in columns]
    else:
        items = list(x.tolist() if isinstance(x, np.ndarray) else x)
        is_pair = bool(items) and all(isinstance(i, (tuple, list, np.ndarray)) for i in items)
        if is_pair:
            for index, item in enumerate(items):
                if len(item) != 2:
                    raise KbertInputError(f"a pair needs exactly 2 texts, got {len(item)}",
                                          source=name, row=index)
            segments = [[i[0] for i in items], [i[1] for i in items]]
        else:
            segments = [items]
        fields = ["text", "text_pair"]
    labels = None
    if y is not None:
        labels = list(y.tolist() if hasattr(y, "tolist") else y)
    return TextExamples(segments[0], segments[1] if len(segments) == 2 else None, labels,
                        source=name, text_field=fields[0],
                        text_pair_field=fields[1] if len(fields) == 2 else "text_pair")


def _check_text(text: Any, examples: TextExamples, index: int, field: str) -> None:
    source, row = examples.where(index)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise KbertInputError(f"text is not valid UTF-8 ({error.reason} at byte {error.start})",
                                  source=source, row=row, field=field) from None
    if text is None or (isinstance(text, float) and np.isnan(text)):
        raise KbertInputError("text is missing", source=source, row=row, field=field)
    if not isinstance(text, str):
        raise KbertInputError(f"expected a string, got {type(text).__name__} {text!r}",
                              source=source, row=row, field=field)
    if not text.strip():
        raise KbertInputError("text is empty" if not text else "text is only whitespace",
                              source=source, row=row, field=field)
