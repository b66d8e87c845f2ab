"""Tokenization throughput: kbert's input pipeline (tensorflow-text WordPiece + packing, what
`fit` runs once per dataset) against Hugging Face `tokenizers` (Rust, batched), with the same
vocabulary, lower-casing and truncation, on the same IMDB reviews, in one process."""

from __future__ import annotations

import json
import time

from benchmarks import Section, markdown_table


def run(flags) -> Section:
    import tokenizers

    import kbert
    from kbert.preprocessing import TextPreprocessor, pipeline

    with open(flags.tokenize_file) as handle:
        texts = [json.loads(line)["text"] for line in handle]
    texts = texts[:2000] if flags.quick else texts
    length = flags.tokenize_sequence_length
    keras_tokenizer = kbert.presets.load_tokenizer(flags.preset)
    preprocessor = TextPreprocessor(keras_tokenizer, length)
    vocabulary = keras_tokenizer.get_vocabulary()
    hf = tokenizers.BertWordPieceTokenizer({t: i for i, t in enumerate(vocabulary)},
                                           lowercase=True, strip_accents=False)
    hf.enable_truncation(length)

    def kbert_side():
        return int(pipeline.encode(preprocessor, [texts]).lengths.sum())

    def hf_side():
        return sum(len(e.ids) for e in hf.encode_batch(texts))

    pipeline.encode(preprocessor, [texts[:64]])  # trace the graph once, outside the timing
    rows, speed = [], {}
    for name, side in [("kbert input pipeline (tensorflow-text)", kbert_side),
                       ("Hugging Face tokenizers encode_batch", hf_side)]:
        best, tokens = float("inf"), 0
        for _ in range(flags.repeats):
            start = time.perf_counter()
            tokens = side()
            best = min(best, time.perf_counter() - start)
        speed[name] = len(texts) / best
        rows.append([name, f"{best:.2f}", f"{len(texts) / best:,.0f}", f"{tokens / best:,.0f}",
                     f"{tokens:,}"])
    kbert_lengths = pipeline.encode(preprocessor, [texts]).lengths
    hf_lengths = [len(e.ids) for e in hf.encode_batch(texts)]
    differ = sum(int(a != b) for a, b in zip(kbert_lengths, hf_lengths))
    ratio = speed["kbert input pipeline (tensorflow-text)"] / speed[
        "Hugging Face tokenizers encode_batch"]
    table = markdown_table(["tokenizer", f"best of {flags.repeats}, s", "texts/s", "tokens/s",
                            "tokens"], rows)
    summary = (f"kbert / Hugging Face tokenizers, texts per second: **{ratio:.2f}x** (goal >= "
               f"1.0x). The two disagree on the token count of {differ} of {len(texts):,} texts "
               "(kbert lower-cases with tensorflow-text's NFKC case folding, as KerasHub's "
               "BertTokenizer does: ½ becomes 1⁄2, ß becomes ss, a lone ´ becomes a combining "
               "accent; Hugging Face's BERT normalizer lower-cases code point by code point).")
    setup = (f"{len(texts):,} IMDB reviews from {flags.tokenize_file}, lower-cased WordPiece with "
             f"{flags.preset}'s vocabulary, truncated to {length} tokens incl. [CLS]/[SEP]")
    return Section("Tokenization throughput", setup, table, summary)
