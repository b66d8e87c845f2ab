import io
import json
import logging
import shutil
import zipfile

import keras_hub
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import kbert
from kbert import export
from kbert.export import metadata as metadata_module
from tests.conftest import one_layer_task

fb = pytest.importorskip(
    "mediapipe.tasks.metadata.metadata_schema_py_generated",
    reason="TFLite metadata is written with MediaPipe's writer: "
           "pip install --no-deps mediapipe==1.2.2")

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food"]
# Words of the tiny vocabulary (tests/conftest.py), which is lowercase.
PROBES = ["the film was great", "a dull boring book", "i loved it", "really bad food",
          "the man plays with a dog"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(classifier, plain .tflite, the same with metadata, write_metadata's return value)."""
    clf = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    # Trained until its probabilities differ clearly, so comparing top categories means something.
    clf.compile(learning_rate=3e-3, warmup_ratio=0.0)
    clf.fit(TEXTS, ["pos", "neg", "pos", "neg"], epochs=15, batch_size=4, verbose=0)
    root = tmp_path_factory.mktemp("metadata")
    plain = root / "plain" / "model.tflite"
    # A static file made without metadata: write_metadata is for such files made elsewhere.
    export.to_tflite(clf, plain, sequence_length=32, metadata=False)
    with_metadata = root / "with_metadata" / "model.tflite"
    with_metadata.parent.mkdir()
    shutil.copy(plain, with_metadata)
    info = export.write_metadata(with_metadata, clf, name="tiny sentiment")
    return clf, plain, with_metadata, info


def run_litert(path, features):
    runner = Interpreter(model_path=str(path)).get_signature_runner()
    return np.concatenate([runner(**f)["probability"] for f in features])


def embedded(path):
    """(ModelMetadataT parsed from the "TFLITE_METADATA" buffer, {packed name: bytes})."""
    from tensorflow.lite.python import schema_py_generated as schema

    content = path.read_bytes()
    model = schema.Model.GetRootAs(content, 0)
    entries = [model.Metadata(i) for i in range(model.MetadataLength())]
    (entry,) = [e for e in entries if e.Name() == b"TFLITE_METADATA"]
    buffer = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    assert fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        packed = {name: archive.read(name) for name in archive.namelist()}
    return fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buffer, 0)), packed


def test_metadata_is_embedded_and_the_graph_is_unchanged(exported):
    clf, plain, with_metadata, _ = exported
    features = export.device_features(clf, PROBES, 32)
    np.testing.assert_array_equal(run_litert(with_metadata, features), run_litert(plain, features))
    assert export.tflite_ops(with_metadata.read_bytes()) == export.tflite_ops(plain.read_bytes())

    meta, packed = embedded(with_metadata)
    assert meta.name == b"tiny sentiment" and meta.minParserVersion == b"1.1.0"
    (subgraph,) = meta.subgraphMetadata
    # Metadata follows the order of the model's own input tensors, whatever the converter chose.
    order = [d["name"].removeprefix("serving_default_").removesuffix(":0")
             for d in Interpreter(model_path=str(with_metadata)).get_input_details()]
    assert sorted(order) == ["ids", "mask", "segment_ids"]
    assert [t.name.decode() for t in subgraph.inputTensorMetadata] == order
    (unit,) = subgraph.inputProcessUnits
    assert unit.optionsType == fb.ProcessUnitOptions.BertTokenizerOptions
    (vocab,) = unit.options.vocabFile
    assert (vocab.name, vocab.type) == (b"vocab.txt", fb.AssociatedFileType.VOCABULARY)
    (output,) = subgraph.outputTensorMetadata
    assert output.name == b"probability"
    (labels,) = output.associatedFiles
    assert (labels.name, labels.type) == (b"labels.txt", fb.AssociatedFileType.TENSOR_AXIS_LABELS)

    assert sorted(packed) == ["kbert.json", "labels.txt", "vocab.txt"]
    (settings,) = meta.associatedFiles  # What an app needs beyond tokenizer and labels.
    assert (settings.name, settings.type) == (b"kbert.json", fb.AssociatedFileType.DESCRIPTIONS)
    assert packed["labels.txt"].decode().splitlines() == ["neg", "pos"]
    assert packed["vocab.txt"].decode().splitlines() == clf.preprocessor.tokenizer.get_vocabulary()


