"""Writes the golden files the Kotlin core (android_demo/core) must reproduce, computed by kbert's
own code on the real MiniLM vocabulary ("minilm_l6_uncased"):

  tokens_*.tsv   text -> token ids, by kbert's tokenizer (the TextPreprocessor's WordPiece path,
                 with the checkpoint's normalization): the committed tricky strings, every Unicode
                 code point on its own, SST-2 sentences and SQuAD questions and contexts; and
                 the tricky strings by KerasHub's own tokenizer (what models saved before kbert
                 read the checkpoint's normalization use), also with its accent stripping on
  normalization.txt  the normalization kbert's tokenizer applies (as BertNormalizer.toString)
  qa_*.tsv       question + context -> windows (kbert.preprocessing.qa.qa_windows), then window
                 logits -> answer (kbert.tasks.qa_decoding.decode_answers)
  packed_files.tsv  the files packed into .tflite models (kbert.export.metadata.packed_files):
                 a fixture packed the way the metadata populator packs, the settings model
                 below, and --qa_model
  qa_settings_model.tflite  a tiny random QA model (L=128) exported by kbert with non-default
                 settings, so its kbert.json holds them; model_settings.tsv: what kbert reads
                 in it (kbert.export.metadata.file_settings), and qa_model_settings.tsv: its
                 goldens packed and decoded with those settings (OnDeviceQuestionAnswerer.from_file)

  python android_demo/tools/write_goldens.py --out android_demo/core/build/goldens \
      [--qa_model runs/squad_v1/export/dynamic/model.tflite]

With --qa_model the QA logits are the exported model's, run through LiteRT as an app runs it
(kbert.export.OnDeviceQuestionAnswerer); without it they are seeded pseudo-random numbers. Sets
read from ../shared/data are skipped, with a message, when it is absent. Nothing written here is
committed: the SST-2 and SQuAD texts may not be copied into the repository.

File format (UTF-8, tab-separated; texts are base64 of their UTF-8 bytes, so any character
survives; character offsets are UTF-16 indices, as Kotlin and Java strings count):
  tokens: b64(text) \t ids
  packed_files: model path \t file name \t sha256 of its bytes
  qa:     P  L  doc_stride  max_query_length              once, first
          Q  b64(question)  b64(context)                  a question, then its lines:
          S  word spans (start end start end ...)
          W  context_offset  ids  segment_ids  token_word  max_context (0/1)   per window
          G  start_logits  end_logits                      per window, float32 values
          A  b64(text)  start  end  score  null_score_diff  b64(final text)  the expected answer
                                                                (final text: after the null threshold)
  model_settings: model path \t key \t value  (null_threshold "none" for a v1.1 model)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import zipfile
import unicodedata
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import kbert  # noqa: E402
from kbert import export, presets  # noqa: E402
from kbert.preprocessing import TextPreprocessor  # noqa: E402
from kbert.preprocessing.qa import qa_windows  # noqa: E402
from kbert.tasks.qa_decoding import decode_answers  # noqa: E402

HERE = Path(__file__).resolve().parent
TRICKY = HERE.parent / "core" / "src" / "test" / "resources" / "tricky_strings.txt"
SHARED_DATA = HERE.parents[2] / "shared" / "data"
PRESET = "minilm_l6_uncased"
# The QA model was trained on the first 30 articles of this file (RESULTS.md): questions come
# from the articles after them.
SQUAD_FILE = "squad_v1.1/dev-v1.1-part-a.json"
SQUAD_TRAIN_ARTICLES = 30
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[tnr\\])")


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def ints(values) -> str:
    return " ".join(str(int(v)) for v in values)


def utf16(text: str, index: int) -> int:
    """Python's code point index into `text` as a UTF-16 index (Kotlin's String index)."""
    return len(text[:index].encode("utf-16-le")) // 2


def read_tricky_strings(path: Path = TRICKY) -> list[str]:
    def unescape(match):
        code = match.group(1)
        return {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(code) or chr(int(code[1:], 16))

    lines = path.read_text(encoding="utf-8").split("\n")
    return [_ESCAPE.sub(unescape, line) for line in lines if line and not line.startswith("#")]


def tokenize(preprocessor: TextPreprocessor, texts: list[str]) -> list[list[int]]:
    """kbert's tokenization of each text: the TextPreprocessor's tokenizer, in a TF graph."""
    return [[int(i) for i in ids] for ids in preprocessor.word_pieces(texts).to_list()]


def write_tokens(path: Path, preprocessor: TextPreprocessor, texts: list[str]) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for text, ids in zip(texts, tokenize(preprocessor, texts)):
            f.write(f"{b64(text)}\t{ints(ids)}\n")
    return len(texts)


def every_code_point() -> list[str]:
    """Each assigned code point (in Python's Unicode database) as a one-character text."""
    return [chr(c) for c in range(0x110000)
            if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn"]


def sst2_sentences(train_rows: int) -> list[str]:
    glue = SHARED_DATA / "glue" / "SST-2"
    dev = kbert.data.read_table(glue / "dev.tsv", "sentence", "label").texts
    train = kbert.data.read_table(glue / "train.tsv", "sentence", "label",
                                  max_rows=train_rows).texts
    return list(dev) + list(train)


def squad_questions(count: int, longest: int) -> kbert.data.QAExamples:
    """`count` questions of the held-out articles, plus `longest` more on their longest contexts
    (the ones that need several windows)."""
    _, held_out = kbert.data.split_by_article(kbert.data.read_squad(SHARED_DATA / SQUAD_FILE),
                                              SQUAD_TRAIN_ARTICLES)
    first = list(range(min(count, len(held_out))))
    rest = sorted(range(len(first), len(held_out)), key=lambda i: -len(held_out.contexts[i]))
    seen_contexts, extra = set(), []
    for i in rest:  # One question per long context.
        if held_out.contexts[i] not in seen_contexts and len(extra) < longest:
            seen_contexts.add(held_out.contexts[i])
            extra.append(i)
    return held_out.select(first + extra)


def write_qa(path: Path, preprocessor: TextPreprocessor, questions: list[str],
             contexts: list[str], *, doc_stride: int, max_query_length: int, logits,
             n_best: int = 20, max_answer_length: int = 30,
             null_threshold: float | None = None) -> dict:
    """Packs the questions, gets each window's logits from `logits(windows)` and decodes them."""
    length = preprocessor.sequence_length
    windows = qa_windows(preprocessor, questions, contexts, doc_stride=doc_stride,
                         max_query_length=max_query_length)
    starts, ends = logits(windows)
    answers = decode_answers(windows, starts, ends, list(contexts), n_best=n_best,
                             max_answer_length=max_answer_length)
    # kbert's final text (OnDeviceQuestionAnswerer.final_text): "" above the null threshold.
    final = ["" if null_threshold is not None and a.null_score_diff > null_threshold else a.text
             for a in answers]
    ids, segments = windows.encoded.token_ids.to_list(), windows.encoded.segment_ids.to_list()
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"P\t{length}\t{doc_stride}\t{max_query_length}\n")
        for q, (question, context) in enumerate(zip(questions, contexts)):
            f.write(f"Q\t{b64(question)}\t{b64(context)}\n")
            spans = [utf16(context, c) for span in windows.word_spans[q] for c in span]
            f.write(f"S\t{ints(spans)}\n")
            for w in windows.windows_of(q):
                f.write(f"W\t{windows.context_offset[w]}\t{ints(ids[w])}\t{ints(segments[w])}\t"
                        f"{ints(windows.token_word[w])}\t{ints(windows.max_context[w])}\n")
                f.write("G\t" + " ".join(repr(float(v)) for v in starts[w]) + "\t"
                        + " ".join(repr(float(v)) for v in ends[w]) + "\n")
            a = answers[q]
            f.write(f"A\t{b64(a.text)}\t{utf16(context, a.start)}\t{utf16(context, a.end)}\t"
                    f"{a.score!r}\t{a.null_score_diff!r}\t{b64(final[q])}\n")
    return {"questions": len(questions), "windows": len(ids),
            "multi_window_questions": int(np.sum(np.bincount(windows.example) > 1)),
            "answered": sum(bool(a.text) for a in answers), "final_non_empty": sum(map(bool, final))}


# Settings unlike kbert's defaults (384, 128, 64, 20, 30, v1.1), so that reading them counts.
QA_SETTINGS = {"doc_stride": 40, "max_query_length": 24, "n_best": 7, "max_answer_length": 9,
               "version_2_with_negative": True, "null_threshold": -0.03125}
QA_SETTINGS_LENGTH = 128


def qa_settings_model(path: Path, tokenizer) -> Path:
    """A random 2-layer QA model on MiniLM's vocabulary with QA_SETTINGS, exported by kbert
    (static [1, 128] inputs) with its metadata, kbert.json included."""
    import keras
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=QA_SETTINGS_LENGTH)
    model = kbert.QuestionAnswerer(backbone, TextPreprocessor(tokenizer, QA_SETTINGS_LENGTH),
                                   **QA_SETTINGS)
    export.to_tflite(model, path, sequence_length=QA_SETTINGS_LENGTH)
    return path


