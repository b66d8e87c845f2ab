"""TensorFlow, imported where it is first used rather than when kbert is imported.

The raw-text pipeline (tokenization and `tf.data` batching), `tf.data` streams, exports and
multi-worker training run on TensorFlow. A task built on the JAX backend and trained
on pre-tokenized arrays needs none of it, and GPU machines often keep TensorFlow out (its CUDA
pins clash with JAX's). kbert's modules take `tf` from here, so `import kbert` works without it
and the first use names what needs it. Keras has a lazy module of its own, but in its private
`keras.src` tree.

Example:
>>> from kbert.lazy import tf            # nothing imported yet
>>> tf.constant([1])                     # imports TensorFlow now (or raises MissingTensorFlow)
"""

from __future__ import annotations

import importlib
import sys
import types

INSTALL = "pip install tensorflow==2.20.0 tensorflow-text==2.20.1"


class MissingTensorFlow(ImportError):
    """A kbert feature that runs on TensorFlow was used where TensorFlow is not installed."""


class _LazyTensorFlow(types.ModuleType):
    def __getattr__(self, name):
        try:
            module = importlib.import_module("tensorflow")
        except ImportError as error:
            raise MissingTensorFlow(
                f"TensorFlow is not installed (`import tensorflow` failed: {error}). kbert needs "
                "it for raw text (tokenization, batching), tf.data inputs, export and multi-"
                "worker training. Without it, fit, evaluate and predict take pre-tokenized "
                "arrays: {'token_ids', 'padding_mask', 'segment_ids'} on the JAX backend. To "
                f"install it: {INSTALL}") from error
        value = getattr(module, name)
        setattr(self, name, value)  # Later lookups skip this method.
        return value


tf = _LazyTensorFlow("tensorflow")


def tensorflow_loaded() -> bool:
    """Whether TensorFlow has been imported (by kbert or anyone else) in this process."""
    return sys.modules.get("tensorflow") is not None


def is_dataset(value) -> bool:
    """Whether `value` is a `tf.data.Dataset`, without importing TensorFlow to find out: none
    can exist before TensorFlow is imported."""
    return tensorflow_loaded() and isinstance(value, sys.modules["tensorflow"].data.Dataset)
