"""Pre-tokenized inputs: the encoder's three arrays given directly, checked, and batched with
NumPy only.

What a user passes who tokenized elsewhere, or who runs where TensorFlow is absent (a JAX GPU
machine): `{"token_ids", "padding_mask", "segment_ids"}`, each [rows, width] integers, with
numeric targets in the form the task's loss takes them (class ids, floats, per-token tag ids
with -1 where no tag counts, start/end positions). Rows keep the width they come with (no
length buckets: they are padded already), and the epoch's batches follow the same
(seed, epoch) plan as text (`pipeline.plan_batches`), so checkpoints resume the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import numpy as np

from kbert.errors import KbertInputError
from kbert.preprocessing import pipeline

NAMES = ("token_ids", "padding_mask", "segment_ids")


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """What a task's loss takes as pre-tokenized targets, declared by the task and checked row by
    row (`as_pretokenized`): on the JAX backend an out-of-range class id trains silently on
    garbage, on TensorFlow it fails deep in the loss without naming the row.

    Example:
    >>> TargetSpec("class id", shapes=((), (1,)), low=0, high=1, integer=True)   # 2 classes

    `shapes`: the accepted shapes of one row's target, "tokens" standing for the row's width;
    `low` <= value <= `high` (`high="length"`: below the row's real token count, e.g. an
    answer's start and end positions), except the `ignore` value (a tag of -1: no tag counts
    there).
    """

    what: str
    shapes: tuple = ((),)
    low: float | None = None
    high: float | str | None = None
    integer: bool = False
    ignore: int | None = None

    def check(self, targets: np.ndarray, data: "PreTokenized") -> None:
        """Raises `KbertInputError` naming the first row whose target breaks this spec."""
        rows, width = len(data), data.width
        shapes = [tuple(width if d == "tokens" else d for d in shape) for shape in self.shapes]
        if targets.shape[1:] not in shapes:
            expected = " or ".join(str((rows, *shape)) for shape in shapes)
            raise KbertInputError(f"expected {self.what} targets of shape {expected}, got "
                                  f"{targets.shape}", source=data.source, field="y")
        raw = targets.reshape(rows, -1)
        values = raw.astype(np.float64)
        counted = np.ones(values.shape, bool) if self.ignore is None else values != self.ignore
        checks = []
        if self.integer:
            checks.append((values != np.round(values), f"a {self.what} must be a whole number"))
        high = data.lengths[:, None] - 1 if self.high == "length" else self.high
        too_low = values < self.low if self.low is not None else np.zeros(values.shape, bool)
        too_high = values > high if high is not None else np.zeros(values.shape, bool)
        where = ("the row's real tokens (0 to its length - 1)" if self.high == "length"
                 else f"{self.low}..{self.high}")
        checks.append((too_low | too_high, f"{self.what} outside {where}"))
        for bad, message in checks:
            bad_rows = np.flatnonzero((bad & counted).any(axis=1))
            if len(bad_rows):
                row = int(bad_rows[0])
                found = raw[row][(bad & counted)[row]][0]
                raise KbertInputError(f"{message} (got {found.item()!r}"
                                      + (f"; {self.ignore} marks no target" if self.ignore
                                         is not None else "") + ")",
                                      source=data.source, row=row, field="y")


@dataclasses.dataclass
class PreTokenized:
    """Checked pre-tokenized rows and their targets (None for prediction).

    Example:
    >>> data = as_pretokenized({"token_ids": ids, "padding_mask": mask, "segment_ids": segs},
    ...                        [0, 1], vocabulary_size=30522, max_length=512)
    >>> len(data), data.features["token_ids"].shape
    (2, (2, 16))
    """

    features: dict[str, np.ndarray]
    targets: np.ndarray | None = None
    source: str = "x"
    pairs: bool = False  # Whether rows hold two segments.

    def __len__(self) -> int:
        return len(self.features["token_ids"])

    @property
    def lengths(self) -> np.ndarray:
        return self.features["padding_mask"].sum(axis=1)

    @property
    def width(self) -> int:
        return self.features["token_ids"].shape[1]

    def arrays(self) -> list:
        """What the data is: the arrays a checkpoint's run is tied to (by their digest)."""
        return [*(self.features[name] for name in NAMES), self.targets]

    def steps_per_epoch(self, preprocessor, batch_size: int, group_by_length: bool) -> int:
        return pipeline.steps_per_epoch(self, [self.width], batch_size, group_by_length=False)

    def training_batches(self, preprocessor, batch_size: int, *, shuffle: bool, seed: int,
                         group_by_length: bool, start_step: int, steps: int) -> "TrainingBatches":
        """Batches of Keras's own loader for every backend (no tf.data), rows at their given
        width: the same plan text gets without length buckets."""
        plan = pipeline.planned_batches(self, [self.width], batch_size, shuffle=shuffle,
                                        seed=seed, group_by_length=False,
                                        start_step=start_step, steps=steps)
        return TrainingBatches(self.features, self.targets, plan)


