"""Stage 1 of the pipeline: rows of text (and labels) from files, hubs and built-in sets."""

from kbert.data.builtin import product_reviews
from kbert.data.examples import TextExamples
from kbert.data.hub import KNOWN as KNOWN_HUB_DATASETS
from kbert.data.hub import load_hub_dataset
from kbert.data.tables import infer_labels, read_table

__all__ = ["TextExamples", "read_table", "infer_labels", "load_hub_dataset",
           "KNOWN_HUB_DATASETS", "product_reviews"]
