"""Datasets by their Hugging Face name (online), read through the `datasets` library."""

from __future__ import annotations

import os

from kbert import network
from kbert.data.conll import TaggedSentences
from kbert.data.examples import TextExamples
from kbert.data.squad import QAExamples, from_articles
from kbert.errors import KbertInputError

# name -> (text column, pair column, label column, evaluation split); the label names come from
# the dataset's own ClassLabel feature.
KNOWN = {
    "glue/sst2": ("sentence", None, "label", "validation"),
    "glue/cola": ("sentence", None, "label", "validation"),
    "glue/mrpc": ("sentence1", "sentence2", "label", "validation"),
    "glue/qqp": ("question1", "question2", "label", "validation"),
    "glue/stsb": ("sentence1", "sentence2", "label", "validation"),
    "glue/mnli": ("premise", "hypothesis", "label", "validation_matched"),
    "glue/qnli": ("question", "sentence", "label", "validation"),
    "glue/rte": ("sentence1", "sentence2", "label", "validation"),
    "glue/wnli": ("sentence1", "sentence2", "label", "validation"),
    "imdb": ("text", None, "label", "test"),
    "ag_news": ("text", None, "label", "test"),
    "yelp_polarity": ("text", None, "label", "test"),
}


def load_hub_dataset(name: str, split: str = "train", *, text_column: str | None = None,
                     text_pair_column: str | None = None, label_column: str | None = None,
                     max_rows: int | None = None) -> tuple[TextExamples, list[str] | None]:
    """Loads a split of a Hugging Face dataset: (examples, label names or None).

    Example:
    >>> train, labels = load_hub_dataset("glue/sst2", "train")      # needs the network
    >>> dev, _ = load_hub_dataset("glue/sst2", "eval")               # "eval": the known dev split

    "org/name" paths and "builder/config" names both work; columns default to the ones in
    `KNOWN`. Offline, this fails at once with a message naming the local-file alternative.
    """
    known = KNOWN.get(name, (None, None, None, "validation"))
    text_column = text_column or known[0]
    text_pair_column = text_pair_column or known[1]
    label_column = label_column or known[2]
    if split == "eval":
        split = known[3]
    if text_column is None or label_column is None:
        raise KbertInputError(f"dataset {name!r} is not one kbert knows: give text_column and "
                              f"label_column (known: {', '.join(sorted(KNOWN))})", source=name)
    table = _download(name, split, max_rows, (text_column, text_pair_column, label_column))
    feature = table.features[label_column]
    names = list(feature.names) if hasattr(feature, "names") else None
    examples = TextExamples(
        table[text_column], table[text_pair_column] if text_pair_column else None,
        table[label_column], source=f"{name}[{split}]", text_field=text_column,
        text_pair_field=str(text_pair_column), label_field=label_column)
    return examples, names


def _download(name: str, split: str, max_rows: int | None, columns):
    """One split of a hub dataset (its first `max_rows`) as a `datasets.Dataset` that has the
    given columns; fails fast, naming the local-file alternative, when huggingface.co cannot be
    reached."""
    offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
    if not offline and not network.reachable("huggingface.co"):
        # Without this, `datasets` retries for half a minute before giving up.
        raise KbertInputError(
            f"dataset {name!r} must be downloaded from huggingface.co, which cannot be reached "
            "(offline?). Read local files with --train_file/--eval_file (kbert.data.read_table, "
            "read_conll), or set HF_DATASETS_OFFLINE=1 to use a local datasets cache.", source=name)
    import datasets  # Imported here: it is slow to import and only this path needs it.

    path, _, config = name.partition("/") if name.startswith("glue/") else (name, "", "")
    try:
        table = datasets.load_dataset(path, config or None, split=split)
    except (ConnectionError, OSError) as error:
        raise KbertInputError(
            f"could not download dataset {name!r}{' (HF_DATASETS_OFFLINE=1)' if offline else ''}: "
            f"{error}. Offline, read local files with --train_file/--eval_file "
            "(kbert.data.read_table, read_conll).", source=name) from None
    if max_rows is not None:
        table = table.select(range(min(max_rows, len(table))))
    for column in columns:
        if column is not None and column not in table.column_names:
            raise KbertInputError(f"no column {column!r}; it has {table.column_names}",
                                  source=f"{name}[{split}]", field=column)
    return table


def load_hub_tagging(name: str = "conll2003", split: str = "train", *,
                     tag_column: str = "ner_tags", words_column: str = "tokens",
                     max_rows: int | None = None) -> tuple[TaggedSentences, list[str]]:
    """Word-tagging sentences of a Hugging Face dataset (conll2003's "ner_tags" or "pos_tags"):
    (sentences, tag names from the dataset's own ClassLabel feature). Needs the network.

    Example:
    >>> train, tag_names = load_hub_tagging("conll2003", "train")
    >>> dev, _ = load_hub_tagging("conll2003", "eval")        # "eval": the validation split
    """
    split = "validation" if split == "eval" else split
    table = _download(name, split, max_rows, (words_column, tag_column))
    names = list(table.features[tag_column].feature.names)
    tags = [[names[t] for t in row] for row in table[tag_column]]
    return TaggedSentences(list(table[words_column]), tags, f"{name}[{split}]",
                           list(range(len(tags)))), names


def load_hub_squad(name: str = "squad", split: str = "train", *,
                   max_rows: int | None = None) -> QAExamples:
    """SQuAD-style questions of a Hugging Face dataset ("squad", "squad_v2"); every answer is
    checked as `read_squad` checks it. Needs the network.

    Example:
    >>> train = load_hub_squad("squad_v2", "train")
    >>> dev = load_hub_squad("squad_v2", "eval")          # "eval": the validation split
    """
    split = "validation" if split == "eval" else split
    table = _download(name, split, max_rows, ("id", "title", "context", "question", "answers"))
    articles = [{"title": row["title"], "paragraphs": [{"context": row["context"], "qas": [{
        "id": row["id"], "question": row["question"],
        "answers": [{"text": t, "answer_start": s} for t, s in
                    zip(row["answers"]["text"], row["answers"]["answer_start"])]}]}]}
        for row in table]
    return from_articles(articles, source=f"{name}[{split}]")
