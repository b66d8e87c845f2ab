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
    """Loads a model saved with `model.save(path)`, preprocessor and label names included; a
    folder is read as the programs write one (its model.keras). A path with no saved model is
    `KbertInputError` naming it (the programs' one `error:` line, not Keras's traceback).

    Example:
    >>> clf.save("model.keras")
    >>> kbert.load_model("model.keras").predict_labels(["a gripping film"])
    >>> kbert.load_model("runs/sst2")                   # runs/sst2/model.keras
    """
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.keras")):
        path = os.path.join(path, "model.keras")
    if "://" not in str(path) and not os.path.isfile(path):  # (Keras reads gs:// itself.)
        raise KbertInputError("no saved model here (a .keras file written by model.save, or "
                              "a folder holding model.keras)", source=str(path))
    model = keras.saving.load_model(path)
    if not isinstance(model, Task):
        raise KbertInputError(f"holds a {type(model).__name__}, not a kbert task model",
                              source=str(path))
    return model


__all__ = ["verbosity", "TextClassifier", "TextRegressor", "TokenClassifier", "QuestionAnswerer",
           "TextEmbedder", "MaskedLM", "Task", "load_model", "distill", "data", "presets",
           "KbertInputError", "PresetError", "CheckpointMismatch"]
