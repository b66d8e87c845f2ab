"""TFLite Model Metadata for an exported kbert model: what MediaPipe Tasks needs to run it on raw
text (a BERT tokenizer process unit with `vocab.txt`, labels for the output in `labels.txt`).

How it is written: with MediaPipe's own maintained writer (`metadata_writers.MetadataWriter`,
the code its `text_classifier` writer uses) and its `MetadataPopulator`, so the bytes follow the
official recipe: the metadata flatbuffer (`metadata_schema.fbs`, identifier "M001") goes into a
model buffer referenced by the entry "TFLITE_METADATA" of the model's `metadata` list, and the
associated files are appended to the .tflite as a zip archive.

mediapipe 1.2.2's wheel lacks one native module the populator imports,
`mediapipe.tasks.cc.metadata.python._pywrap_metadata_version` (a pybind11 wrapper of
`GetMinimumMetadataParserVersion` in `mediapipe/tasks/cc/metadata/metadata_version.cc`). Only
when that module really cannot be imported, `minimum_parser_version` below, a Python port of the
same rules, is registered under its name before the writer is imported. Nothing else is patched.

mediapipe (1.2.2) is a kbert dependency; where it is missing, `pip install mediapipe==1.2.2`.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import tempfile
import types
import zipfile
from pathlib import Path

from absl import logging

from kbert.files import atomic_path

METADATA_NAME = "TFLITE_METADATA"  # The model metadata entry the official populator writes.
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
# What an app needs beyond the tokenizer and labels (window length, decoding settings, a
# classifier's threshold), as a JSON file packed with the model. It is a model-level associated
# file of type DESCRIPTIONS: schema 1.0.0 (the minimum parser version stays 1.1.0, which the
# deployed MediaPipe and TFLite Support parsers read), ignored by MediaPipe's tasks, and read by
# an app like labels.txt (the zip archive appended to the .tflite). SubGraphMetadata's
# custom_metadata would need parser 1.5.0, and the description field is for people.
SETTINGS_FILE = "kbert.json"
INPUT_NAMES = ("ids", "mask", "segment_ids")

_VERSION_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
_INSTALL_HINT = ("Writing TFLite metadata uses MediaPipe's metadata writer: "
                 "pip install mediapipe==1.2.2")

# Schema members added after metadata schema 1.0.0 and the parser version that first reads each,
# as in GetMemberVersion() of mediapipe/tasks/cc/metadata/metadata_version.cc.
_VOCABULARY_FILE = (1, 0, 1)         # AssociatedFileType.VOCABULARY
_PROCESS_UNITS = (1, 1, 0)           # SubGraphMetadata.input/output_process_units
_BERT_OR_SENTENCEPIECE = (1, 1, 0)   # ProcessUnitOptions Bert/SentencePieceTokenizerOptions
_TENSOR_GROUPS = (1, 2, 0)           # SubGraphMetadata.input/output_tensor_groups
_REGEX_TOKENIZER = (1, 2, 1)         # ProcessUnitOptions.RegexTokenizerOptions
_AUDIO_PROPERTIES = (1, 3, 0)        # ContentProperties.AudioProperties
_SCANN_INDEX_FILE = (1, 4, 0)        # AssociatedFileType.SCANN_INDEX_FILE
_FILE_VERSION = (1, 4, 1)            # AssociatedFile.version
_CUSTOM_METADATA = (1, 5, 0)         # SubGraphMetadata.custom_metadata


def _metadata_schema():
    try:
        from mediapipe.tasks.metadata import metadata_schema_py_generated
    except ImportError as error:
        raise ImportError(f"{_INSTALL_HINT} ({error})") from None
    return metadata_schema_py_generated


def _model_schema():
    """The TFLite model schema the populator packs with (a superset of TensorFlow 2.20's)."""
    from mediapipe.tasks.metadata import schema_py_generated
    return schema_py_generated


def minimum_parser_version(metadata_buffer: bytes) -> str:
    """The oldest metadata parser that understands every field of a metadata flatbuffer: the
    largest version of the schema members it uses, "1.0.0" if none (the rules of
    `GetMinimumMetadataParserVersion`, mediapipe/tasks/cc/metadata/metadata_version.cc).

    Example:
    >>> minimum_parser_version(metadata_buffer)   # a BERT tokenizer process unit + vocab.txt
    '1.1.0'

    A present but empty list counts as present, as the C++ checks `!= nullptr`. Raises
    `ValueError` when the buffer is not a metadata flatbuffer. (The native pybind wrapper builds
    that error without raising it and returns ""; raising is what its callers document.)
    """
    fb = _metadata_schema()
    buffer = bytes(metadata_buffer)
    if len(buffer) < 8 or not fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0):
        raise ValueError("Error occurred when getting the minimum metadata parser version of the "
                         "metadata flatbuffer: it is not a TFLite metadata flatbuffer (the "
                         "identifier 'M001' is missing).")
    try:
        metadata = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buffer, 0))
    except Exception as error:  # A corrupt flatbuffer fails with struct/index errors.
        raise ValueError("Error occurred when getting the minimum metadata parser version of the "
                         f"metadata flatbuffer: it does not parse ({error}).") from None

    found = [(1, 0, 0)]

    def files(associated_files):
        for file in associated_files or []:
            if file.type == fb.AssociatedFileType.VOCABULARY:
                found.append(_VOCABULARY_FILE)
            if file.type == fb.AssociatedFileType.SCANN_INDEX_FILE:
                found.append(_SCANN_INDEX_FILE)
            if file.version is not None:
                found.append(_FILE_VERSION)

    def process_units(units):
        for unit in units or []:
            if unit.optionsType in (fb.ProcessUnitOptions.BertTokenizerOptions,
                                    fb.ProcessUnitOptions.SentencePieceTokenizerOptions):
                found.append(_BERT_OR_SENTENCEPIECE)
            if unit.optionsType == fb.ProcessUnitOptions.RegexTokenizerOptions:
                found.append(_REGEX_TOKENIZER)

    for subgraph in metadata.subgraphMetadata or []:
        for tensor in (subgraph.inputTensorMetadata or []) + (subgraph.outputTensorMetadata or []):
            files(tensor.associatedFiles)
            process_units(tensor.processUnits)
            if tensor.content is not None and tensor.content.contentPropertiesType == \
                    fb.ContentProperties.AudioProperties:
                found.append(_AUDIO_PROPERTIES)
        files(subgraph.associatedFiles)
        for units in (subgraph.inputProcessUnits, subgraph.outputProcessUnits):
            if units is not None:
                found.append(_PROCESS_UNITS)
                process_units(units)
        if subgraph.inputTensorGroups is not None or subgraph.outputTensorGroups is not None:
            found.append(_TENSOR_GROUPS)
        if subgraph.customMetadata is not None:
            found.append(_CUSTOM_METADATA)
    files(metadata.associatedFiles)
    return ".".join(str(part) for part in max(found))


