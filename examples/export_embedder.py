"""Exports the offline MiniLM as a mean-pooled, normalized sentence embedder (TFLite float32 and
dynamic-range, with metadata) and checks each against Keras on real sentences: cosine similarity
in LiteRT (kbert's tokenization) and in MediaPipe's TextEmbedder (its own tokenization).

  python examples/export_embedder.py --sentences_file=../shared/data/glue/STS-B/dev.tsv \
      --output_dir=runs/embedder_export
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags

import kbert
from kbert import export

FLAGS = flags.FLAGS
flags.DEFINE_string("sentences_file", "../shared/data/glue/STS-B/dev.tsv", "TSV with a "
                    "sentence1 column: the real sentences to compare on.")
flags.DEFINE_integer("max_sentences", 500, "Sentences compared.")
flags.DEFINE_string("output_dir", "runs/embedder_export", "Where the .tflite files go.")
flags.DEFINE_integer("sequence_length", 128, "TFLite input length.")


def main(argv):
    del argv
    sentences = list(kbert.data.read_table(FLAGS.sentences_file, "sentence1",
                                           max_rows=FLAGS.max_sentences).texts)
    embedder = kbert.TextEmbedder.from_preset(kbert.presets.OFFLINE_DEFAULT, pooling="mean",
                                              normalize=True, sequence_length=FLAGS.sequence_length)
    for quantization in (None, "dynamic"):
        path = Path(FLAGS.output_dir) / f"{quantization or 'float32'}.tflite"
        export.to_tflite(embedder, path, quantization=quantization)
        export.write_metadata(path, embedder, json_path=path.with_suffix(".json"))
        report = export.verify(path, sentences, reference=embedder, mediapipe=True,
                               latency_examples=50)
        print(json.dumps({"variant": quantization or "float32", "sentences": len(sentences),
                          **{k: report[k] for k in ("bytes", "min_cosine", "mean_cosine",
                                                    "mediapipe_min_cosine",
                                                    "mediapipe_mean_cosine", "latency_ms")}}),
              flush=True)


if __name__ == "__main__":
    app.run(main)