def write_model_settings(path: Path, models: list[Path]) -> None:
    """What kbert reads in each model's kbert.json, as OnDeviceQuestionAnswerer.from_file
    takes it."""
    with open(path, "w", encoding="utf-8") as f:
        for model in models:
            stored = export.metadata.file_settings(model)
            s = stored["settings"]
            rows = {"task": stored["task"], "window_length": stored["window_length"],
                    "lowercase": str(bool(stored["lowercase"])).lower(),
                    "normalization": normalization_text(stored.get("normalization")),
                    **{k: s[k] for k in ("doc_stride", "max_query_length", "n_best",
                                         "max_answer_length")},
                    "null_threshold": repr(float(s["null_threshold"]))
                    if s["version_2_with_negative"] else "none"}
            for key, value in rows.items():
                f.write(f"{model.resolve()}\t{key}\t{value}\n")


def normalization_text(config: dict | None) -> str:
    """A recorded normalization as the Kotlin core's BertNormalizer.toString writes it."""
    if config is None:
        return "none"
    strip = config["lowercase"] if config.get("strip_accents") is None else config["strip_accents"]
    flag = lambda value: str(bool(value)).lower()  # noqa: E731
    return (f"lowercase={flag(config['lowercase'])} strip_accents={flag(strip)} "
            f"chinese_chars={flag(config.get('chinese_chars', True))} "
            f"clean_text={flag(config.get('clean_text', True))}")