def _register_version_module() -> None:
    """Registers `minimum_parser_version` as the native module's
    `GetMinimumMetadataParserVersion` when the wheel does not ship `_pywrap_metadata_version`
    (mediapipe 1.2.2 does not), so that MediaPipe's populator imports. A wheel that ships it
    keeps its own."""
    try:
        importlib.import_module(_VERSION_MODULE)
        return
    except ImportError:
        pass
    parts = _VERSION_MODULE.split(".")
    for depth in range(3, len(parts)):  # mediapipe.tasks exists; .cc and below may not.
        name = ".".join(parts[:depth])
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            package = types.ModuleType(name, "placeholder for a native package absent from the "
                                             "mediapipe wheel (registered by kbert)")
            package.__path__ = []
            sys.modules[name] = package
            setattr(sys.modules[".".join(parts[:depth - 1])], parts[depth - 1], package)
    module = types.ModuleType(_VERSION_MODULE, "Python port of metadata_version.cc, registered by "
                                               "kbert.export.metadata")
    module.GetMinimumMetadataParserVersion = minimum_parser_version
    sys.modules[_VERSION_MODULE] = module
    setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)


def _mediapipe_writer():
    """MediaPipe's `metadata_info` and `metadata_writer` modules."""
    _metadata_schema()
    _register_version_module()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, metadata_writer
    return metadata_info, metadata_writer


