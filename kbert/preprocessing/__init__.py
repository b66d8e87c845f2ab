"""Stage 2: tokenize, pack and pad text into the tensors the encoder consumes."""

from kbert.preprocessing.inputs import as_examples
from kbert.preprocessing.pipeline import EncodedTexts, encode
from kbert.preprocessing.text import TextPreprocessor, default_bucket_lengths

__all__ = ["TextPreprocessor", "default_bucket_lengths", "as_examples", "encode", "EncodedTexts"]
