"""What MediaPipe's BERT tokenizer does to text, by measurement (issue 34).

MediaPipe's TextClassifier / TextEmbedder tokenize on their own from the vocab.txt packed in the
file, and nothing about it can be configured. This script finds out which tokens it produces:
a random 2-layer BERT with the MiniLM checkpoint's 30,522-token vocabulary (every token its
own random embedding, so different token rows give different vectors) is exported as a kbert
TextEmbedder (float32, dynamic length, kbert's metadata). Each text is embedded by MediaPipe,
raw and after the checkpoint's normalization (`normalize_for_mediapipe`, what apps do with the
Kotlin core's `BertNormalizer`), and each vector is compared with the same file run in LiteRT
on the token ids of every candidate tokenization. A candidate whose vector equals MediaPipe's
(max abs difference <= 1e-5) is what MediaPipe tokenized the text into.

Candidates:
- checkpoint: the checkpoint's own tokenizer.json (Hugging Face `tokenizers`), the reference;
- kbert: kbert's tokenizer (`kbert.presets.load_tokenizer`, the checkpoint's normalization);
- keras_hub: KerasHub's BertTokenizer (NFKC case folding, accents kept): models saved before
  issue 34;
- mediapipe_source: MediaPipe's C++ as read (bert_preprocessor_calculator.cc: ASCII-only
  lowercasing, `absl::AsciiStrToLower`; bert_tokenizer.h: RE2 split on ASCII whitespace,
  ASCII punctuation, \\p{P} and the CJK blocks (extension E from U+2B820), WordPiece with a
  100-byte word limit), rebuilt with tensorflow-text's kernels.

Run it as a module (as a file, its own folder would go first on sys.path); it imports nothing
from its package, so it runs wherever the benchmarks package sits:

    python -m benchmarks.mediapipe_tokenizer
"""

from __future__ import annotations

import os
import string
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# (name, text): casing, accents, CJK, full-width forms, ligatures, control and zero-width
# characters, whitespace, and the two places where MediaPipe's split differs from BERT's.
TEXTS = [
    ("ascii", "The film was GREAT, really."),
    ("accents", "Le café était très agréable, à Montréal."),
    ("accents (diaeresis)", "naïve résumé coöperate façade"),
    ("accents (uppercase)", "ÉCOLE Über SÃO PAULO"),
    ("Turkish dotted I", "İstanbul ılık"),
    ("Cyrillic", "Москва и Санкт-Петербург"),
    ("Greek (final sigma)", "ΣΟΦΙΑ σοφίας"),
    ("Vietnamese", "Tiếng Việt có dấu"),
    ("German sharp s", "Straße STRASSE"),
    ("Chinese", "中文分词测试，金融舆情监测系统。"),
    ("Japanese kana", "日本語のテキスト、カタカナとひらがな。"),
    ("Korean", "한국어 텍스트"),
    ("full-width forms", "ＡＢＣ，ｆｏｏ！１２３"),
    ("ligatures", "ﬁnance ﬂow ﬀ"),
    ("smart quotes, dashes", "“quoted” — ‘single’ … done"),
    ("emoji", "great 😀 movie 👍🏽"),
    ("zero-width, soft hyphen", "zero\u200bwidth soft\u00adhyphen join\u200dme"),
    ("control characters", "tab\there bell\x07ring form\x0cfeed"),
    ("non-ASCII spaces", "no\u00a0break ideographic\u3000space thin\u2009space"),
    ("long Cyrillic word", "Д" * 60),  # 60 characters, 120 bytes
    ("CJK extension E", "a\U0002B820b"),  # BERT's range starts there, the crate's at U+2B920
]
TOLERANCE = 1e-5
# MediaPipe's delimiters, verbatim from mediapipe/tasks/cc/text/tokenizers/bert_tokenizer.h.
_CJK_RANGES = (r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|"
               r"[\x{2A700}-\x{2B73F}]|[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|"
               r"[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]")
MEDIAPIPE_DELIM = r"(\s+|[!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]|" + _CJK_RANGES + ")"
MEDIAPIPE_INCLUDE_DELIM = r"([!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]|" + _CJK_RANGES + ")"