def _model_inputs_outputs(content: bytes, what: str) -> tuple[list[dict], list[dict]]:
    """The model's input and output tensors, in the order of the subgraph (the order a runtime
    sees and the metadata must follow), each named by its role in the serving signature."""
    schema = _model_schema()
    if not schema.Model.ModelBufferHasIdentifier(content, 0):
        raise ValueError(f"{what} is not a TFLite flatbuffer (no 'TFL3' identifier).")
    model = schema.Model.GetRootAs(content, 0)
    if model.SubgraphsLength() != 1 or model.SignatureDefsLength() != 1:
        raise ValueError(f"{what} has {model.SubgraphsLength()} subgraphs and "
                         f"{model.SignatureDefsLength()} signatures; a kbert.export.to_tflite "
                         "file has one of each.")
    for i in range(model.BuffersLength()):
        if model.Buffers(i).Offset() > 1:
            raise ValueError(f"{what} keeps weights outside its flatbuffer (a model over 2 GB); "
                             "TFLite metadata cannot be written into it.")
    subgraph, signature = model.Subgraphs(0), model.SignatureDefs(0)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    def tensors(indices, tensor_maps):
        role = {m.TensorIndex(): m.Name().decode() for m in tensor_maps}
        found = []
        for index in indices:
            tensor = subgraph.Tensors(index)
            # The shape signature keeps -1 for a dynamic dimension (shape holds 1 there).
            shape = (tensor.ShapeSignatureAsNumpy().tolist() if tensor.ShapeSignatureLength()
                     else tensor.ShapeAsNumpy().tolist())
            found.append({"name": role.get(index, ""), "tensor": tensor.Name().decode(),
                          "shape": shape,
                          "dtype": type_names.get(tensor.Type(), str(tensor.Type()))})
        return found

    inputs = tensors(subgraph.InputsAsNumpy().tolist(),
                     [signature.Inputs(i) for i in range(signature.InputsLength())])
    outputs = tensors(subgraph.OutputsAsNumpy().tolist(),
                      [signature.Outputs(i) for i in range(signature.OutputsLength())])
    return inputs, outputs


def _without_packed_files(content: bytes) -> bytes:
    """The model flatbuffer alone, when an earlier write appended associated files (the
    populator refuses to pack a file twice; its old metadata buffer is replaced in place)."""
    if not zipfile.is_zipfile(io.BytesIO(content)):
        return content
    import flatbuffers

    schema = _model_schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(content, 0))
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def _text_lines(values: list[str], what: str) -> bytes:
    for i, value in enumerate(values):
        if not value or "\n" in value or "\r" in value:
            raise ValueError(f"{what} entry {i} ({value!r}) cannot be one line of a text file: "
                             "entries must be non-empty and hold no line break.")
    return ("\n".join(values) + "\n").encode("utf-8")


