"""What a task exports, declared by the task class itself (DESIGN decision 6).

Each task's `export_spec()` returns an `ExportSpec`: its named serving outputs, the string outputs
of its raw-text SavedModel signature, the labels packed into `labels.txt`, the MediaPipe task
that can run it (or why none can), its metadata description, how its inputs are packed at a
given length, and which on-device check `kbert.export.verify` runs. SavedModel and TFLite export,
TFLite metadata, `verify` and scripts/export_model.py read the declaration and never switch on a
task's type or attributes. Tasks never import `kbert.export`: the MediaPipe task and the
on-device check are declared by name (`MEDIAPIPE_TASKS`, `VERIFY_PIPELINES`), and export maps the
names to its functions.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from kbert.lazy import tf
from kbert.preprocessing import pipeline
from kbert.preprocessing.inputs import as_examples
from kbert.preprocessing.text import TextPreprocessor

# MediaPipe Tasks that run a kbert export on raw text, tokenizing on their own.
MEDIAPIPE_TASKS = ("text_classifier", "text_embedder")
# The on-device checks `kbert.export.verify` has: one row per text or pair, compared output by
# output ("texts"); the same compared by cosine ("embeddings"); word lists through the on-device
# tagging pipeline ("tags"); SQuAD examples through the on-device QA pipeline ("answers").
VERIFY_PIPELINES = ("texts", "embeddings", "tags", "answers")
# What a task's inputs are, so that a script knows how to read its evaluation data: texts (or
# pairs) in a table, word lists in CoNLL files, SQuAD JSON.
INPUT_KINDS = ("texts", "words", "squad")


class ExportError(ValueError):
    """An export that cannot be made, or would not run on device as it is: a task with nothing
    meaningful to export, a runtime that cannot run the model faithfully, Flex ops, unfrozen
    weights. (`kbert.export.ExportError` is this class.)"""


@dataclasses.dataclass(frozen=True)
class ExportSpec:
    """A task's export declaration.

    Example:
    >>> spec = clf.export_spec()
    >>> spec.output_names, spec.labels, spec.mediapipe, spec.verify
    (('probability',), ('neg', 'pos'), 'text_classifier', 'texts')
    >>> spec.outputs(clf.predict_on_batch(features))["probability"].shape
    (4, 2)

    Fields:
    - task: the kind written into metadata.json ("classifier", "tagger", ...).
    - outputs: the model's output tensor (Keras, TensorFlow or NumPy) -> {name: float tensor},
      the outputs of the .tflite and of both SavedModel signatures; `output_names` lists them.
    - output_descriptions: {name: what the output holds}, for the TFLite metadata.
    - description: the model's description in the TFLite metadata.
    - input_kind: one of `INPUT_KINDS`.
    - pack: (inputs, sequence_length, name) -> `Prepared` rows packed the task's way at that
      length (texts tokenized at that length, windows rebuilt at it); no targets needed.
    - text_inputs: the raw-string SavedModel signature's input names.
    - raw_text: the task's examples (`Prepared.examples`) -> one list of strings per text input.
    - text_outputs: (named outputs, features) -> {name: string tensor}, added to the SavedModel
      signatures (TensorFlow ops; None if the task has none).
    - labels, labelled_output: the labels packed into labels.txt, along the last axis of that
      output.
    - decide: named outputs (NumPy) -> the discrete decisions `verify` counts agreement on
      (None: only differences are reported).
    - mediapipe: the MediaPipe task in `MEDIAPIPE_TASKS` that runs the file faithfully, or None;
      mediapipe_note: why not (or "").
    - verify: the on-device check in `VERIFY_PIPELINES`.
    - settings: what else an app needs to run the file (decoding settings...), written into
      metadata.json.
    """

    task: str
    outputs: Callable[[Any], dict]
    output_names: tuple[str, ...]
    output_descriptions: Mapping[str, str]
    description: str
    input_kind: str
    pack: Callable[..., Any]
    raw_text: Callable[[Any], list]
    text_inputs: tuple[str, ...] = ("text",)
    text_outputs: Callable[[dict, dict], dict] | None = None
    labels: tuple[str, ...] = ()
    labelled_output: str | None = None
    decide: Callable[[dict], np.ndarray] | None = None
    mediapipe: str | None = None
    mediapipe_note: str = ""
    verify: str = "texts"
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}; got {self.input_kind!r}.")
        if self.verify not in VERIFY_PIPELINES:
            raise ValueError(f"verify must be one of {VERIFY_PIPELINES}; got {self.verify!r}.")
        if self.mediapipe is not None and self.mediapipe not in MEDIAPIPE_TASKS:
            raise ValueError(f"mediapipe must be one of {MEDIAPIPE_TASKS} or None; got "
                             f"{self.mediapipe!r}.")
        if self.mediapipe is None and not self.mediapipe_note:
            raise ValueError("a task that MediaPipe cannot run says why (mediapipe_note).")
        if set(self.output_descriptions) != set(self.output_names):
            raise ValueError(f"output_descriptions must describe exactly {self.output_names}.")
        if bool(self.labels) != (self.labelled_output is not None) or (
                self.labelled_output is not None and self.labelled_output not in self.output_names):
            raise ValueError("labels go with labelled_output, one of the output names.")


def at_length(preprocessor: TextPreprocessor, sequence_length: int) -> TextPreprocessor:
    """The preprocessor itself, or a copy with the same tokenizer that packs at another length.

    Example:
    >>> at_length(model.preprocessor, 64).sequence_length
    64
    """
    sequence_length = int(sequence_length)
    if sequence_length == preprocessor.sequence_length:
        return preprocessor
    return TextPreprocessor(preprocessor.tokenizer, sequence_length)


def mediapipe_text_task(model, task: str, *, reason: str = "") -> tuple[str | None, str]:
    """(`task`, "") when MediaPipe's text task can run `model` faithfully, else (None, why).

    Example:
    >>> mediapipe_text_task(clf, "text_classifier")
    ('text_classifier', '')

    MediaPipe's BERT preprocessing lowercases the text and gives every token segment id 0, so it
    runs uncased single-text models only; `reason` is a further reason of the task's own.
    """
    problems = [what for what, bad in (
        ("it is cased (MediaPipe lowercases the text)",
         not getattr(model.preprocessor.tokenizer, "lowercase", False)),
        ("it is a text-pair model (MediaPipe gives every token segment id 0)", model.pair_inputs),
        (reason, bool(reason))) if bad]
    if problems:
        return None, "; ".join(problems)
    return task, ""


def text_spec(model, **fields) -> ExportSpec:
    """An `ExportSpec` for a task fed texts or pairs (`as_examples` inputs), with its packing and
    raw-string inputs (`text`, and `text_pair` for pair models) filled in.

    Example:
    >>> text_spec(reg, task="regressor", outputs=..., output_names=("score",), ...)
    """
    def pack(x, sequence_length: int, name: str = "x"):
        from kbert.tasks.task import Prepared

        examples = as_examples(x, name=name)
        encoded = pipeline.encode(at_length(model.preprocessor, sequence_length),
                                  examples.segments)
        return Prepared(examples, encoded, None, pairs=examples.text_pairs is not None)

    inputs = ("text", "text_pair") if model.pair_inputs else ("text",)
    return ExportSpec(input_kind="texts", pack=pack, text_inputs=inputs,
                      raw_text=lambda examples: [list(map(str, s)) for s in examples.segments],
                      **fields)


def not_exportable(model, why: str) -> ExportError:
    """The error a task without a meaningful export raises from `export_spec`.

    Example:
    >>> raise not_exportable(self, "it has no serving output.")
    """
    return ExportError(f"{type(model).__name__} cannot be exported to SavedModel, TFLite or "
                       f"MediaPipe: {why}")


def label_strings(labels: Sequence[str]):
    """The labels as a TensorFlow string constant (for `text_outputs`).

    Example:
    >>> label_strings(["neg", "pos"]).shape
    TensorShape([2])
    """
    return tf.constant(list(labels), tf.string)


def top_label(labels: Sequence[str], output: str):
    """`text_outputs` naming the most probable label of `output`: {"label": string [batch]}.

    Example:
    >>> served = {"probability": tf.constant([[0.2, 0.8]])}
    >>> top_label(["neg", "pos"], "probability")(served, {})["label"]
    <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'pos'], dtype=object)>
    """
    def text_outputs(served: dict, features: dict) -> dict:
        return {"label": tf.gather(label_strings(labels), tf.argmax(served[output], axis=-1))}
    return text_outputs


def chosen_labels(labels: Sequence[str], output: str, threshold: float):
    """`text_outputs` for multi-label outputs: {"label": string [batch, labels]}, each label's
    name where its probability reaches `threshold`, "" elsewhere.

    Example:
    >>> served = {"probability": tf.constant([[0.9, 0.1]])}
    >>> chosen_labels(["PER", "LOC"], "probability", 0.5)(served, {})
    {'label': <tf.Tensor: shape=(1, 2), dtype=string, numpy=array([[b'PER', b'']], dtype=object)>}
    """
    def text_outputs(served: dict, features: dict) -> dict:
        probabilities = served[output]
        names = tf.broadcast_to(label_strings(labels), tf.shape(probabilities))
        return {"label": tf.where(probabilities >= threshold, names, "")}
    return text_outputs


def token_labels(labels: Sequence[str], output: str):
    """`text_outputs` for per-token logits: {"label": string [batch, length]}, the top label of
    every token ([CLS] and [SEP] included), "" on padding.

    Example:
    >>> token_labels(["O", "B-PER"], "logits")({"logits": logits}, features)["label"].shape
    TensorShape([1, 16])
    """
    def text_outputs(served: dict, features: dict) -> dict:
        names = tf.gather(label_strings(labels), tf.argmax(served[output], axis=-1))
        return {"label": tf.where(tf.cast(features["padding_mask"], tf.bool), names, "")}
    return text_outputs
