"""What a converted .tflite file holds: its operators, read from the flatbuffer with TensorFlow's
own generated TFLite schema, and whether an on-device runtime can run it as it is."""

from __future__ import annotations

from tensorflow.lite.python import schema_py_generated as schema

# Declared with the tasks (a task without a meaningful export raises it from export_spec, and
# tasks never import kbert.export); raised here too.
from kbert.tasks.exports import ExportError

_BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items()
                  if not name.startswith("_")}
# Ops that mean the weights were not frozen into the file.
RESOURCE_VARIABLE_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"}

__all__ = ["ExportError", "tflite_ops", "check_deployable"]


def tflite_ops(content: bytes) -> list[str]:
    """The sorted operator names a .tflite model uses; custom ops as "CUSTOM:<name>".

    Example:
    >>> tflite_ops(open("model.tflite", "rb").read())
    ['ADD', 'BATCH_MATMUL', 'FULLY_CONNECTED', 'GATHER', ...]
    """
    model = schema.Model.GetRootAs(content, 0)
    names = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # The schema keeps small codes in a deprecated int8 field; the larger of the two is right.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.add("CUSTOM:" + (code.CustomCode() or b"?").decode())
        else:
            names.add(_BUILTIN_NAMES.get(builtin, str(builtin)))
    return sorted(names)


def check_deployable(content: bytes, what: str) -> list[str]:
    """Returns the op list, or raises `ExportError` if the model needs Flex (TF Select) or other
    custom ops, still reads resource variables instead of frozen weights, or has more than one
    subgraph (MediaPipe's master runs a multi-subgraph text model as EmbeddingGemma).

    Example:
    >>> check_deployable(open("model.tflite", "rb").read(), "model.tflite")[:2]
    ['ADD', 'BATCH_MATMUL']
    """
    subgraphs = schema.Model.GetRootAs(content, 0).SubgraphsLength()
    if subgraphs != 1:
        raise ExportError(f"{what} has {subgraphs} subgraphs; kbert exports one (MediaPipe "
                          "treats a text model with several as EmbeddingGemma).")
    ops = tflite_ops(content)
    custom = [op for op in ops if op.startswith("CUSTOM:")]
    if custom:
        raise ExportError(f"{what} needs ops that on-device runtimes do not ship: {custom}. "
                          "kbert exports builtin ops only.")
    unfrozen = sorted(RESOURCE_VARIABLE_OPS.intersection(ops))
    if unfrozen:
        raise ExportError(f"{what} reads resource variables ({unfrozen}) instead of frozen "
                          "weights; it would fail or give NaN on device.")
    return ops
