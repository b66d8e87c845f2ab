"""Sentence similarity with no training: cosine similarity of TextEmbedder vectors against STS-B
gold scores (Spearman). all-MiniLM-L6-v2 was trained for this with mean pooling, so this checks
that the checkpoint conversion and the pooling are right; other poolings and layers are listed
beside it.

  python examples/zero_shot_similarity.py --sts_file=../shared/data/glue/STS-B/dev.tsv
"""

from __future__ import annotations

import json

import numpy as np
from absl import app, flags
from scipy import stats

import kbert

FLAGS = flags.FLAGS
flags.DEFINE_string("sts_file", "../shared/data/glue/STS-B/dev.tsv", "STS-B TSV (sentence1, "
                    "sentence2, score).")
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
flags.DEFINE_list("poolings", ["mean", "cls", "max", "pooler"], "Poolings to compare.")
flags.DEFINE_list("layer_modes", ["last", "last4_concat"], "Layer modes to compare.")
flags.DEFINE_integer("sequence_length", 128, "Maximum tokens per sentence.")


def main(argv):
    del argv
    pairs = kbert.data.read_table(FLAGS.sts_file, "sentence1", "score", text_pair_column="sentence2")
    gold = np.array([float(s) for s in pairs.labels])
    results = []
    for pooling in FLAGS.poolings:
        for layers in FLAGS.layer_modes:
            if pooling == "pooler" and layers != "last":
                continue
            embedder = kbert.TextEmbedder.from_preset(
                FLAGS.preset, pooling=pooling, layers=layers, normalize=True,
                sequence_length=FLAGS.sequence_length)
            first, second = embedder.embed(pairs.texts), embedder.embed(pairs.text_pairs)
            cosine = (first * second).sum(-1)
            spearman = float(stats.spearmanr(cosine, gold)[0])
            results.append({"pooling": pooling, "layers": layers, "spearman": round(100 * spearman, 2),
                            "pairs": len(gold)})
            print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    app.run(main)
