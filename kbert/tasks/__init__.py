"""Stage 3: task models, each a KerasHub BertBackbone plus one head."""

from kbert.tasks.classifier import TextClassifier
from kbert.tasks.embedder import TextEmbedder
from kbert.tasks.masked_lm import MaskedLM
from kbert.tasks.question_answerer import QuestionAnswerer
from kbert.tasks.regressor import TextRegressor
from kbert.tasks.tagger import TokenClassifier
from kbert.tasks.task import Prepared, Task

__all__ = ["Task", "Prepared", "TextClassifier", "TextRegressor", "TokenClassifier", "QuestionAnswerer", "TextEmbedder", "MaskedLM"]
