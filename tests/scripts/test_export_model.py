import json

import kbert
from tests import programs



def test_export_script_writes_variants_and_a_readable_report(tiny_preset, tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\n" + "the film was great\tpos\na dull book\tneg\n" * 3)
    model = kbert.TextClassifier.from_preset(tiny_preset, labels=["neg", "pos"], sequence_length=32)
    model.fit(kbert.data.read_table(data, "sentence", "label"), epochs=1, verbose=0)
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    model.save(model_dir / "model.keras")
    result = programs.run(
        "export_model", f"--model_dir={model_dir}", f"--eval_file={data}",
        f"--train_file={data}", "--text_column=sentence", "--label_column=label",
        "--variants=float32,dynamic,int8", "--latency_examples=2", "--static_sequence_length=32")
    assert result.returncode == 0, result.stderr[-3000:]
    out = model_dir / "export"
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert (out / "float32" / "model.tflite").is_file() and (out / "int8" / "model.tflite").is_file()
    report = json.loads((out / "export_report.json").read_text())
    assert [row["variant"] for row in report["variants"]] == [
        "float32", "float32_static32", "dynamic", "dynamic_static32", "int8", "int8_static32"]
    rows = {row["variant"]: row for row in report["variants"]}
    assert rows["dynamic"]["mediapipe_agreement"] >= 0.5
    assert rows["float32"]["agreement"] == 1.0 and rows["float32_static32"]["agreement"] == 1.0
    # Each dynamic file beside its static twin, latency per length bucket.
    assert [rows[v]["dynamic_length"] for v in ("dynamic", "dynamic_static32")] == [True, False]
    assert "16" in rows["dynamic"]["latency_by_length_ms"]["1"]
    assert "16" in rows["dynamic_static32"]["latency_by_length_ms"]["1"]
    assert json.loads((out / "dynamic" / "metadata.json").read_text())["dynamic_length"]
    assert report["saved_model"]["max_abs_difference"] < 1e-4
    assert report["saved_model"]["label_agreement"] == 1.0
    table = (out / "export_report.md").read_text()
    assert "| float32 |" in table and "| int8 |" in table and "| int8_static32 |" in table
    assert "| dynamic | dynamic | " in table and "| dynamic_static32 | static | " in table
    assert "MediaPipe TextClassifier (dynamic" in table and "SavedModel raw-string" in table
    assert (out / "export_report.png").read_bytes()[:4] == b"\x89PNG"


def test_students_are_exported_beside_their_teacher_as_a_menu(tiny_preset, tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\n" + "the film was great\tpos\na dull book\tneg\n" * 3)
    teacher = kbert.TextClassifier.from_preset(tiny_preset, labels=["neg", "pos"],
                                               sequence_length=32)
    teacher.fit(kbert.data.read_table(data, "sentence", "label"), epochs=1, verbose=0)
    (tmp_path / "run").mkdir()
    teacher.save(tmp_path / "run" / "model.keras")
    student = kbert.distill(teacher, num_layers=1)
    student.fit(["the film was great", "a dull book"], epochs=1, verbose=0)
    (tmp_path / "small").mkdir()
    student.save(tmp_path / "small" / "model.keras")
    result = programs.run(
        "export_model", f"--model_dir={tmp_path / 'run'}", f"--students={tmp_path / 'small'}",
        f"--eval_file={data}", "--text_column=sentence", "--label_column=label",
        "--variants=float32,int4", "--latency_examples=2", "--nosaved_model")
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "run" / "export"
    assert (out / "small" / "int4" / "model.tflite").is_file()
    report = json.loads((out / "export_report.json").read_text())
    rows = {row["variant"]: row for row in report["variants"]}
    assert list(rows) == ["float32", "int4", "small (1 layers) float32", "small (1 layers) int4"]
    # The student's own float32 file is its Keras model; its agreement with the teacher is
    # measured against the teacher's Keras model on the same data.
    assert rows["small (1 layers) float32"]["agreement"] == 1.0
    assert 0.0 <= rows["small (1 layers) float32"]["teacher_agreement"] <= 1.0
    assert "teacher_agreement" not in rows["float32"]
    assert rows["small (1 layers) int4"]["bytes"] < rows["int4"]["bytes"] < rows["float32"]["bytes"]
    # MediaPipe ran the int4 files, timed per length bucket.
    for name in ("int4", "small (1 layers) int4"):
        assert rows[name]["mediapipe_agreement"] >= 0.5
        assert rows[name]["mediapipe_latency_ms"]["mean"] > 0
        assert "16" in rows[name]["mediapipe_latency_by_length_ms"]
    table = (out / "export_report.md").read_text()
    assert "| agreement with the teacher |" in table and "| % of float32 |" in table
    assert "| small (1 layers) int4 (MediaPipe, 1 core) | dynamic |" in table
    # A --students entry with no model is one line naming it, before any file is written.
    missing = programs.run(
        "export_model", f"--model_dir={tmp_path / 'run'}", f"--students={tmp_path / 'gone'}",
        f"--output_dir={tmp_path / 'export2'}", f"--eval_file={data}", "--text_column=sentence",
        "--label_column=label", "--variants=float32", "--nosaved_model")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr, missing.stderr[-3000:]
    assert f"error: {tmp_path / 'gone' / 'model.keras'}: no saved model here" in missing.stderr
    assert not (tmp_path / "export2").exists()


def test_a_tagger_gets_its_saved_model_and_on_device_check(tiny_preset, tmp_path):
    conll = tmp_path / "ner.txt"
    sentences = [[("jeremy", "B-PER"), ("lives", "O"), ("in", "O"), ("paris", "B-LOC")],
                 [("the", "O"), ("man", "O"), ("works", "O"), ("in", "O"), ("london", "B-LOC")]]
    conll.write_text("\n\n".join("\n".join(f"{w} X X {t}" for w, t in s) for s in sentences * 2)
                     + "\n")
    model = kbert.TokenClassifier.from_preset(tiny_preset, labels=["O", "B-PER", "B-LOC"],
                                              sequence_length=16)
    model.fit(kbert.data.read_conll(conll), epochs=1, verbose=0)
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    model.save(model_dir / "model.keras")
    result = programs.run("export_model", f"--model_dir={model_dir}", f"--eval_file={conll}",
                          "--variants=float32", "--latency_examples=1")
    assert result.returncode == 0, result.stderr[-3000:]
    out = model_dir / "export"
    report = json.loads((out / "export_report.json").read_text())
    # The SavedModel of a tagger (it used to be skipped): both signatures agree with Keras.
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert report["saved_model"]["max_abs_difference"] < 1e-4
    assert report["saved_model"]["token_ids_max_abs_difference"] < 1e-4
    assert report["saved_model"]["label_agreement"] == 1.0
    (row,) = report["variants"]
    assert row["agreement"] == 1.0 and row["metrics"]["f1"] == row["keras_metrics"]["f1"]
    assert "mediapipe_agreement" not in row  # MediaPipe has no tagging task: not attempted.
