"""Running an exported classifier or embedder the way an Android app with MediaPipe Tasks does:
the same C++ TextClassifier / TextEmbedder tasks, here through the `mediapipe` Python package,
tokenizing on their own from the vocabulary in the file's metadata.

MediaPipe's BERT tokenizer cannot be configured. Measured with mediapipe 1.2.2
(benchmarks/mediapipe_tokenizer.py; RESULTS.md, issue 34), as its C++ reads
(bert_preprocessor_calculator.cc, tasks/cc/text/tokenizers/bert_tokenizer.h): it lowercases
ASCII letters only ("É", "Σ", "Д", "Ａ" stay as they are), keeps accents, folds nothing (no
NFKC: "ﬁ", "ß", "，" stay), drops no control or zero-width character, splits on ASCII
whitespace, ASCII punctuation, Unicode punctuation and CJK ideographs, and sends a word of more
than 100 bytes to [UNK]. Where the file records the checkpoint's normalization (kbert.json), an
app normalizes the text first, as the Android demo does with the Kotlin core's
`BertNormalizer`: MediaPipe then gives the checkpoint's tokens, except on words of more than
100 bytes (but at most 100 characters) and on the CJK extension-E code points U+2B820-U+2B91F,
which MediaPipe splits off and the checkpoint's tokenizer does not.
`normalize_for_mediapipe` is that step in Python; the functions here apply it by default.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence, overload

from kbert.verbosity import native_logs_quiet


def recorded_normalization(tflite_path: str | Path):
    """The `Normalization` a file's kbert.json records, or None: a model saved before kbert
    recorded it (KerasHub's tokenization, which MediaPipe's matches on ASCII text), or a file
    without kbert's metadata.

    Example:
    >>> recorded_normalization("out/model.tflite")
    Normalization(lowercase=True, strip_accents=None, ...)
    """
    from kbert.export.metadata import SETTINGS_FILE, packed_files
    from kbert.preprocessing.tokenizer import Normalization

    packed = packed_files(tflite_path)
    if SETTINGS_FILE not in packed:
        return None
    config = json.loads(packed[SETTINGS_FILE].decode("utf-8")).get("normalization")
    return None if config is None else Normalization.from_config(config)


@overload
def normalize_for_mediapipe(tflite_path: str | Path, texts: str) -> str: ...
@overload
def normalize_for_mediapipe(tflite_path: str | Path, texts: Sequence[str]) -> list[str]: ...


def normalize_for_mediapipe(tflite_path, texts):
    """The text to hand MediaPipe's TextClassifier / TextEmbedder so that its own tokenizer
    produces the checkpoint's tokens: the normalization the file's kbert.json records
    (`Normalization.normalize_text`, the Kotlin core's `BertNormalizer` on Android); the texts
    unchanged for a file that records none. One string in, one string out; a list gives a list.

    Example:
    >>> normalize_for_mediapipe("out/model.tflite", "Le Café était très agréable")
    'le cafe etait tres agreable'
    """
    normalization = recorded_normalization(tflite_path)
    single = isinstance(texts, str)
    batch = [texts] if single else [str(t) for t in texts]
    if normalization is not None:
        batch = normalization.normalize_texts(batch)
    return batch[0] if single else batch


def mediapipe_classify(tflite_path: str | Path, texts: Sequence[str], *,
                       normalize: bool = True,
                       timings: list[float] | None = None) -> list[dict[str, float]]:
    """Classifies raw texts with MediaPipe's TextClassifier: one {label: score} dict per text.

    Example:
    >>> mediapipe_classify("out/dynamic/model.tflite", ["a gripping film"])
    [{'positive': 0.97, 'negative': 0.03}]

    The file needs the metadata `kbert.export.write_metadata` adds. mediapipe (1.2.2) is a
    kbert dependency. `normalize`: first apply the normalization the file records
    (`normalize_for_mediapipe`), as an app does; False hands MediaPipe the raw text.
    `timings`: a list that gets the milliseconds of each classify call (MediaPipe's own
    tokenization included), after one untimed warm-up call.
    """
    if normalize:
        texts = normalize_for_mediapipe(tflite_path, list(texts))
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
        if timings is not None and texts:
            classifier.classify(texts[0])  # Warm-up: the first call allocates.
        for text in texts:
            start = time.perf_counter()
            (head,) = classifier.classify(text).classifications
            if timings is not None:
                timings.append((time.perf_counter() - start) * 1000)
            results.append({c.category_name: float(c.score) for c in head.categories})
    return results


def mediapipe_embed(tflite_path: str | Path, texts: Sequence[str], *, normalize: bool = True,
                    timings: list[float] | None = None):
    """Embeds raw texts with MediaPipe's TextEmbedder: an array [texts, dim].

    Example:
    >>> mediapipe_embed("out/embedder.tflite", ["a gripping film"]).shape
    (1, 384)

    The file needs the metadata `kbert.export.write_metadata` adds to an exported
    `kbert.TextEmbedder` (a [1, dim] output). MediaPipe returns the vector as the model computes
    it (no extra normalization or quantization is requested). `normalize`: as in
    `mediapipe_classify`, the text normalization the file records is applied first, and
    `timings` gets each embed call's milliseconds.
    """
    import numpy as np

    if normalize:
        texts = normalize_for_mediapipe(tflite_path, list(texts))

    try:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.text import TextEmbedder, TextEmbedderOptions
    except ImportError as error:
        raise ImportError(f"MediaPipe is needed: pip install mediapipe==1.2.2 ({error})") \
            from None
    options = TextEmbedderOptions(base_options=BaseOptions(model_asset_path=str(tflite_path)))
    with native_logs_quiet():  # MediaPipe's graph start-up and LiteRT's logs (kbert.verbosity)
        embedder = TextEmbedder.create_from_options(options)
    vectors = []
    with embedder:
        if timings is not None and texts:
            embedder.embed(texts[0])  # Warm-up: the first call allocates.
        for text in texts:
            start = time.perf_counter()
            vector = embedder.embed(text).embeddings[0].embedding
            if timings is not None:
                timings.append((time.perf_counter() - start) * 1000)
            vectors.append(np.asarray(vector, np.float32))
    return np.stack(vectors)
