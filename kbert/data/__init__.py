"""Stage 1 of the pipeline: rows of text (and labels) from files, hubs and built-in sets."""

from kbert.data.builtin import product_reviews
from kbert.data.conll import TaggedSentences, entity_types, read_conll, tag_set, to_iob2
from kbert.data.examples import TextExamples
from kbert.data.squad import QAExamples, check_disjoint, combine, read_squad, split_by_article
from kbert.data.hub import KNOWN as KNOWN_HUB_DATASETS
from kbert.data.hub import load_hub_dataset, load_hub_squad, load_hub_tagging
from kbert.data.tables import infer_labels, read_table, stream_table

__all__ = ["TextExamples", "QAExamples", "read_squad", "split_by_article", "combine",
           "check_disjoint", "read_table", "stream_table", "infer_labels", "load_hub_dataset",
           "load_hub_tagging", "load_hub_squad",
           "KNOWN_HUB_DATASETS", "product_reviews", "read_conll", "TaggedSentences",
           "to_iob2", "entity_types", "tag_set"]