def test_metadata_json_describes_what_was_embedded(exported):
    clf, _, with_metadata, info = exported
    written = json.loads((with_metadata.parent / "metadata.json").read_text())
    assert written == info
    assert {k: v for k, v in written.items() if k != "tflite_metadata"} == {
        **export.read_metadata(with_metadata), "file": "model.tflite"}
    assert {k: written[k] for k in ("task", "window_length", "max_sequence_length", "lowercase",
                                    "pair_inputs", "mediapipe", "mediapipe_note", "settings",
                                    "dynamic_length")} == {
        "task": "classifier", "window_length": 32, "max_sequence_length": 64, "lowercase": True,
        "pair_inputs": False, "mediapipe": "text_classifier", "mediapipe_note": "",
        "settings": {"multi_label": False, "threshold": 0.5}, "dynamic_length": False}
    assert written["name"] == "tiny sentiment" and written["version"] == "1"
    assert "Single-label text classifier over 2 labels" in written["description"]
    assert written["min_parser_version"] == "1.1.0"
    assert written["labels"] == ["neg", "pos"]
    assert written["vocab_size"] == len(clf.preprocessor.tokenizer.get_vocabulary())
    assert written["sequence_length"] == 32
    assert written["packed_files"] == ["kbert.json", "labels.txt", "vocab.txt"]
    assert sorted(t["name"] for t in written["inputs"]) == ["ids", "mask", "segment_ids"]
    for tensor in written["inputs"]:
        assert tensor["metadata_name"] == tensor["name"]
        assert tensor["tensor"] == f"serving_default_{tensor['name']}:0"
        assert (tensor["shape"], tensor["dtype"]) == ([1, 32], "int32")
    (output,) = written["outputs"]
    assert (output["name"], output["metadata_name"], output["shape"], output["dtype"]) == (
        "probability", "probability", [1, 2], "float32")
    assert output["associated_files"] == [{"name": "labels.txt", "type": "TENSOR_AXIS_LABELS"}]
    assert written["input_process_units"] == [{"type": "BertTokenizerOptions", "vocab_file": [
        {"name": "vocab.txt", "type": "VOCABULARY"}]}]
    # MediaPipe's own JSON rendering of the metadata flatbuffer rides along.
    assert written["tflite_metadata"]["min_parser_version"] == "1.1.0"


def test_writing_again_replaces_the_metadata_and_leaves_no_partial_file(exported, tmp_path):
    clf, plain, _, _ = exported
    path = tmp_path / "model.tflite"
    shutil.copy(plain, path)
    export.write_metadata(path, clf, name="first")
    export.write_metadata(path, clf, name="second", json_path=tmp_path / "second.json")
    meta, packed = embedded(path)
    assert meta.name == b"second" and sorted(packed) == ["kbert.json", "labels.txt", "vocab.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "model.tflite",
                                                          "second.json"]
    before = path.read_bytes()
    clf.labels = ["neg", "p\nos"]  # A label that cannot be one line of labels.txt.
    try:
        with pytest.raises(ValueError, match="line break"):
            export.write_metadata(path, clf)
    finally:
        clf.labels = ["neg", "pos"]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "model.tflite",
                                                          "second.json"]


def test_pair_or_cased_models_get_metadata_with_a_warning(exported, tmp_path, caplog):
    clf, plain, _, _ = exported
    path = tmp_path / "pair.tflite"
    shutil.copy(plain, path)
    clf.pair_inputs = True
    try:
        with caplog.at_level(logging.WARNING):
            info = export.write_metadata(path, clf)
    finally:
        clf.pair_inputs = False
    assert info["mediapipe"] is None and info["pair_inputs"] is True
    assert "text-pair model" in info["mediapipe_note"]
    assert "cannot run this TextClassifier faithfully" in caplog.text and "text-pair" in caplog.text


def test_a_regressor_gets_a_score_output_without_labels(tmp_path):
    reg = one_layer_task(kbert.TextRegressor)
    path = tmp_path / "reg.tflite"
    info = export.to_tflite(reg, path)["metadata"]
    meta, packed = embedded(path)
    (output,) = meta.subgraphMetadata[0].outputTensorMetadata
    assert output.name == b"score" and not output.associatedFiles
    assert sorted(packed) == ["kbert.json", "vocab.txt"] and info["labels"] is None
    assert info["task"] == "regressor" and info["outputs"][0]["name"] == "score"


