"""Runs the windows the Kotlin core packed for the golden SQuAD questions through an exported QA
.tflite in LiteRT, decodes them with kbert's rules, and checks that every answer is exactly the
one kbert's own on-device pipeline (kbert.export.OnDeviceQuestionAnswerer) gives.

  android_demo/core/run_tests.sh        # writes build/goldens, incl. core_packed_qa_squad.tsv
  python android_demo/tools/check_tflite_qa.py --goldens android_demo/core/build/goldens \
      --qa_model runs/squad_v1/export/dynamic/model.tflite

Without --qa_model it exports a tiny random QA model (2 layers, hidden 32, kbert's MiniLM
vocabulary, L=384) to a temporary folder and checks against that: the answers are meaningless,
but the inputs, the runtime (LiteRT's CompiledModel) and the decoding are the app's. Exits 1 on
any difference.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kbert  # noqa: E402
from kbert import export, presets  # noqa: E402
from kbert.export.tflite import padded_inputs  # noqa: E402
from kbert.preprocessing import TextPreprocessor  # noqa: E402
from kbert.preprocessing.pipeline import EncodedTexts  # noqa: E402
from kbert.preprocessing.qa import QAWindows  # noqa: E402
from kbert.tasks.qa_decoding import decode_answers  # noqa: E402


def read_questions(path: Path) -> tuple[list[str], list[str]]:
    """Questions and contexts of a golden qa_*.tsv (its Q lines)."""
    text = lambda b64: base64.b64decode(b64).decode("utf-8")  # noqa: E731
    rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8")]
    pairs = [(text(r[1]), text(r[2])) for r in rows if r[0] == "Q"]
    return [q for q, _ in pairs], [c for _, c in pairs]


def code_point_index(text: str, utf16_index: int) -> int:
    """A UTF-16 index (Kotlin's) into `text` as a Python (code point) index."""
    return len(text.encode("utf-16-le")[:2 * utf16_index].decode("utf-16-le"))


def read_core_windows(path: Path, contexts: list[str]) -> QAWindows:
    """The Kotlin core's packing (core_packed_qa_squad.tsv) as kbert's QAWindows."""
    ints = lambda field: np.array([int(v) for v in field.split()], np.int64)  # noqa: E731
    ids, segments, example, offsets, token_word, max_context = [], [], [], [], [], []
    spans = [None] * len(contexts)
    for line in open(path, encoding="utf-8"):
        kind, q, *fields = line.rstrip("\n").split("\t")
        q = int(q)
        if kind == "S":
            flat = [code_point_index(contexts[q], i) for i in ints(fields[0])]
            spans[q] = np.array(flat, np.int64).reshape(-1, 2)
        else:
            ids.append(ints(fields[1]))
            segments.append(ints(fields[2]))
            example.append(q)
            offsets.append(int(fields[0]))
            token_word.append(ints(fields[3]))
            max_context.append(ints(fields[4]).astype(bool))
    lengths = np.array([len(i) for i in ids], np.int64)

    def ragged(rows):
        return tf.RaggedTensor.from_row_lengths(np.concatenate(rows).astype(np.int32), lengths)

    return QAWindows(EncodedTexts(ragged(ids), ragged(segments), lengths, truncated=0),
                     np.array(example), np.array(offsets), token_word, max_context, spans, None)


def tiny_qa_model(folder: Path) -> Path:
    """A random 2-layer QA model on MiniLM's vocabulary, exported with metadata (float32)."""
    import keras
    import keras_hub
    keras.utils.set_random_seed(0)
    tokenizer = presets.load_tokenizer("minilm_l6_uncased")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=384)
    model = kbert.QuestionAnswerer(backbone, TextPreprocessor(tokenizer, 384))
    path = folder / "model.tflite"
    # Static [1, 384], the inputs the Kotlin core pads its windows to (to_tflite's default is a
    # dynamic length); the metadata is written by the same call.
    export.to_tflite(model, path, sequence_length=384)
    return path


def check(qa_model: Path, goldens: Path) -> int:
    questions, contexts = read_questions(goldens / "qa_squad.tsv")
    windows = read_core_windows(goldens / "core_packed_qa_squad.tsv", contexts)
    device = export.OnDeviceQuestionAnswerer(qa_model)
    # The core's windows, padded as the app pads them, through CompiledModel, kbert's decoding.
    features = padded_inputs(windows.encoded.token_ids.to_list(),
                             windows.encoded.segment_ids.to_list(), device.sequence_length,
                             device.preprocessor.pad_id)
    starts, ends = zip(*(device.run(f) for f in features))
    core = decode_answers(windows, np.stack(starts), np.stack(ends), contexts,
                          n_best=device.n_best, max_answer_length=device.max_answer_length)
    # kbert's own on-device pipeline, from the raw strings.
    reference = device.best_spans(questions, contexts)
    same_windows = device.windows(questions, contexts).encoded.token_ids.to_list() == \
        windows.encoded.token_ids.to_list()
    differ = [q for q, (a, b) in enumerate(zip(core, reference))
              if (a.text, a.start, a.end) != (b.text, b.start, b.end)
              or abs(a.score - b.score) > 1e-9]
    print(f"{qa_model}: {len(questions)} questions, {len(features)} windows packed by the core; "
          f"windows identical to kbert's: {same_windows}; answers identical to kbert's "
          f"pipeline: {len(questions) - len(differ)}/{len(questions)} "
          f"({sum(bool(a.text) for a in core)} non-empty)")
    for q in differ[:10]:
        print(f"  {questions[q]!r}: core {core[q]} vs kbert {reference[q]}")
    return 0 if same_windows and not differ and questions else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goldens", required=True, type=Path)
    parser.add_argument("--qa_model", default="", help="exported QA .tflite (default: a tiny one)")
    args = parser.parse_args()
    for name in ("qa_squad.tsv", "core_packed_qa_squad.tsv"):
        if not (args.goldens / name).is_file():
            print(f"check_tflite_qa: {args.goldens / name} not found: run run_tests.sh with "
                  "../shared/data present first.", file=sys.stderr)
            return 1
    if args.qa_model:
        return check(Path(args.qa_model), args.goldens)
    with tempfile.TemporaryDirectory() as folder:
        return check(tiny_qa_model(Path(folder)), args.goldens)


if __name__ == "__main__":
    sys.exit(main())
