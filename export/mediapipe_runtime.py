"""Running an exported classifier or embedder the way an Android app with MediaPipe Tasks does:
the same C++ TextClassifier / TextEmbedder tasks, here through the `mediapipe` Python package,
tokenizing on their own from the vocabulary in the file's metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from kbert.verbosity import native_logs_quiet


def mediapipe_classify(tflite_path: str | Path, texts: Sequence[str]) -> list[dict[str, float]]:
    """Classifies raw texts with MediaPipe's TextClassifier: one {label: score} dict per text.

    Example:
    >>> mediapipe_classify("out/dynamic/model.tflite", ["a gripping film"])
    [{'positive': 0.97, 'negative': 0.03}]

    The file needs the metadata `kbert.export.write_metadata` adds. mediapipe (1.2.2) is a
    kbert dependency.
    """
    try:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.text import TextClassifier, TextClassifierOptions
    except ImportError as error:
        raise ImportError(f"MediaPipe is needed: pip install mediapipe==1.2.2 ({error})") \
            from None
    options = TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(tflite_path)),
                                    max_results=-1)
    results = []
    with native_logs_quiet():  # MediaPipe's graph start-up and LiteRT's logs (kbert.verbosity)
        classifier = TextClassifier.create_from_options(options)
    with classifier:
        for text in texts:
            (head,) = classifier.classify(text).classifications
            results.append({c.category_name: float(c.score) for c in head.categories})
    return results


def mediapipe_embed(tflite_path: str | Path, texts: Sequence[str]):
    """Embeds raw texts with MediaPipe's TextEmbedder: an array [texts, dim].

    Example:
    >>> mediapipe_embed("out/embedder.tflite", ["a gripping film"]).shape
    (1, 384)

    The file needs the metadata `kbert.export.write_metadata` adds to an exported
    `kbert.TextEmbedder` (a [1, dim] output). MediaPipe returns the vector as the model computes
    it (no extra normalization or quantization is requested).
    """
    import numpy as np

    try:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.text import TextEmbedder, TextEmbedderOptions
    except ImportError as error:
        raise ImportError(f"MediaPipe is needed: pip install mediapipe==1.2.2 ({error})") \
            from None
    options = TextEmbedderOptions(base_options=BaseOptions(model_asset_path=str(tflite_path)))
    with native_logs_quiet():  # MediaPipe's graph start-up and LiteRT's logs (kbert.verbosity)
        embedder = TextEmbedder.create_from_options(options)
    with embedder:
        return np.stack([np.asarray(embedder.embed(text).embeddings[0].embedding, np.float32)
                         for text in texts])
