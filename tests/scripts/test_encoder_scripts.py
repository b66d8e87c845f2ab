"""scripts/extract_features.py and scripts/pretrain_mlm.py on the tiny preset."""

import json

import numpy as np

import kbert
from tests import programs

TEXTS = ["the film was great and i loved it", "a dull book , really boring",
         "the man plays with the dog", "the cat sleeps in paris"]


def run(script, *args):
    return programs.run(script.removesuffix(".py"), *args)


def test_extract_features_streams_chunks_into_an_npy_with_an_index(one_layer_preset, tmp_path):
    source = tmp_path / "texts.txt"
    source.write_text(f"{TEXTS[0]}\n\n{TEXTS[1]}\n{TEXTS[2]}\n{TEXTS[3]}\n")
    out = tmp_path / "features"
    result = run("extract_features.py", f"--preset={one_layer_preset}", f"--input_file={source}",
                 f"--output_dir={out}", "--chunk_size=3", "--layers=0,-1", "--normalize",
                 "--sequence_length=32")
    assert result.returncode == 0, result.stderr[-3000:]
    vectors = np.load(out / "embeddings.npy")
    assert vectors.shape == (4, 64)
    lines = (out / "index.tsv").read_text().split("\n")[1:-1]
    assert [line.split("\t") for line in lines] == [["0", "1"], ["1", "3"], ["2", "4"], ["3", "5"]]
    embedder = kbert.TextEmbedder.from_preset(one_layer_preset, layers=[0, -1], normalize=True,
                                              sequence_length=32)
    np.testing.assert_allclose(vectors, embedder.embed(TEXTS), atol=1e-5)


def test_extract_features_names_the_row_without_text(one_layer_preset, tmp_path):
    source = tmp_path / "texts.jsonl"
    source.write_text('{"text": "the film"}\n{"body": "no text"}\n')
    result = run("extract_features.py", f"--preset={one_layer_preset}", f"--input_file={source}",
                 "--text_column=text", f"--output_dir={tmp_path / 'out'}", "--sequence_length=32")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"error: {source}, row 2, field 'text': no text" in result.stderr
    assert not (tmp_path / "out" / "embeddings.npy").exists()


def test_a_sequence_length_above_the_encoder_maximum_is_one_clear_line(one_layer_preset, tmp_path):
    source = tmp_path / "texts.txt"
    source.write_text("the film\n")
    result = run("extract_features.py", f"--preset={one_layer_preset}", f"--input_file={source}",
                 f"--output_dir={tmp_path / 'out'}", "--sequence_length=128")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "error: sequence_length=128 is outside what preset" in result.stderr


def test_pretrain_mlm_reports_heldout_loss_and_writes_a_loadable_encoder(one_layer_preset, tmp_path):
    source = tmp_path / "domain.txt"
    source.write_text("\n".join(TEXTS * 10) + "\n")
    out = tmp_path / "adapted"
    result = run("pretrain_mlm.py", f"--preset={one_layer_preset}", f"--train_file={source}",
                 f"--output_dir={out}", "--heldout_examples=8", "--epochs=2", "--batch_size=8",
                 "--learning_rate=5e-3", "--sequence_length=32")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_texts"] == 32 and metrics["heldout_texts"] == 8
    assert metrics["heldout_after"]["loss"] < metrics["heldout_before"]["loss"]
    clf = kbert.TextClassifier.from_preset(str(out / "encoder"), num_classes=2, sequence_length=32)
    assert clf.predict(TEXTS).shape == (4, 2)
