"""From start/end logits of every window to one answer per question: n-best spans across the
windows of a context, mapped back to characters, with the null score for unanswerable
questions. Pure numpy, the steps an app runs after the on-device model (the export's reference
pipeline calls these functions as they are); the logic of BERT's `write_predictions` and Hugging
Face's `postprocess_qa_predictions`."""

from __future__ import annotations

import dataclasses

import numpy as np

from kbert.preprocessing.qa import QAWindows


@dataclasses.dataclass
class Answer:
    """The best span of a context: its text and characters [start, end), its probability among
    the n-best spans, and how much the "no answer" score beats it (`null_score_diff`; a model
    that can abstain answers "" when this exceeds its threshold)."""

    text: str
    start: int
    end: int
    score: float
    null_score_diff: float


def decode_answers(windows: QAWindows, start_logits: np.ndarray, end_logits: np.ndarray,
                   contexts: list[str], *, n_best: int = 20,
                   max_answer_length: int = 30) -> list[Answer]:
    """One best non-null answer per question, from [windows, length] start and end logits.

    Example:
    >>> answers = decode_answers(windows, logits[..., 0], logits[..., 1], contexts)
    >>> answers[0].text, contexts[0][answers[0].start:answers[0].end]
    ('Denver Broncos', 'Denver Broncos')

    Per window, the `n_best` highest start and end logits over context tokens are paired; a
    span counts if it ends at or after its start, is at most `max_answer_length` tokens, and its
    start token has its maximal context in this window. The null score is the smallest
    [CLS] start + end score over the question's windows.
    """
    answers = []
    for q, context in enumerate(contexts):
        best_score, best_span, null_score, scores = -np.inf, None, np.inf, []
        for w in windows.windows_of(q):
            start, end = start_logits[w], end_logits[w]
            null_score = min(null_score, float(start[0] + end[0]))
            offset, words = int(windows.context_offset[w]), windows.token_word[w]
            if not len(words):
                continue
            context_start = start[offset:offset + len(words)]
            context_end = end[offset:offset + len(words)]
            top_starts = np.argsort(context_start)[::-1][:n_best]
            top_ends = np.argsort(context_end)[::-1][:n_best]
            for i in top_starts:
                if not windows.max_context[w][i]:
                    continue
                for j in top_ends:
                    if j < i or j - i + 1 > max_answer_length:
                        continue
                    score = float(context_start[i] + context_end[j])
                    scores.append(score)
                    if score > best_score:
                        best_score, best_span = score, (words[i], words[j])
        if best_span is None:
            answers.append(Answer("", 0, 0, 0.0, float("inf")))
            continue
        spans = windows.word_spans[q]
        start_char, end_char = int(spans[best_span[0], 0]), int(spans[best_span[1], 1])
        top = np.sort(scores)[::-1][:n_best]
        probability = float(1.0 / np.exp(top - best_score).sum())
        answers.append(Answer(context[start_char:end_char], start_char, end_char, probability,
                              null_score - best_score))
    return answers