def _decode(value) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _packed(content: bytes) -> dict[str, bytes]:
    if not zipfile.is_zipfile(io.BytesIO(content)):
        return {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def packed_files(tflite_path: str | Path) -> dict[str, bytes]:
    """The files packed into a .tflite with its metadata (vocab.txt, labels.txt, kbert.json), by
    name: what an app reads from the model file itself.

    Example:
    >>> packed_files("out/model.tflite")["labels.txt"].decode().split()
    ['negative', 'positive']
    """
    return _packed(Path(tflite_path).read_bytes())


def file_settings(tflite_path: str | Path) -> dict:
    """What `kbert.json`, packed in the file by `to_tflite` / `write_metadata`, says: the task,
    its window length, the encoder's positions, casing, labels and the task's settings (QA
    decoding settings and null threshold, a tagger's label scheme, a classifier's threshold).

    Example:
    >>> file_settings("out/qa/model.tflite")["settings"]["doc_stride"]
    128

    Raises `ValueError` if the file has none (made before kbert packed it, or elsewhere).
    """
    packed = packed_files(tflite_path)
    if SETTINGS_FILE not in packed:
        raise ValueError(f"{tflite_path} has no packed {SETTINGS_FILE}: write its metadata with "
                         "kbert.export.to_tflite (or kbert.export.write_metadata).")
    return json.loads(packed[SETTINGS_FILE].decode("utf-8"))


def _read_metadata(content: bytes, what: str) -> dict:
    fb = _metadata_schema()
    schema = _model_schema()
    model = schema.Model.GetRootAs(content, 0)
    buffer = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == METADATA_NAME and model.Buffers(entry.Buffer()).DataLength():
            buffer = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    if buffer is None:
        raise ValueError(f"{what} holds no TFLite metadata (no '{METADATA_NAME}' entry); "
                         "write it with kbert.export.write_metadata.")
    metadata = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buffer, 0))
    (subgraph,) = metadata.subgraphMetadata
    inputs, outputs = _model_inputs_outputs(content, what)
    type_names = {v: k for k, v in vars(fb.AssociatedFileType).items() if not k.startswith("_")}
    unit_names = {v: k for k, v in vars(fb.ProcessUnitOptions).items() if not k.startswith("_")}

    def files(associated_files):
        return [{"name": _decode(f.name), "type": type_names.get(f.type, str(f.type))}
                for f in associated_files or []]

    def units(process_units):
        described = []
        for unit in process_units or []:
            entry = {"type": unit_names.get(unit.optionsType, str(unit.optionsType))}
            if unit.optionsType == fb.ProcessUnitOptions.BertTokenizerOptions:
                entry["vocab_file"] = files(unit.options.vocabFile)
            described.append(entry)
        return described

    for described, tensor_metadata in ((inputs, subgraph.inputTensorMetadata),
                                       (outputs, subgraph.outputTensorMetadata)):
        for tensor, meta in zip(described, tensor_metadata or []):
            tensor["metadata_name"] = _decode(meta.name)
            tensor["associated_files"] = files(meta.associatedFiles)
    packed = _packed(content)
    vocab = packed.get(VOCAB_FILE, b"").decode("utf-8").splitlines()
    labels = packed.get(LABELS_FILE, b"").decode("utf-8").splitlines()
    length = inputs[0]["shape"][-1] if inputs else None
    info = {
        "name": _decode(metadata.name),
        "description": _decode(metadata.description),
        "version": _decode(metadata.version),
        "min_parser_version": _decode(metadata.minParserVersion),
        "inputs": inputs,
        "input_process_units": units(subgraph.inputProcessUnits),
        "outputs": outputs,
        "associated_files": files(metadata.associatedFiles),
        "packed_files": sorted(packed),
        "labels": labels or None,
        "vocab_size": len(vocab) if VOCAB_FILE in packed else None,
        # None for a dynamic file: it takes each row at its own length.
        "sequence_length": None if length is None or length < 0 else length,
        "dynamic_length": bool(length is not None and length < 0),
    }
    if SETTINGS_FILE in packed:
        info.update(json.loads(packed[SETTINGS_FILE].decode("utf-8")))
    return info