def test_files_that_are_not_kbert_exports_are_refused(exported, tmp_path):
    clf, _, _, _ = exported
    with pytest.raises(ValueError, match="does not exist"):
        export.write_metadata(tmp_path / "missing.tflite", clf)
    (tmp_path / "junk.tflite").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        export.write_metadata(tmp_path / "junk.tflite", clf)
    with pytest.raises(ValueError, match="holds no TFLite metadata"):
        export.read_metadata(exported[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.tflite"]


def test_a_model_whose_labels_or_vocabulary_do_not_match_its_file_is_refused(exported, tmp_path):
    clf, path, _, _ = exported
    other = one_layer_task(kbert.TextClassifier, labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="outputs 2 scores but the model has 3 labels"):
        export.write_metadata(path, other)
    tagger = one_layer_task(kbert.TokenClassifier, labels=["O", "B-PER"])
    with pytest.raises(ValueError, match="expected .* as kbert.export.to_tflite writes"):
        export.write_metadata(path, tagger)
    mismatched = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    mismatched.preprocessor.tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "film"], lowercase=True)
    with pytest.raises(ValueError, match="vocabulary has 6 tokens but the encoder embeds"):
        export.write_metadata(path, mismatched)


def metadata_buffer(subgraph) -> bytes:
    import flatbuffers

    model = fb.ModelMetadataT()
    model.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"M001")
    return bytes(builder.Output())


def file_of(kind, version=None):
    file = fb.AssociatedFileT()
    file.name, file.type, file.version = "f.txt", kind, version
    return file


def unit_of(options_type, options):
    unit = fb.ProcessUnitT()
    unit.optionsType, unit.options = options_type, options
    return unit


def test_minimum_parser_version_follows_the_upstream_rules():
    version = metadata_module.minimum_parser_version
    sg = fb.SubGraphMetadataT
    assert version(metadata_buffer(sg())) == "1.0.0"
    tensor = fb.TensorMetadataT()
    tensor.associatedFiles = [file_of(fb.AssociatedFileType.TENSOR_AXIS_LABELS)]
    assert version(metadata_buffer(sg(outputTensorMetadata=[tensor]))) == "1.0.0"
    tensor.associatedFiles.append(file_of(fb.AssociatedFileType.VOCABULARY))
    assert version(metadata_buffer(sg(outputTensorMetadata=[tensor]))) == "1.0.1"
    assert version(metadata_buffer(sg(inputProcessUnits=[]))) == "1.1.0"  # Present, even empty.
    bert = unit_of(fb.ProcessUnitOptions.BertTokenizerOptions, fb.BertTokenizerOptionsT())
    tensor = fb.TensorMetadataT()
    tensor.processUnits = [bert]
    assert version(metadata_buffer(sg(inputTensorMetadata=[tensor]))) == "1.1.0"
    regex = unit_of(fb.ProcessUnitOptions.RegexTokenizerOptions, fb.RegexTokenizerOptionsT())
    assert version(metadata_buffer(sg(inputProcessUnits=[bert, regex]))) == "1.2.1"
    assert version(metadata_buffer(sg(outputTensorGroups=[fb.TensorGroupT()]))) == "1.2.0"
    tensor = fb.TensorMetadataT()
    tensor.content = fb.ContentT()
    tensor.content.contentPropertiesType = fb.ContentProperties.AudioProperties
    tensor.content.contentProperties = fb.AudioPropertiesT()
    assert version(metadata_buffer(sg(inputTensorMetadata=[tensor]))) == "1.3.0"
    assert version(metadata_buffer(sg(associatedFiles=[
        file_of(fb.AssociatedFileType.SCANN_INDEX_FILE)]))) == "1.4.0"
    assert version(metadata_buffer(sg(associatedFiles=[
        file_of(fb.AssociatedFileType.DESCRIPTIONS, version="2")]))) == "1.4.1"
    assert version(metadata_buffer(sg(customMetadata=[fb.CustomMetadataT()]))) == "1.5.0"
    with pytest.raises(ValueError, match="M001"):
        version(b"not a metadata flatbuffer")


def test_mediapipe_text_classifier_runs_the_file_on_raw_text(exported):
    try:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.text import TextClassifier, TextClassifierOptions
    except Exception as error:  # noqa: BLE001 -- a broken native install fails in several ways.
        pytest.skip(f"mediapipe's TextClassifier cannot be imported here: {error}")
    clf, _, with_metadata, _ = exported
    options = TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(with_metadata)))
    probabilities = clf.predict(PROBES, verbose=0)
    assert set(clf.predict_labels(PROBES)) == {"neg", "pos"}  # Both labels get tested.
    with TextClassifier.create_from_options(options) as classifier:
        for text, expected, label in zip(PROBES, probabilities, clf.predict_labels(PROBES)):
            (head,) = classifier.classify(text).classifications
            scores = {c.category_name: c.score for c in head.categories}
            assert set(scores) == set(clf.labels)
            # MediaPipe reports the output tensor's values as they are: the probabilities.
            np.testing.assert_allclose([scores[name] for name in clf.labels], expected, atol=1e-4)
            if abs(expected[0] - expected[1]) > 1e-2:  # The top category is unambiguous.
                assert head.categories[0].category_name == label
