"""kbert: fine-tune BERT-family encoders with Keras 3 and KerasHub, export them for devices.

Example:
>>> import kbert
>>> clf = kbert.TextClassifier.from_preset("minilm_l6_uncased", labels=["negative", "positive"])
"""

import os

from kbert import verbosity

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Before keras imports TensorFlow: its start-up lines are printed while it is imported
# (KBERT_VERBOSITY asks for them; kbert.verbosity). Imported after keras or tensorflow, kbert can
# no longer hide those lines, only the ones of later native calls.
verbosity.quiet_environment()

import keras  # noqa: E402

verbosity.quiet_python_loggers()

from kbert import data, presets  # noqa: E402
from kbert.errors import CheckpointMismatch, KbertInputError, PresetError  # noqa: E402
from kbert.tasks import (MaskedLM, QuestionAnswerer, Task, TextClassifier,  # noqa: E402
                         TextEmbedder, TextRegressor, TokenClassifier)  # noqa: E402
from kbert.training.distill import distill  # noqa: E402

__version__ = "0.1.0"


def load_model(path: str) -> Task:
    """Loads a model saved with `model.save(path)`, preprocessor and label names included.

    Example:
    >>> clf.save("model.keras")
    >>> kbert.load_model("model.keras").predict_labels(["a gripping film"])
    """
    model = keras.saving.load_model(path)
    if not isinstance(model, Task):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a kbert task model.")
    return model


__all__ = ["verbosity", "TextClassifier", "TextRegressor", "TokenClassifier", "QuestionAnswerer",
           "TextEmbedder", "MaskedLM", "Task", "load_model", "distill", "data", "presets",
           "KbertInputError", "PresetError", "CheckpointMismatch"]