def read_metadata(tflite_path: str | Path) -> dict:
    """What a .tflite file's TFLite Model Metadata says, read back with the official schema: the
    model's name, description, version and minimum parser version, its input and output tensors
    (in the model's order; shapes are shape signatures, -1 where the length is dynamic) with
    their metadata names, process units, associated files, the files packed in the file, and
    from them the labels, vocabulary size and sequence length (None for a dynamic file); and
    what kbert packed in `kbert.json` (task, window_length, max_sequence_length, lowercase,
    pair_inputs, the task's settings), which an app needs and no Keras model is required for.

    Example:
    >>> read_metadata("out/model.tflite")["inputs"][0]
    {'name': 'ids', 'tensor': 'serving_default_ids:0', 'shape': [1, -1], 'dtype': 'int32', ...}
    >>> read_metadata("out/qa/model.tflite")["settings"]["null_threshold"]
    -1.25

    Raises `ValueError` if the file holds no metadata.
    """
    return _read_metadata(Path(tflite_path).read_bytes(), str(tflite_path))


def check_metadata_name(name: str | None, what: str) -> None:
    """Refuses a metadata name that mentions Gemma: MediaPipe's current master runs a text model
    whose metadata name contains "gemma" as EmbeddingGemma, not as the BERT model it is.

    Example:
    >>> check_metadata_name("sentiment", "out/model.tflite")   # passes
    """
    if name and "gemma" in name.lower():
        raise ValueError(f"{what}: the metadata name {name!r} contains 'gemma'; MediaPipe treats "
                         "such text models as EmbeddingGemma. Pass another name=.")


class _GeneralMdWithSettings:
    """MediaPipe's `GeneralMd` plus one model-level associated file (kbert.json); the writer's
    own `add_general_info` has no associated files."""

    def __init__(self, general_md, settings_path: str, description: str):
        self._general_md, self._path, self._description = general_md, settings_path, description

    def create_metadata(self):
        fb = _metadata_schema()
        metadata = self._general_md.create_metadata()
        settings = fb.AssociatedFileT()
        settings.name = Path(self._path).name
        settings.description = self._description
        settings.type = fb.AssociatedFileType.DESCRIPTIONS
        metadata.associatedFiles = [settings]
        return metadata


def app_settings(model, window_length: int | None = None) -> dict:
    """The content of `kbert.json` for `model`: what an app needs to run its file.

    Example:
    >>> app_settings(qa)["settings"]["max_query_length"]
    64

    window_length: the length rows are cut at (a static file's own length; by default the
    model's sequence length, the windows a dynamic file's app cuts). `length_policy` is the
    task's `LengthPolicy`: the tokens every path reads (the file's graph cuts longer rows to it).
    `normalization`: the text normalization the model was trained with (the checkpoint's own,
    `kbert.preprocessing.tokenizer.Normalization`), None for models saved before kbert read it
    (KerasHub's tokenization); apps apply it before a runtime's own tokenizer (MediaPipe's only
    lowercases), the on-device pipelines and the Kotlin core tokenize with it.
    """
    spec = model.export_spec()
    normalization = getattr(model.preprocessor.tokenizer, "normalization", None)
    policy = spec.length_policy(model)
    return {"task": spec.task,
            "window_length": int(window_length or policy.sequence_length),
            "length_policy": policy.metadata(),
            "max_sequence_length": int(model.backbone.max_sequence_length),
            "lowercase": bool(getattr(model.preprocessor.tokenizer, "lowercase", False)),
            "normalization": None if normalization is None else normalization.get_config(),
            "pair_inputs": bool(model.pair_inputs),
            "labels": list(spec.labels) or None,
            "mediapipe": spec.mediapipe, "mediapipe_note": spec.mediapipe_note,
            "settings": dict(spec.settings)}


