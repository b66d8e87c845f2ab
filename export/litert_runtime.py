"""A .tflite file's serving signature run at batch 1 the way an Android app runs it, on LiteRT
2.x's CompiledModel API (LiteRT 2.x apps use `CompiledModel`; LiteRT 2.x drops
`org.tensorflow.lite.Interpreter`). The classic Interpreter is kept behind the same call
(`interpreter=True`) for the checks that compare the two.

Why this wrapper exists: CompiledModel's Python API (ai-edge-litert 2.3) resizes a dynamic input
(`resize_input_tensor`) but does not propagate the new length to the outputs before the first run
(its output buffers keep the [1, 1, ...] size they were compiled with; LiteRT#5774), so the output
buffers are made here at the size the file's shape signature gives for this length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.compiled_model import CompiledModel
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.options import CpuOptions, Options
from ai_edge_litert.tensor_buffer import TensorBuffer

from kbert.verbosity import native_logs_quiet

_NUMPY_TYPES = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.INT32: np.int32,
                schema.TensorType.INT8: np.int8, schema.TensorType.UINT8: np.uint8,
                schema.TensorType.INT64: np.int64}


def _signature(content: bytes) -> tuple[dict, dict]:
    """(inputs, outputs) of the file's first signature: {name: (shape signature, numpy dtype)}
    (a dynamic length is -1 in the shape signature)."""
    model = schema.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)
    signature = model.SignatureDefs(0)

    def tensors(count, get):
        found = {}
        for i in range(count):
            entry = get(i)
            tensor = graph.Tensors(entry.TensorIndex())
            shape = (tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength()
                     else tensor.ShapeAsNumpy())
            found[entry.Name().decode()] = ([int(d) for d in shape], _NUMPY_TYPES[tensor.Type()])
        return found

    return (tensors(signature.InputsLength(), signature.Inputs),
            tensors(signature.OutputsLength(), signature.Outputs))


def file_length(tflite_path: str | Path) -> int | None:
    """A file's static input length, or None when it takes each row at its own length.

    Example:
    >>> file_length("out/model.tflite")  # exported with the default dynamic length
    """
    inputs, _ = _signature(Path(tflite_path).read_bytes())
    (shape, _), *_ = inputs.values()
    return None if shape[-1] < 0 else shape[-1]


class LiteRtModel:
    """Runs a .tflite's serving signature on named int32 inputs, one row at a time.

    Example:
    >>> model = LiteRtModel("out/model.tflite")
    >>> model(ids=ids, mask=mask, segment_ids=segments)["probability"].shape  # ids: [1, n]
    (1, 2)

    A dynamic-length file ([1, -1] inputs) takes each row at its own length: the inputs are
    resized to the row's shape before the call, as an app resizes them to its text.
    """

    def __init__(self, tflite_path: str | Path, *, num_threads: int = 1,
                 interpreter: bool = False):
        self.path = str(tflite_path)
        self._inputs, self._outputs = _signature(Path(self.path).read_bytes())
        # A static file's length; None when each row runs at its own.
        self.length = file_length(self.path)
        self.dynamic = self.length is None
        self.api = "interpreter" if interpreter else "compiled_model"
        # LiteRT logs its accelerator registry and "Created TensorFlow Lite XNNPACK delegate"
        # natively while it loads a file and first runs it: loading and the first run at each
        # length run with stderr quiet (kbert.verbosity), later (timed) calls as they are.
        self._shape, self._seen = None, set()
        if interpreter:
            with native_logs_quiet():
                self._runner = Interpreter(model_path=self.path,
                                           num_threads=num_threads).get_signature_runner()
            self.input_names, self.output_names = list(self._inputs), list(self._outputs)
        else:
            options = Options(cpu_options=CpuOptions(num_threads=num_threads))
            with native_logs_quiet():
                self._model = CompiledModel.from_file(self.path, options=options)
            # CompiledModel's buffers follow its own order (the subgraph's), not the file's
            # signature order.
            (names,) = self._model.get_signature_list().values()
            self.input_names, self.output_names = names["inputs"], names["outputs"]

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ValueError(f"{self.path} needs inputs {self.input_names}; missing "
                             f"{sorted(missing)}.")
        shape = tuple(inputs[self.input_names[0]].shape)
        if shape in self._seen:
            return self._run(shape, inputs)
        with native_logs_quiet():
            outputs = self._run(shape, inputs)
        self._seen.add(shape)
        return outputs

    def _run(self, shape: tuple, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.api == "interpreter":
            return {name: np.asarray(value) for name, value in self._runner(**inputs).items()}
        if self.dynamic and shape != self._shape:
            for index, name in enumerate(self.input_names):
                self._model.resize_input_tensor(index, list(inputs[name].shape))
            self._shape = shape
        buffers = self._model.create_input_buffers(0)
        for buffer, name in zip(buffers, self.input_names):
            buffer.write(np.ascontiguousarray(inputs[name], self._inputs[name][1]))
        # A -1 in an output's signature is the row's length (kbert's outputs are per row or per
        # token): each output buffer is made at the size this row needs.
        results = {name: np.zeros([shape[-1] if d < 0 else d for d in dims], dtype)
                   for name, (dims, dtype) in self._outputs.items()}
        outputs = [TensorBuffer.create_from_host_memory(results[name])
                   for name in self.output_names]
        self._model.run_by_index(0, buffers, outputs)
        return {name: buffer.read(results[name].size, results[name].dtype)
                .reshape(results[name].shape) for name, buffer in zip(self.output_names, outputs)}
