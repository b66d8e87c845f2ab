"""Evaluation metrics computed on whole prediction sets with scikit-learn and scipy."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics as skm

_EPS = 1e-7


def classification_report(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Single-label classification: loss, accuracy, F1 (binary for 2 classes, else macro),
    macro F1 and Matthews correlation.

    Example:
    >>> classification_report(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]))["accuracy"]
    0.6666666666666666
    """
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(-1)
    picked = probabilities[np.arange(len(labels)), labels]
    binary = probabilities.shape[-1] == 2
    all_classes = list(range(probabilities.shape[-1]))
    return {
        "loss": float(-np.log(np.clip(picked, _EPS, 1.0)).mean()),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "f1": float(skm.f1_score(labels, predicted, average="binary" if binary else "macro",
                                 labels=None if binary else all_classes, zero_division=0)),
        "macro_f1": float(skm.f1_score(labels, predicted, average="macro", labels=all_classes,
                                       zero_division=0)),
        "mcc": float(skm.matthews_corrcoef(labels, predicted)),
    }


def multilabel_report(labels: np.ndarray, probabilities: np.ndarray,
                      threshold: float = 0.5) -> dict[str, float]:
    """Multi-label classification: loss (binary cross-entropy), micro and macro F1, and the
    share of examples whose whole label set is right.

    Example:
    >>> multilabel_report(np.array([[1, 0], [1, 1]]), np.array([[.9, .2], [.7, .3]]))["micro_f1"]
    0.8
    """
    labels = np.asarray(labels).astype(int)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1 - _EPS)
    predicted = (p >= threshold).astype(int)
    return {
        "loss": float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()),
        "micro_f1": float(skm.f1_score(labels, predicted, average="micro", zero_division=0)),
        "macro_f1": float(skm.f1_score(labels, predicted, average="macro", zero_division=0)),
        "subset_accuracy": float(skm.accuracy_score(labels, predicted)),
    }


def regression_report(targets: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Regression: mean squared error (the loss), Pearson and Spearman correlation (x100 is
    how GLUE reports them; these are plain coefficients).

    Example:
    >>> regression_report(np.array([0., 1., 2.]), np.array([0.1, 0.9, 2.2]))["spearman"]
    1.0
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    return {
        "loss": float(np.mean((targets - scores) ** 2)),
        "pearson": float(stats.pearsonr(targets, scores)[0]),
        "spearman": float(stats.spearmanr(targets, scores)[0]),
    }


def tagging_report(true_tags: list[list[str]], predicted_tags: list[list[str]],
                   scheme: str | bool | None) -> dict[str, float]:
    """Word-level tagging: accuracy over words, and for IOB label sets entity-level precision,
    recall and F1 (micro over entities) with per-type F1 and support, by seqeval (an entity
    counts only if its type and both boundaries are right). `scheme` "IOB2" (or True) scores
    in seqeval's strict IOB2 mode; "IOB1" in its default conlleval mode, which reads IOB1 (an
    I-X after O opens an entity) and keeps an entity a file opens with B-X, where strict IOB1
    would drop it; None (or False): plain tags, accuracy and macro F1.

    Example:
    >>> tagging_report([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]], "IOB2")["f1"]
    0.0
    >>> tagging_report([["I-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]], "IOB1")["f1"]
    1.0
    """
    scheme = "IOB2" if scheme is True else None if scheme is False else scheme
    flat_true = [t for sentence in true_tags for t in sentence]
    flat_predicted = [t for sentence in predicted_tags for t in sentence]
    report = {"accuracy": float(np.mean([a == b for a, b in zip(flat_true, flat_predicted)]))}
    if scheme is None:
        report["macro_f1"] = float(skm.f1_score(flat_true, flat_predicted, average="macro",
                                                zero_division=0))
        return report
    from seqeval import metrics as seqeval_metrics  # Imported here: only tagging needs it.
    from seqeval.scheme import IOB2

    strict = {"mode": "strict", "scheme": IOB2} if scheme == "IOB2" else {}
    per_type = seqeval_metrics.classification_report(
        true_tags, predicted_tags, output_dict=True, zero_division=0, **strict)
    micro = per_type.pop("micro avg")
    report.update(precision=float(micro["precision"]), recall=float(micro["recall"]),
                  f1=float(micro["f1-score"]))
    for name, values in sorted(per_type.items()):
        if not name.endswith(" avg"):
            report[f"f1_{name}"] = float(values["f1-score"])
            report[f"precision_{name}"] = float(values["precision"])
            report[f"recall_{name}"] = float(values["recall"])
            report[f"support_{name}"] = float(values["support"])
    return report



def squad_report(dataset: list[dict], predictions: dict[str, str],
                 version_2: bool = False) -> dict[str, float]:
    """The official SQuAD scores (percent), by the official evaluation scripts as TF Model Garden
    ships them (copied in `kbert.training.official_squad`): v1.1 gives exact_match and f1; v2.0
    gives exact and f1 overall and on HasAns / NoAns questions ("" is the answer to an
    unanswerable question).

    Example:
    >>> squad_report(dataset, {"56be4db0acb8001400a502ec": "Denver Broncos"})
    {'exact_match': 100.0, 'f1': 100.0}
    """
    if not version_2:
        from kbert.training.official_squad import v1_1 as squad_evaluate_v1_1

        scores = squad_evaluate_v1_1.evaluate(dataset, predictions)
        return {"exact_match": 100.0 * scores["exact_match"], "f1": 100.0 * scores["final_f1"]}
    from kbert.training.official_squad import v2_0 as squad_evaluate_v2_0

    scores = squad_evaluate_v2_0.evaluate(dataset, predictions)
    return {key: float(scores[key]) for key in ("exact", "f1", "HasAns_exact", "HasAns_f1",
                                                "NoAns_exact", "NoAns_f1") if key in scores}


def best_null_threshold(dataset: list[dict], best_answers: dict[str, str],
                        null_score_diffs: dict[str, float]) -> tuple[float, float]:
    """(best F1, threshold): the null-score-difference threshold above which answering ""
    maximizes SQuAD v2.0 F1 on this data, found by the official evaluation's own search.

    Example:
    >>> best_null_threshold(dataset, {"q1": "Denver Broncos"}, {"q1": -3.2})
    (100.0, 0.0)
    """
    from kbert.training.official_squad import v2_0 as squad_evaluate_v2_0

    scores = squad_evaluate_v2_0.evaluate(dataset, best_answers, null_score_diffs)
    threshold = float(scores["final_f1_thresh"])
    # The search returns a question's own score difference; any value up to the next one gives
    # the same F1 here, and the midpoint keeps rounding (another runtime, quantization) from
    # flipping that question.
    above = [d for d in null_score_diffs.values() if d > threshold]
    if above:
        threshold = (threshold + min(above)) / 2.0
    return float(scores["final_f1"]), threshold