def check_writer_installed() -> None:
    """Raises `ImportError` saying how to install it when MediaPipe's metadata writer is absent.

    Example:
    >>> check_writer_installed()   # passes where mediapipe is installed
    """
    try:
        _mediapipe_writer()
    except ImportError as error:
        message = str(error)
        if _INSTALL_HINT not in message:
            message = f"{_INSTALL_HINT} ({message})"
        raise ImportError(f"{message}. Or pass metadata=False to write the file without it "
                          "(MediaPipe Tasks then refuses it with 'No metadata').") from None


def embed_metadata(content: bytes, model, *, what: str, name: str | None = None,
                   description: str | None = None, version: str = "1") -> tuple[bytes, dict]:
    """The .tflite bytes `content` with TFLite Model Metadata for `model` embedded, and what was
    embedded (as `read_metadata` reads it, plus MediaPipe's JSON rendering); nothing is written.
    `to_tflite` and `write_metadata` both write with it.

    Example:
    >>> content, info = embed_metadata(Path("m.tflite").read_bytes(), clf, what="m.tflite")
    >>> info["packed_files"]
    ['kbert.json', 'labels.txt', 'vocab.txt']
    """
    spec = model.export_spec()
    inputs, outputs = _model_inputs_outputs(content, what)
    content = _without_packed_files(content)
    if sorted(t["name"] for t in inputs) != sorted(INPUT_NAMES) or \
            sorted(t["name"] for t in outputs) != sorted(spec.output_names):
        raise ValueError(f"{what} has inputs {[t['name'] for t in inputs]} and outputs "
                         f"{[t['name'] for t in outputs]}; expected {list(INPUT_NAMES)} and "
                         f"{list(spec.output_names)} as kbert.export.to_tflite writes for "
                         f"{type(model).__name__}.")
    labels = list(spec.labels)
    if labels:
        (labelled,) = [t for t in outputs if t["name"] == spec.labelled_output]
        if labelled["shape"][-1] != len(labels):
            raise ValueError(f"{what} outputs {labelled['shape'][-1]} scores but the "
                             f"model has {len(labels)} labels; is it the model that was exported?")
    tokenizer = model.preprocessor.tokenizer
    vocabulary = list(tokenizer.get_vocabulary())
    if len(vocabulary) != model.backbone.vocabulary_size:
        raise ValueError(f"the tokenizer's vocabulary has {len(vocabulary)} tokens but the encoder "
                         f"embeds {model.backbone.vocabulary_size}: the tokenizer comes from "
                         "another preset, and on-device token ids would be wrong.")
    name = name or model.name
    check_metadata_name(name, what)
    if spec.mediapipe is None:
        logging.warning(
            "%s: MediaPipe cannot run this %s faithfully: %s. The metadata is written anyway; on "
            "device, feed ids/mask/segment_ids from kbert's preprocessing through the "
            "interpreter.", what, type(model).__name__, spec.mediapipe_note)
    description = spec.description if description is None else description
    length = inputs[0]["shape"][-1]
    settings = app_settings(model, length if length > 0 else None)

    metadata_info, metadata_writer = _mediapipe_writer()
    with tempfile.TemporaryDirectory() as tmp:
        vocab_path = Path(tmp) / VOCAB_FILE  # The populator packs each file under its basename.
        vocab_path.write_bytes(_text_lines(vocabulary, "vocabulary"))
        settings_path = Path(tmp) / SETTINGS_FILE
        settings_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        writer = metadata_writer.MetadataWriter(bytearray(content))
        # add_general_info() takes no version and no associated file; GeneralMd has the one.
        writer._general_md = _GeneralMdWithSettings(
            metadata_info.GeneralMd(name=name, version=version, description=description),
            str(settings_path), "What an app needs to run this file (kbert settings, JSON).")
        writer._associated_files.append(str(settings_path))
        by_role = {t["name"]: t["tensor"] for t in inputs}
        # MediaPipe pairs these names with the model's input tensors itself, in the model's order.
        writer.add_bert_text_input(metadata_writer.BertTokenizer(str(vocab_path)),
                                   ids_name=by_role["ids"], mask_name=by_role["mask"],
                                   segment_name=by_role["segment_ids"])
        for tensor in outputs:  # In the model's output order.
            role = tensor["name"]
            if role == spec.labelled_output:
                _text_lines(labels, "labels")  # Fails before writing on a label with a line break.
                writer.add_classification_output(
                    metadata_writer.Labels().add(labels, exported_filename=LABELS_FILE),
                    name=role, description=spec.output_descriptions[role])
            else:
                writer.add_feature_output(name=role, description=spec.output_descriptions[role])
        populated, official_json = writer.populate()
        del writer  # Its temporary label files go with it.
    populated = bytes(populated)
    info = _read_metadata(populated, what)
    info["tflite_metadata"] = json.loads(official_json)
    logging.info("TFLite metadata for %s: %s, %d wordpieces%s, min parser %s", what, spec.task,
                 len(vocabulary), f", {len(labels)} labels" if labels else "",
                 info["min_parser_version"])
    return populated, info


