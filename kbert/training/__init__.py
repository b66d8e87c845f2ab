"""The fine-tuning recipe task models compile and fit with: optimizer and schedule, metrics,
callbacks, and the run loop the scripts share. Imports no task module."""

from kbert.training.callbacks import EvaluationCallback
from kbert.training.loop import FitOptions
from kbert.training.optimizer import WarmupLinearDecay, bert_adamw, plan_schedule

__all__ = ["EvaluationCallback", "FitOptions", "WarmupLinearDecay", "bert_adamw", "plan_schedule"]