def write_packed_files(path: Path, models: list[Path]) -> None:
    """What kbert reads packed in each model: name and SHA-256 of every file."""
    with open(path, "w", encoding="utf-8") as f:
        for model in models:
            for name, content in export.packed_files(model).items():
                f.write(f"{model.resolve()}\t{name}\t{hashlib.sha256(content).hexdigest()}\n")


def packed_fixture(path: Path, files: dict[str, str]) -> Path:
    """Bytes standing for a model, with files appended as a zip archive the way MediaPipe's
    metadata populator appends them (zipfile in append mode on a file that is not a zip; stored,
    and here also deflated, which other zip writers use)."""
    buffer = io.BytesIO(b"TFL3" + bytes(range(256)) * 4)
    with zipfile.ZipFile(buffer, "a") as archive:
        for i, (name, text) in enumerate(files.items()):
            archive.writestr(name, text, zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED)
    path.write_bytes(buffer.getvalue())
    return path


def random_logits(seed: int):
    """Seeded float32 logits, [windows, L]: deterministic stand-ins for a model's outputs."""
    def logits(windows):
        rng = np.random.default_rng(seed)
        shape = (len(windows.example), int(windows.encoded.token_ids.bounding_shape()[1]))
        return tuple((rng.standard_normal(shape) * 3).astype(np.float32) for _ in range(2))
    return logits


