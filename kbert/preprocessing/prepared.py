"""`Prepared`: examples checked and tokenized once, with their targets, as every task's `prepare`
returns them for raw inputs.

A preprocessing type: the tasks make it (`Task.prepare`, an export's `pack`), the training loop
and inference batching read it; it imports nothing of those later stages.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kbert.data.examples import TextExamples
from kbert.errors import KbertInputError
from kbert.lazy import tf
from kbert.preprocessing import pipeline


@dataclasses.dataclass
class Prepared:
    """Examples tokenized once, with their targets: reused across epochs and evaluations.

    Example:
    >>> prepared = clf.prepare(["a gripping film", "dull"], ["pos", "neg"])
    >>> len(prepared), prepared.pairs
    (2, False)
    """

    examples: TextExamples
    encoded: pipeline.EncodedTexts
    targets: np.ndarray | tf.RaggedTensor | None
    pairs: bool = False  # Whether the inputs are (text_a, text_b) pairs.
    windows: Any = None  # For word-level tasks: how windows map back to words.

    # What the training loop asks of data held in memory (as of `features.PreTokenized`).
    def __len__(self) -> int:
        return len(self.encoded)

    @property
    def source(self) -> str:
        return self.examples.source

    def arrays(self) -> list:
        """What the data is: the arrays a checkpoint's run is tied to (by their digest)."""
        return [self.encoded.token_ids, self.encoded.segment_ids, self.targets]

    def steps_per_epoch(self, preprocessor, batch_size: int, group_by_length: bool) -> int:
        return pipeline.steps_per_epoch(self.encoded, preprocessor.bucket_lengths, batch_size,
                                        group_by_length)

    def training_batches(self, preprocessor, batch_size: int, **plan) -> tf.data.Dataset:
        """Padded (features, targets) batches of the steps `plan` names (see
        `pipeline.training_batches`)."""
        return pipeline.training_batches(preprocessor, self.encoded, self.targets, batch_size,
                                         **plan)


def require_targets(data, what: str) -> None:
    """Refuses data without labels (`Prepared` or `features.PreTokenized`) where `what` (a
    method's name: "fit", "evaluate_metrics"...) needs them, naming the data's source.

    Example:
    >>> require_targets(clf.prepare(["unlabelled text"]), "fit")
    Traceback (most recent call last):
    KbertInputError: x: fit needs labels: pass y, or examples read with a label column
    """
    if data.targets is None:
        raise KbertInputError(f"{what} needs labels: pass y, or examples read with a label "
                              "column", source=data.source)
