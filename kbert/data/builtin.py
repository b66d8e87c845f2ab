"""Small labelled datasets the project wrote itself, shipped inside the package for offline demos
and tests (no rows come from any benchmark)."""

from __future__ import annotations

import random
from pathlib import Path

from kbert.data.examples import TextExamples
from kbert.data.tables import read_table

_DIR = Path(__file__).parent / "builtin"


def product_reviews(eval_fraction: float = 0.25, seed: int = 0) -> tuple[TextExamples, TextExamples]:
    """320 short customer reviews (160 positive, 160 negative), split into train and held out.

    Example:
    >>> train, held_out = product_reviews()
    >>> len(train), len(held_out)
    (240, 80)
    """
    examples = read_table(_DIR / "product_reviews.tsv", "text", "label")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    cut = int(len(order) * (1 - eval_fraction))

    def subset(indices):
        return TextExamples([examples.texts[i] for i in indices], None,
                            [examples.labels[i] for i in indices], source=examples.source,
                            rows=[examples.rows[i] for i in indices], text_field="text",
                            label_field="label")

    return subset(order[:cut]), subset(order[cut:])