def model_logits(device):
    """Each window through the exported model in LiteRT, batch 1, as the app runs it."""
    def logits(windows):
        outputs = [device.run(f) for f in device.window_features(windows)]
        return np.stack([s for s, _ in outputs]), np.stack([e for _, e in outputs])
    return logits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--qa_model", default="", help="exported QA .tflite (with metadata)")
    parser.add_argument("--sst2_train_rows", type=int, default=1500)
    parser.add_argument("--squad_questions", type=int, default=220)
    parser.add_argument("--squad_long_contexts", type=int, default=40)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer = presets.load_tokenizer(PRESET)
    preprocessor = TextPreprocessor(tokenizer, 384)
    summary = {"preset": PRESET, "qa_logits": args.qa_model or "seeded pseudo-random"}

    # What WordPiece runs on: kbert's vocabulary, one token a line.
    vocabulary = tokenizer.get_vocabulary()
    if any(re.search(r"[\r\n]", t) for t in vocabulary):
        sys.exit(f"{PRESET}'s vocabulary holds a token with a line break: vocab.txt cannot hold it")
    (args.out / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")

    settings_model = qa_settings_model(args.out / "qa_settings_model.tflite", tokenizer)
    qa_models = [settings_model] + ([Path(args.qa_model)] if args.qa_model else [])
    models = [packed_fixture(args.out / "packed_fixture.tflite",
                             {"vocab.txt": "\n".join(vocabulary) + "\n",
                              "labels.txt": "negative\npositive\n"})]
    write_packed_files(args.out / "packed_files.tsv", models + qa_models)
    write_model_settings(args.out / "model_settings.tsv", qa_models)

    normalization = getattr(tokenizer, "normalization", None)
    (args.out / "normalization.txt").write_text(
        normalization_text(None if normalization is None else normalization.get_config()) + "\n")
    tricky = read_tricky_strings()
    summary["tricky_strings"] = write_tokens(args.out / "tokens_tricky.tsv", preprocessor, tricky)
    # The same strings by KerasHub's own tokenizer (models saved before kbert read the
    # checkpoint's normalization), and with its accent stripping on.
    for name, strip in (("tokens_tricky_keras_hub.tsv", False),
                        ("tokens_tricky_strip_accents.tsv", True)):
        write_tokens(args.out / name, TextPreprocessor(keras_hub.models.BertTokenizer(
            vocabulary=vocabulary, lowercase=True, strip_accents=strip), 384), tricky)
    summary["code_points"] = write_tokens(args.out / "tokens_code_points.tsv", preprocessor,
                                          every_code_point())
    # Contexts: the tricky strings themselves, asked one question, in small windows.
    summary["qa_tricky"] = write_qa(
        args.out / "qa_tricky.tsv", TextPreprocessor(tokenizer, 32), ["What is it?"] * len(tricky),
        tricky, doc_stride=8, max_query_length=8, logits=random_logits(1))

    if not SHARED_DATA.is_dir():
        print(f"write_goldens: {SHARED_DATA} not found: no SST-2 or SQuAD goldens "
              "(the Kotlin tests that need them are skipped).", file=sys.stderr)
    else:
        summary["sst2_sentences"] = write_tokens(args.out / "tokens_sst2.tsv", preprocessor,
                                                 sst2_sentences(args.sst2_train_rows))
        squad = squad_questions(args.squad_questions, args.squad_long_contexts)
        contexts = list(dict.fromkeys(squad.contexts))
        summary["squad_texts"] = write_tokens(args.out / "tokens_squad.tsv", preprocessor,
                                              list(squad.questions) + contexts)
        if args.qa_model:
            device = export.OnDeviceQuestionAnswerer(args.qa_model)
            if device.preprocessor.tokenizer.get_vocabulary() != vocabulary:
                sys.exit(f"{args.qa_model} packs a vocabulary other than {PRESET}'s")
            if device.sequence_length != preprocessor.sequence_length:
                sys.exit(f"{args.qa_model} takes {device.sequence_length} tokens; the goldens "
                         f"use kbert's default, {preprocessor.sequence_length}")
            qa_logits = model_logits(device)
        else:
            qa_logits = random_logits(2)
        summary["qa_squad"] = write_qa(args.out / "qa_squad.tsv", preprocessor, squad.questions,
                                       squad.contexts, doc_stride=128, max_query_length=64,
                                       logits=qa_logits)
        # Short windows: most contexts need several, so the stride and max-context rules count.
        summary["qa_squad_short_windows"] = write_qa(
            args.out / "qa_squad_short_windows.tsv", TextPreprocessor(tokenizer, 96),
            squad.questions, squad.contexts, doc_stride=24, max_query_length=16,
            logits=random_logits(3))
    # The settings model's goldens, packed and decoded with what its kbert.json says (stride 40,
    # query 24, n-best 7, answers of 9 tokens at most, v2.0 null threshold -1/32) and its own logits.
    device = export.OnDeviceQuestionAnswerer.from_file(settings_model)
    questions, contexts = ["What is it?"] * len(tricky), list(tricky)
    if SHARED_DATA.is_dir():
        questions, contexts = questions + list(squad.questions), contexts + list(squad.contexts)
    summary["qa_model_settings"] = write_qa(
        args.out / "qa_model_settings.tsv", device.preprocessor, questions, contexts,
        doc_stride=device.doc_stride, max_query_length=device.max_query_length,
        logits=model_logits(device), n_best=device.n_best,
        max_answer_length=device.max_answer_length, null_threshold=device.null_threshold)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
