"""kbert: fine-tune BERT-family encoders with Keras 3 and KerasHub, export them for devices.

Example:
>>> import kbert
>>> clf = kbert.TextClassifier.from_preset("minilm_l6_uncased", labels=["negative", "positive"])
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from kbert import data, presets  # noqa: E402
from kbert.errors import CheckpointMismatch, KbertInputError, PresetError  # noqa: E402
from kbert.tasks import (MaskedLM, QuestionAnswerer, Task, TextClassifier,  # noqa: E402
                         TextEmbedder, TextRegressor, TokenClassifier)  # noqa: E402

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


__all__ = ["TextClassifier", "TextRegressor", "TokenClassifier", "QuestionAnswerer", "TextEmbedder", "MaskedLM", "Task", "load_model", "data", "presets",
           "KbertInputError", "PresetError", "CheckpointMismatch"]
