"""SQuAD-style question answering data: the official JSON (v1.1 and v2.0), checked answer by
answer, and the article-level split the evaluation needs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

from kbert.errors import KbertInputError


@dataclasses.dataclass
class QAExamples:
    """Questions with their context paragraph and answers (an empty list: unanswerable).

    `titles` holds each question's article, so a split never cuts an article in two.
    """

    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answers: list[list[dict]] | None  # [{"text", "answer_start"}...] per question
    titles: list[str]
    source: str = "x"

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_unanswerable(self) -> bool:
        return self.answers is not None and any(not a for a in self.answers)

    def select(self, indices: Sequence[int]) -> "QAExamples":
        pick = lambda values: [values[i] for i in indices]  # noqa: E731
        return QAExamples(pick(self.ids), pick(self.questions), pick(self.contexts),
                          None if self.answers is None else pick(self.answers),
                          pick(self.titles), self.source)

    def articles(self) -> list[str]:
        """Article titles in order of first appearance."""
        return list(dict.fromkeys(self.titles))

    def official_dataset(self) -> list[dict]:
        """The questions in the official JSON's `data` layout, as the official evaluation
        scripts read it."""
        return [{"title": title, "paragraphs": [{"context": context, "qas": [
            {"id": qid, "question": question, "answers": answers}]}]}
            for qid, question, context, answers, title in zip(
                self.ids, self.questions, self.contexts, self.answers, self.titles)]


def read_squad(path: str | Path) -> QAExamples:
    """Reads an official SQuAD v1.1 or v2.0 JSON file, checking every answer.

    Example:
    >>> squad = read_squad("squad_v1.1/dev-v1.1-part-a.json")
    >>> squad.questions[0], squad.answers[0][0]
    ('Which NFL team represented the AFC at Super Bowl 50?', {'text': 'Denver Broncos', 'answer_start': 177})

    v2.0 questions with `is_impossible` get an empty answer list. An answer whose text is not
    found at its `answer_start` (or lies outside the context) raises `KbertInputError` naming
    the file, the question id and the answer.
    """
    path = Path(path)
    if not path.is_file():
        raise KbertInputError("file not found", source=str(path))
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KbertInputError(f"not a valid SQuAD JSON file ({error})", source=str(path)) from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise KbertInputError("expected a JSON object with a 'data' list of articles "
                              "(the official SQuAD layout)", source=str(path))
    return from_articles(document["data"], source=str(path))


def from_articles(articles: list[dict], source: str = "x") -> QAExamples:
    """QAExamples from the official `data` list (articles -> paragraphs -> qas)."""
    examples = QAExamples([], [], [], [], [], source)
    for a, article in enumerate(articles):
        title = str(article.get("title", f"article {a}"))
        for paragraph in _field(article, "paragraphs", list, source, f"data[{a}]"):
            context = _field(paragraph, "context", str, source, f"data[{a}] ({title})")
            for qa in _field(paragraph, "qas", list, source, f"data[{a}] ({title})"):
                qid = str(qa.get("id", f"{title}/{len(examples)}"))
                where = f"question {qid}"
                question = _field(qa, "question", str, source, where)
                if not question.strip():
                    raise KbertInputError("the question is empty", source=source, field=where)
                impossible = bool(qa.get("is_impossible", False))
                answers = [] if impossible else _field(qa, "answers", list, source, where)
                examples.ids.append(qid)
                examples.questions.append(question)
                examples.contexts.append(context)
                examples.answers.append([_checked_answer(answer, i, context, source, where)
                                         for i, answer in enumerate(answers)])
                examples.titles.append(title)
    if not examples.ids:
        raise KbertInputError("no questions in the file", source=source)
    return examples


def _field(record: Any, name: str, kind: type, source: str, where: str):
    value = record.get(name) if isinstance(record, dict) else None
    if not isinstance(value, kind):
        raise KbertInputError(f"missing or malformed '{name}' (expected {kind.__name__})",
                              source=source, field=where)
    return value


def _checked_answer(answer: Any, index: int, context: str, source: str, where: str) -> dict:
    field = f"{where}, answers[{index}]"
    if not isinstance(answer, dict) or not isinstance(answer.get("text"), str) or \
            not isinstance(answer.get("answer_start"), int):
        raise KbertInputError("an answer needs 'text' (string) and 'answer_start' (integer)",
                              source=source, field=field)
    text, start = answer["text"], answer["answer_start"]
    if not text.strip():
        raise KbertInputError("the answer text is empty", source=source, field=field)
    if not 0 <= start < len(context) or start + len(text) > len(context):
        raise KbertInputError(f"answer_start={start} with {len(text)} characters lies outside "
                              f"the context ({len(context)} characters)", source=source,
                              field=field)
    if context[start:start + len(text)] != text:
        raise KbertInputError(f"the answer text {text!r} is not at answer_start={start} (the "
                              f"context has {context[start:start + len(text)]!r} there)",
                              source=source, field=field)
    return {"text": text, "answer_start": start}


def combine(parts: Sequence[QAExamples]) -> QAExamples:
    """The questions of several sources as one training set, in order.

    SQuAD 2.0's own training set is SQuAD 1.1's questions plus unanswerable ones, so a v2.0
    model is trained on a v1.1 file and a v2.0 file together. v2.0 files repeat most v1.1
    questions about the same paragraphs: a question asked again about the same paragraph is
    kept once (the first time), so it does not count twice.

    Example:
    >>> train = combine([read_squad("train-v1.1.json"), read_squad("train-v2.0.json")])
    """
    if not parts:
        raise ValueError("combine() needs at least one QAExamples.")
    seen, kept = set(), []
    for part in parts:
        if part.answers is None:
            raise ValueError(f"{part.source} has no answers: it cannot train.")
        keep = []
        for i, key in enumerate(zip(part.contexts, (q.strip() for q in part.questions))):
            if key not in seen:
                seen.add(key)
                keep.append(i)
        kept.append(part.select(keep))
    joined = lambda field: [v for part in kept for v in getattr(part, field)]  # noqa: E731
    return QAExamples(joined("ids"), joined("questions"), joined("contexts"), joined("answers"),
                      joined("titles"), " + ".join(part.source for part in parts))


def check_disjoint(train: QAExamples, evaluation: QAExamples) -> None:
    """Refuses an evaluation that shares a paragraph with the training data: the model would
    be scored on passages it was trained on (SQuAD splits by article for this reason)."""
    shared = set(train.contexts) & set(evaluation.contexts)
    if shared:
        i = next(i for i, c in enumerate(evaluation.contexts) if c in shared)
        raise KbertInputError(
            f"{len({t for t, c in zip(evaluation.titles, evaluation.contexts) if c in shared})} "
            f"evaluation article(s) share paragraphs with the training data ({train.source}), "
            f"first {evaluation.titles[i]!r}: split by article so that no paragraph is in both",
            source=evaluation.source, field=f"question {evaluation.ids[i]}")


def split_by_article(examples: QAExamples, train_articles: int) -> tuple[QAExamples, QAExamples]:
    """The questions of the first `train_articles` articles, and those of the rest: no article
    (so no paragraph) is shared between the two.

    Example:
    >>> train, evaluation = split_by_article(read_squad("dev-v1.1-part-a.json"), 30)
    """
    titles = examples.articles()
    if not 0 < train_articles < len(titles):
        raise ValueError(f"train_articles must be between 1 and {len(titles) - 1} "
                         f"({len(titles)} articles); got {train_articles}.")
    train_titles = set(titles[:train_articles])
    train = [i for i, t in enumerate(examples.titles) if t in train_titles]
    rest = [i for i, t in enumerate(examples.titles) if t not in train_titles]
    return examples.select(train), examples.select(rest)
