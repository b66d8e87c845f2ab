import json

import kbert
from tests import programs

CONLL = ("-DOCSTART- -X- -X- O\n\n" + "Jeremy NNP B-NP B-PER\nlives VBZ B-VP O\nin IN B-PP O\n"
         "Paris NNP B-NP B-LOC\n\nThe DT B-NP O\ndog NN I-NP O\nsleeps VBZ B-VP O\n\n") * 4


def run(*args):
    return programs.run("train_tagger", *args)


def test_ner_run_writes_model_and_per_type_metrics(one_layer_preset, tmp_path):
    data = tmp_path / "train.txt"
    data.write_text(CONLL)
    model_dir = tmp_path / "ner"
    result = run(f"--preset={one_layer_preset}", f"--train_file={data}", f"--eval_file={data}",
                 "--sequence_length=16", "--epochs=2", "--batch_size=4", f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["labels"] == ["O", "B-LOC", "B-PER"]
    assert {"f1", "precision", "recall", "f1_PER", "f1_LOC", "support_PER"} <= set(metrics["final"])
    assert (model_dir / "model.keras").is_file()
    assert any((model_dir / "logs").rglob("events.out.tfevents.*"))


def test_pos_run_uses_the_second_column_and_reports_accuracy(one_layer_preset, tmp_path):
    data = tmp_path / "train.txt"
    data.write_text(CONLL)
    model_dir = tmp_path / "pos"
    result = run(f"--preset={one_layer_preset}", f"--train_file={data}", f"--eval_file={data}",
                 "--tag_column=1", "--scheme=none", "--sequence_length=16", "--epochs=1",
                 f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["labels"] == ["DT", "IN", "NN", "NNP", "VBZ"]
    assert set(metrics["final"]) == {"loss", "accuracy", "macro_f1"}


def test_malformed_conll_line_fails_with_one_line_and_writes_nothing(one_layer_preset, tmp_path):
    data = tmp_path / "train.txt"
    data.write_text("Jeremy NNP B-NP B-PER\nlives\n")
    model_dir = tmp_path / "ner"
    result = run(f"--preset={one_layer_preset}", f"--train_file={data}", f"--model_dir={model_dir}")
    assert result.returncode != 0
    assert f"error: {data}, row 2" in result.stderr and "Traceback" not in result.stderr
    assert not model_dir.exists()


def test_lora_flags_give_a_lora_tagger_and_its_adapter_file(one_layer_preset, tmp_path):
    data = tmp_path / "train.txt"
    data.write_text(CONLL)
    model_dir = tmp_path / "ner_lora"
    result = run(f"--preset={one_layer_preset}", f"--train_file={data}", f"--eval_file={data}",
                 "--sequence_length=16", "--epochs=1", "--batch_size=4", "--finetuning=lora",
                 "--lora_rank=2", f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    model = kbert.load_model(model_dir / "model.keras")
    assert model.lora.config() == {"rank": 2, "targets": ["query", "value"]}
    rebuilt = kbert.Task.from_preset(one_layer_preset, adapter=str(model_dir / "adapter.lora.h5"))
    words = [["Jeremy", "lives", "in", "Paris"]]
    assert rebuilt.predict_scores(words)[0].tolist() == model.predict_scores(words)[0].tolist()


def test_scheme_none_trains_iob_looking_tags_as_plain_tags(one_layer_preset, tmp_path):
    # Issue 33, item 9: --scheme=none had no effect; chunk tags (B-NP, I-NP...) were still
    # decoded and scored as entities.
    data = tmp_path / "train.txt"
    data.write_text(CONLL)
    model_dir = tmp_path / "chunks"
    result = run(f"--preset={one_layer_preset}", f"--train_file={data}", f"--eval_file={data}",
                 "--tag_column=2", "--scheme=none", "--sequence_length=16", "--epochs=1",
                 f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert set(metrics["final"]) == {"loss", "accuracy", "macro_f1"}
    assert kbert.load_model(model_dir / "model.keras").scheme is None