def is_features(x) -> bool:
    """Whether `x` is pre-tokenized features: a mapping (never a valid text input), or one
    already checked (`PreTokenized`)."""
    return isinstance(x, (Mapping, PreTokenized))


class TrainingBatches(keras.utils.PyDataset):
    """The planned batches of pre-tokenized rows as NumPy arrays, one per step."""

    def __init__(self, features: dict, targets: np.ndarray, plan: list[np.ndarray]):
        super().__init__()
        self.features, self.targets, self.plan = features, targets, plan

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, index):
        rows = self.plan[index]
        return {k: v[rows] for k, v in self.features.items()}, self.targets[rows]


def as_pretokenized(x: Mapping, y=None, *, vocabulary_size: int, max_length: int,
                    name: str = "x", targets: TargetSpec | None = None) -> PreTokenized:
    """Checks pre-tokenized features (and targets): the three names, 2-D integer arrays of one
    shape, ids inside the vocabulary, masks of 0/1 with every row's padding at its end, and
    finite numeric targets, one per row, of the shape and range the task's loss takes
    (`targets`, declared by the task). A problem raises `KbertInputError` naming the field
    and the first bad row.

    Example:
    >>> as_pretokenized(x, [0, 2], vocabulary_size=30522, max_length=512,
    ...                 targets=TargetSpec("class id", low=0, high=1, integer=True))
    KbertInputError: x, row 1, field 'y': class id outside 0..1 (got 2)
    """
    if set(x) != set(NAMES):
        raise KbertInputError(f"pre-tokenized inputs are a dict of exactly {list(NAMES)}; got "
                              f"{sorted(map(str, x))} (raw inputs go in a list: texts, pairs, "
                              "records)", source=name)
    features = {}
    for field in NAMES:
        array = np.asarray(x[field])
        if array.ndim != 2 or not (np.issubdtype(array.dtype, np.integer)
                                   or array.dtype == bool):
            raise KbertInputError(f"expected a 2-D integer array [rows, tokens], got shape "
                                  f"{array.shape} of {array.dtype}", source=name, field=field)
        features[field] = array.astype(np.int32)
    shapes = {field: array.shape for field, array in features.items()}
    if len(set(shapes.values())) != 1:
        raise KbertInputError(f"the three arrays differ in shape: {shapes}", source=name)
    rows, width = features["token_ids"].shape
    if rows == 0 or width < 2 or width > max_length:
        raise KbertInputError(f"expected at least one row of 2 to {max_length} tokens (the "
                              f"encoder's longest), got shape {(rows, width)}", source=name)
    mask, ids = features["padding_mask"], features["token_ids"]
    checks = [("padding_mask", (mask != 0) & (mask != 1), "a padding mask holds only 0 and 1"),
              ("padding_mask", np.diff(mask, axis=1) > 0,
               "a 1 after a 0: padding must come at the end of the row"),
              ("padding_mask", mask[:, :1] == 0, "the row is empty (its first token is padding)"),
              ("token_ids", (ids < 0) | (ids >= vocabulary_size),
               f"a token id outside the vocabulary (0 to {vocabulary_size - 1})"),
              ("segment_ids", (features["segment_ids"] < 0) | (features["segment_ids"] > 1),
               "a segment id other than 0 or 1")]
    for field, bad, message in checks:
        bad_rows = np.flatnonzero(bad.any(axis=1))
        if len(bad_rows):
            raise KbertInputError(message, source=name, row=int(bad_rows[0]), field=field)
    # Rows with a second segment are pairs: an export then takes (text_a, text_b).
    data = PreTokenized(features, None if y is None else _checked_targets(y, rows, name),
                        source=name, pairs=bool(features["segment_ids"].any()))
    if data.targets is not None and targets is not None:
        targets.check(data.targets, data)
    return data


def _checked_targets(y, rows: int, name: str) -> np.ndarray:
    targets = np.asarray(y)
    if not (np.issubdtype(targets.dtype, np.number) or targets.dtype == bool):
        raise KbertInputError(f"pre-tokenized inputs take numeric targets, as the task's loss "
                              f"does (class ids, scores, per-token tag ids), got {targets.dtype}",
                              source=name, field="y")
    if len(targets) != rows:
        raise KbertInputError(f"{rows} rows but {len(targets)} targets", source=name, field="y")
    if np.issubdtype(targets.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(targets.reshape(rows, -1)).all(axis=1))
        if len(bad):
            raise KbertInputError("a target is NaN or infinite", source=name, row=int(bad[0]),
                                  field="y")
    return targets
