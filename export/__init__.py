"""Stage 5 of the pipeline: trained task models to artifacts servers and phones run as they are.

Installed as `kbert.export` (the folder sits at the top of the repository, as the pipeline's
last stage). It may import `kbert.tasks`; no earlier stage imports it. What each task exports
(outputs, labels, MediaPipe task, on-device check) is the task's own declaration,
`model.export_spec()` (`kbert.tasks.exports.ExportSpec`), which everything here reads.

Example:
>>> from kbert import export
>>> export.to_saved_model(clf, "out/saved_model")
>>> export.to_tflite(clf, "out/model.tflite", quantization="dynamic")  # [1, -1], metadata inside
"""

from kbert.export.checks import ExportError, tflite_ops
from kbert.export.litert_runtime import LiteRtModel
from kbert.export.mediapipe_runtime import (mediapipe_classify, mediapipe_embed,
                                            normalize_for_mediapipe, recorded_normalization)
from kbert.export.metadata import file_settings, packed_files, read_metadata, write_metadata
from kbert.export.on_device_qa import OnDeviceQuestionAnswerer
from kbert.export.on_device_tagger import OnDeviceTagger, split_words
from kbert.export.saved_model import to_saved_model
from kbert.export.tflite import QUANTIZATIONS, device_features, full_rows, to_tflite
from kbert.export.verify import (keras_outputs, predicted_outputs, verify, verify_embedder,
                                 verify_question_answerer, verify_saved_model, verify_tagger,
                                 verify_texts)

__all__ = ["to_saved_model", "to_tflite", "verify", "verify_saved_model", "verify_tagger",
           "verify_texts", "keras_outputs", "tflite_ops", "device_features", "ExportError",
           "QUANTIZATIONS", "write_metadata", "read_metadata", "packed_files", "file_settings",
           "mediapipe_classify", "mediapipe_embed", "normalize_for_mediapipe",
           "recorded_normalization", "OnDeviceTagger", "split_words",
           "OnDeviceQuestionAnswerer", "verify_question_answerer", "verify_embedder",
           "LiteRtModel", "full_rows", "predicted_outputs"]
