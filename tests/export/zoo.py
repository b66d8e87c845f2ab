"""Every task's tiny model, fitted once per test session, and its exported files, each written
once per session, shared by the export matrices (test_every_task_exports.py: every task x every
precision; test_length_policy.py: every path on inputs of every length).

Each model is fitted one epoch at sequence_length 32 on the tiny backbone (64 positions), one
layer of it (every op of a deeper encoder, at a third less tracing and conversion), and saved; each file (SavedModel; .tflite per precision, dynamic or static) is written by the first
pytest-xdist worker that asks for it (`once_per_session`), the others reading what it wrote. A
worker's model is the saved one loaded back (`kbert.load_model`): the model every file was
exported from, with the same weights.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any, Callable

import kbert
from kbert import export
from tests.conftest import once_per_session, tiny_task

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
LENGTH = 32  # Every model's sequence_length; the tiny encoder has 64 positions.

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food",
         "the man plays with a dog and the cat sleeps in paris"]
LABELS = ["pos", "neg", "pos", "neg", "pos"]
PAIRS = [("a man plays", "a man plays"), ("a dog runs", "a cat sleeps"),
         ("the film was great", "i loved it"), ("a dull book", "the food was fine")]
PAIR_LABELS = ["same", "other", "same", "other"]
MULTI = [["PER"], ["FOOD"], ["PER", "LOC"], ["FOOD", "LOC"], ["PER"]]
SCORES = [4.5, 1.0, 4.0, 0.5, 3.0]

TAG_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
WORDS = [["jeremy", "lives", "in", "paris"], ["the", "man", "works", "in", "london"],
         ["jeremy", "loves", "berlin"]]
TAGS = [["B-PER", "O", "O", "B-LOC"], ["O", "O", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]]
# Longer than one 32-token window: read in several.
LONG = ("the man plays in london and the dog sleeps in paris and jeremy lives in berlin " * 3
        ).split()
LONG_TAGS = ["O", "O", "O", "O", "B-LOC", "O", "O", "O", "O", "O", "B-LOC", "O", "B-PER", "O",
             "O", "B-LOC"] * 3

CONTEXT = "jeremy lives in paris and the dog sleeps in london with the cat"
LONG_CONTEXT = CONTEXT + " and the man works in berlin and the woman lives in paris too"
SQUAD = [{"id": "a", "question": "who lives in paris ?", "context": CONTEXT,
          "answers": [{"text": "jeremy", "answer_start": 0}]},
         {"id": "b", "question": "the dog sleeps in ?", "context": CONTEXT,
          "answers": [{"text": "london", "answer_start": CONTEXT.index("london")}]},
         {"id": "c", "question": "who works in berlin ?", "context": LONG_CONTEXT,
          "answers": [{"text": "the man", "answer_start": LONG_CONTEXT.index("the man")}]}]
UNANSWERABLE = {"id": "d", "question": "what is the film ?", "context": CONTEXT, "answers": []}


@dataclasses.dataclass
class Case:
    build: Callable[[], Any]
    x: Any = None                   # inputs (unlabelled)
    y: Any = None                   # labels, where the task takes them apart
    raw: Callable[[], dict] | None = None   # the raw-string signature's inputs
    string_outputs: tuple[str, ...] = ()

    @property
    def eval_data(self):
        return self.x if self.y is None else (self.x, self.y)


def fitted(cls, x, y=None, **kwargs):
    model = tiny_task(cls, LENGTH, num_layers=1, **kwargs)
    model.fit(x, y, epochs=1, batch_size=4, seed=0, verbose=0)
    return model


CASES = {
    "classifier": Case(lambda: fitted(kbert.TextClassifier, TEXTS, LABELS, labels=["neg", "pos"]),
                       TEXTS, LABELS, lambda: {"text": TEXTS}, ("label",)),
    "pair_classifier": Case(
        lambda: fitted(kbert.TextClassifier, PAIRS, PAIR_LABELS, labels=["other", "same"]),
        PAIRS, PAIR_LABELS,
        lambda: {"text": [a for a, _ in PAIRS], "text_pair": [b for _, b in PAIRS]}, ("label",)),
    "multi_label": Case(
        lambda: fitted(kbert.TextClassifier, TEXTS, MULTI, labels=["PER", "LOC", "FOOD"],
                       multi_label=True, threshold=0.4),
        TEXTS, MULTI, lambda: {"text": TEXTS}, ("label",)),
    "regressor": Case(lambda: fitted(kbert.TextRegressor, TEXTS, SCORES), TEXTS, SCORES,
                      lambda: {"text": TEXTS}),
    "tagger": Case(lambda: fitted(kbert.TokenClassifier, WORDS + [LONG], TAGS + [LONG_TAGS],
                                  labels=TAG_LABELS),
                   WORDS + [LONG], TAGS + [LONG_TAGS],
                   lambda: {"text": [" ".join(w) for w in WORDS]}, ("label",)),
    "qa_v1": Case(lambda: fitted(kbert.QuestionAnswerer, SQUAD, doc_stride=8),
                  SQUAD, None, lambda: {"question": [r["question"] for r in SQUAD],
                                        "context": [r["context"] for r in SQUAD]}),
    "qa_v2": Case(lambda: fitted(kbert.QuestionAnswerer, SQUAD + [UNANSWERABLE], doc_stride=8,
                                 version_2_with_negative=True),
                  SQUAD + [UNANSWERABLE], None,
                  lambda: {"question": [r["question"] for r in SQUAD + [UNANSWERABLE]],
                           "context": [r["context"] for r in SQUAD + [UNANSWERABLE]]}),
    "embedder": Case(lambda: tiny_task(kbert.TextEmbedder, LENGTH, num_layers=1,
                                       pooling="mean", normalize=True), TEXTS, None, lambda: {"text": TEXTS}),
    "masked_lm": Case(lambda: tiny_task(kbert.MaskedLM, LENGTH, num_layers=1), TEXTS),
}
EXPORTABLE = [name for name in CASES if name != "masked_lm"]


class Zoo:
    """The session's models and files (the `zoo` fixture of tests/export/conftest.py)."""

    def __init__(self, tmp_path_factory):
        self._factory = tmp_path_factory
        self._models: dict[str, Any] = {}

    def _once(self, name: str, write: Callable[[Path], None]) -> Path:
        def compute(directory):
            write(directory)
            return {}

        return once_per_session(self._factory, f"zoo-{name}", compute)[0]

    def model(self, name: str):
        """The case's model: fitted and saved once per session, loaded back in each worker (a
        masked LM, which exports nothing, is built in each)."""
        if name not in self._models:
            if name == "masked_lm":
                self._models[name] = CASES[name].build()
            else:
                folder = self._once(f"{name}-model", lambda d: CASES[name].build().save(
                    str(d / "model.keras")))
                self._models[name] = kbert.load_model(str(folder / "model.keras"))
        return self._models[name]

    def saved_model(self, name: str) -> Path:
        """The model's SavedModel (both signatures)."""
        folder = self._once(f"{name}-saved_model",
                            lambda d: export.to_saved_model(self.model(name), d / "saved_model"))
        return folder / "saved_model"

    def tflite(self, name: str, quantization: str | None = None,
               sequence_length: int | None = None) -> Path:
        """The model's .tflite in `quantization`, dynamic length (or static `sequence_length`),
        with its metadata where MediaPipe's writer is installed."""
        file = f"{quantization or 'float32'}-{sequence_length or 'dynamic'}"
        folder = self._once(f"{name}-{file}", lambda d: export.to_tflite(
            self.model(name), d / "model.tflite", quantization=quantization,
            representative_data=CASES[name].x, sequence_length=sequence_length,
            metadata=HAS_MEDIAPIPE))
        return folder / "model.tflite"
