"""The fine-tuning recipe task models compile and fit with: optimizer and schedule, metrics,
callbacks, and the run loop the scripts share. Imports no task module."""

from kbert.training.callbacks import EvaluationCallback
from kbert.training.optimizer import WarmupLinearDecay, bert_adamw

__all__ = ["EvaluationCallback", "WarmupLinearDecay", "bert_adamw"]