def write_metadata(tflite_path: str | Path, model, *, name: str | None = None,
                   description: str | None = None, version: str = "1",
                   json_path: str | Path | None = None) -> dict:
    """Embeds TFLite Model Metadata into a .tflite made elsewhere (`kbert.export.to_tflite`
    embeds it itself), so that MediaPipe Tasks runs it on raw text, and writes `metadata.json`
    (what was embedded) beside it.

    Example:
    >>> export.to_tflite(clf, "out/model.tflite", quantization="dynamic", metadata=False)
    >>> info = export.write_metadata("out/model.tflite", clf, name="sentiment")
    >>> info["inputs"][0]["name"], info["outputs"][0]["name"], info["labels"]
    ('ids', 'probability', ['negative', 'positive'])
    >>> # Android / Python: mediapipe.tasks.python.text.TextClassifier loads out/model.tflite.

    What is embedded, from the task's declaration (`model.export_spec()`): the model's name,
    description and version; input tensors named `ids`, `mask`, `segment_ids` in the order of
    the model's own input tensors; a `BertTokenizerOptions` input process unit whose vocabulary
    is the packed file `vocab.txt`; each output under its name, the labelled one (a classifier's
    `probability`, a tagger's `logits`) with the packed `labels.txt`, one label per line; and
    `kbert.json`, a model-level associated file with what an app needs beyond those (window
    length, casing, the task's settings: QA decoding settings and null threshold, a tagger's
    label scheme, a classifier's threshold; `read_metadata` reads it back). The .tflite is
    rewritten atomically (both files are complete before either replaces anything); the graph
    and weights are unchanged. Writing again replaces the earlier metadata. `json_path` defaults
    to `metadata.json` in the .tflite's folder (pass another name when several exports share a
    folder). Returns its content. A name containing "gemma" is refused (MediaPipe would run the
    file as EmbeddingGemma).

    A model MediaPipe cannot run faithfully (cased, text pairs, a tagger or question answerer)
    still gets its metadata, with a warning saying why (feed it through the interpreter with
    kbert's preprocessing instead). A task with nothing to export (`kbert.MaskedLM`) raises
    `ExportError`.
    """
    model.export_spec()
    tflite_path = Path(tflite_path)
    if not tflite_path.is_file():
        raise ValueError(f"{tflite_path} does not exist; write it with kbert.export.to_tflite.")
    populated, info = embed_metadata(tflite_path.read_bytes(), model, what=str(tflite_path),
                                     name=name, description=description, version=version)
    info = {"file": tflite_path.name, **info}
    json_path = Path(json_path) if json_path else tflite_path.with_name("metadata.json")
    with atomic_path(tflite_path) as tmp_model, atomic_path(json_path) as tmp_json:
        Path(tmp_model).write_bytes(populated)
        Path(tmp_json).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    logging.info("wrote TFLite metadata into %s and %s", tflite_path, json_path)
    return info