def mediapipe_source_tokens(texts: list[str], vocabulary: list[str]) -> list[list[int]]:
    """Token ids of MediaPipe's BERT preprocessing as its C++ reads: ASCII lowercasing, RE2
    split, tensorflow-text's WordPiece (100 bytes a word, [UNK] for a word it cannot cover)."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    lower = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
    words = tf_text.regex_split(tf.constant([t.translate(lower) for t in texts]),
                                MEDIAPIPE_DELIM, MEDIAPIPE_INCLUDE_DELIM)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int64)), -1)
    wordpiece = tf_text.WordpieceTokenizer(table, suffix_indicator="##", max_bytes_per_word=100,
                                           token_out_type=tf.int64, unknown_token="[UNK]")
    return [list(map(int, row)) for row in wordpiece.tokenize(words).merge_dims(-2, -1).to_list()]


def candidate_tokens(texts: list[str], tokenizer, checkpoint_dir: str) -> dict[str, list]:
    """{candidate: token ids per text (no [CLS] / [SEP])}."""
    import keras_hub
    import tokenizers

    vocabulary = tokenizer.get_vocabulary()
    reference = tokenizers.Tokenizer.from_file(os.path.join(checkpoint_dir, "tokenizer.json"))
    reference.no_padding()  # The file pads to 128 and truncates: each text's own tokens here.
    reference.no_truncation()
    keras = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    return {
        "checkpoint": [e.ids[1:-1] for e in reference.encode_batch(texts)],
        "kbert": _id_rows(tokenizer(texts)),
        "keras_hub": _id_rows(keras(texts)),
        "mediapipe_source": mediapipe_source_tokens(texts, vocabulary),
    }


def _id_rows(tokens) -> list[list[int]]:
    # KerasHub's tokenizers give lists (or ragged tensors, in a graph).
    rows = tokens.to_list() if hasattr(tokens, "to_list") else tokens
    return [list(map(int, row)) for row in rows]


def _matches(vector, by_candidate: dict, index: int, gaps: dict) -> list[str]:
    """The candidates whose vector equals `vector`; `gaps` keeps the largest difference of a
    match and the smallest of a non-match, to show the tolerance separates them."""
    import numpy as np

    found = []
    for name, vectors in by_candidate.items():
        difference = float(np.abs(vectors[index] - vector).max())
        if difference <= TOLERANCE:
            found.append(name)
            gaps["match"] = max(gaps["match"], difference)
        else:
            gaps["non_match"] = min(gaps["non_match"], difference)
    return found


def _cell(text: str) -> str:
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return shown.replace("|", "\\|")


def measure() -> dict:
    """Runs the measurement; returns {"rows": [...], "normalization": ...}."""
    import keras
    import keras_hub
    import numpy as np

    import kbert
    from kbert import export
    from kbert.export.litert_runtime import LiteRtModel
    from kbert.preprocessing import TextPreprocessor

    tokenizer = kbert.presets.load_tokenizer("minilm_l6_uncased")
    vocabulary = tokenizer.get_vocabulary()
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=512)
    model = kbert.TextEmbedder(backbone, TextPreprocessor(tokenizer, 128), pooling="mean")
    texts = [text for _, text in TEXTS]
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "embedder.tflite")
        export.to_tflite(model, path)  # float32, dynamic length, kbert's metadata
        normalization = export.recorded_normalization(path)
        normalized = export.normalize_for_mediapipe(path, texts)
        raw_vectors = export.mediapipe_embed(path, texts, normalize=False)
        normalized_vectors = export.mediapipe_embed(path, normalized, normalize=False)
        candidates = candidate_tokens(texts, tokenizer, kbert.presets.resolve("minilm_l6_uncased"))
        runner = LiteRtModel(path)
        cls, sep = vocabulary.index("[CLS]"), vocabulary.index("[SEP]")

        def embed(ids):
            row = np.array([[cls, *ids, sep]], np.int32)
            return np.asarray(runner(ids=row, mask=np.ones_like(row),
                                     segment_ids=np.zeros_like(row))["embedding"]).reshape(-1)

        by_candidate = {name: [embed(ids) for ids in rows] for name, rows in candidates.items()}
    rows, gaps = [], {"match": 0.0, "non_match": float("inf")}
    for i, (name, text) in enumerate(TEXTS):
        tokens = {c: [vocabulary[t] for t in candidates[c][i]] for c in candidates}
        rows.append({"name": name, "text": text, "normalized": normalized[i],
                     "raw": _matches(raw_vectors[i], by_candidate, i, gaps),
                     "after_normalization": _matches(normalized_vectors[i], by_candidate, i,
                                                     gaps),
                     "tokens": tokens})
    return {"rows": rows, "normalization": normalization, "gaps": gaps}


def table(result: dict) -> str:
    """The Markdown table of `measure()`'s rows."""
    header = ["case", "text", "MediaPipe raw equals", "MediaPipe raw tokens",
              "MediaPipe after normalization equals", "checkpoint tokens"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in result["rows"]:
        raw_tokens = (" ".join(row["tokens"][row["raw"][0]]) if row["raw"] else "(none matched)")
        lines.append("| " + " | ".join([
            row["name"], _cell(row["text"]), ", ".join(row["raw"]) or "none",
            _cell(raw_tokens), ", ".join(row["after_normalization"]) or "none",
            _cell(" ".join(row["tokens"]["checkpoint"]))]) + " |")
    return "\n".join(lines)


def main() -> int:
    result = measure()
    print(f"normalization recorded in kbert.json: {result['normalization']}")
    print(table(result))
    rows = result["rows"]
    raw = sum("checkpoint" in r["raw"] for r in rows)
    normalized = sum("checkpoint" in r["after_normalization"] for r in rows)
    source = sum("mediapipe_source" in r["raw"] for r in rows)
    print(f"\nMediaPipe on raw text equals the checkpoint's tokens on {raw}/{len(rows)} texts, "
          f"MediaPipe's C++ as read (mediapipe_source) on {source}/{len(rows)}; after the "
          f"checkpoint's normalization it equals the checkpoint's tokens on "
          f"{normalized}/{len(rows)}.")
    print(f"Largest difference of a match {result['gaps']['match']:.2e}, smallest of a "
          f"non-match {result['gaps']['non_match']:.2e} (tolerance {TOLERANCE:g}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
