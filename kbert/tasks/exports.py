"""What a task exports, declared by the task class itself (DESIGN decision 6).

Each task's `export_spec()` returns an `ExportSpec`: its named serving outputs, the string outputs
of its raw-text SavedModel signature, the labels packed into `labels.txt`, the MediaPipe task
that can run it (or why none can), its metadata description, how its inputs are packed at a
given length, which tokens of a long input it reads (`LengthPolicy`), and which on-device check
`kbert.export.verify` runs. SavedModel and TFLite export,
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
from kbert.preprocessing.prepared import Prepared
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


# How a row longer than the policy's length is cut, in Python (the preprocessor's packer) and in
# an exported graph alike: a single text keeps its first L - 2 tokens; a pair is trimmed
# round-robin (each text keeps one more token in turn), which leaves Hugging Face's
# "longest_first" lengths; every kept text ends with its [SEP].
TRUNCATIONS = ("longest_first",)


class ExportError(ValueError):
    """An export that cannot be made, or would not run on device as it is: a task with nothing
    meaningful to export, a runtime that cannot run the model faithfully, Flex ops, unfrozen
    weights. (`kbert.export.ExportError` is this class.)"""


@dataclasses.dataclass(frozen=True)
class LengthPolicy:
    """Which tokens of an input a model reads, on every path (DESIGN decision 7): the first
    `sequence_length` tokens of its packed row, cut the way the model's preprocessor cuts.

    Example:
    >>> policy = clf.export_spec().length
    >>> policy.sequence_length, policy.truncation
    (128, 'longest_first')
    >>> ids, mask, segment_ids = policy.cut(ids, mask, segment_ids)  # in an exported graph

    `predict` and the raw-string SavedModel signature read it through the preprocessor (packed
    at `sequence_length`); an exported graph (dynamic TFLite, a static file wider than the
    length, the token-id SavedModel signature) gets whole rows, `[CLS] a [SEP] (b [SEP])`, and
    cuts them itself (`cut`), so MediaPipe and an app feeding a text's full row get what
    `predict` gives. `windowed`: the task feeds long inputs as windows of at most the file's
    length itself (a tagger's sentences, a question answerer's contexts), so a static file may
    be narrower than `sequence_length`; a task read in one row may not (it would read fewer
    tokens than `predict`). Written into kbert.json (`metadata`).
    """

    sequence_length: int
    cls_id: int
    sep_id: int
    pad_id: int = 0
    truncation: str = "longest_first"
    windowed: bool = False

    def __post_init__(self):
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}; got {self.truncation!r}.")
        if self.sequence_length < 3:
            raise ValueError(f"sequence_length must be at least 3; got {self.sequence_length}.")

    @classmethod
    def of(cls, model, *, windowed: bool = False) -> "LengthPolicy":
        """The policy of a task model: its preprocessor's length and special tokens.

        Example:
        >>> LengthPolicy.of(clf).sequence_length == clf.preprocessor.sequence_length
        True
        """
        preprocessor = model.preprocessor
        tokenizer = preprocessor.tokenizer
        return cls(sequence_length=int(preprocessor.sequence_length),
                   cls_id=int(tokenizer.cls_token_id), sep_id=int(tokenizer.sep_token_id),
                   pad_id=int(preprocessor.pad_id), windowed=windowed)

    def metadata(self) -> dict:
        """What kbert.json records of the policy.

        Example:
        >>> policy.metadata()
        {'sequence_length': 128, 'truncation': 'longest_first', 'windowed': False, ...}
        """
        return {"sequence_length": self.sequence_length, "truncation": self.truncation,
                "windowed": self.windowed, "cut_in_graph": True}

    def cut(self, ids, mask, segment_ids):
        """Whole packed rows [batch, n] (`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, then padding)
        cut to at most `sequence_length` tokens exactly as the preprocessor packs the raw text:
        a single text keeps its first L - 2 tokens, a pair is trimmed round-robin from the
        position of the first [SEP]; segment ids and mask follow the kept tokens. TensorFlow
        ops that convert to TFLite builtins; rows that fit are unchanged.

        Example:
        >>> policy.cut(*inputs)[0].shape   # inputs of 700 tokens, policy length 128
        TensorShape([1, 128])

        The cut works on token ids alone (it needs no tokenizer) and finds the texts by their
        [SEP]s, so a runtime that gives every token segment id 0 (MediaPipe) is cut the same way.
        """
        dtype = ids.dtype
        width = tf.shape(ids)[1]
        real = tf.cast(mask, tf.int32) > 0
        tokens = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)                     # [batch]
        positions = tf.range(width)[None, :]
        is_sep = tf.logical_and(tf.equal(ids, tf.constant(self.sep_id, dtype)), real)
        # The first [SEP] (a row without one is read as a single text ending at its last token).
        first = tf.minimum(tf.reduce_min(tf.where(is_sep, positions, width), axis=1), tokens - 1)
        first = tf.maximum(first, 0)
        pair = tokens - 1 > first
        first_length = tf.maximum(first - 1, 0)
        second_length = tf.where(pair, tokens - first - 2, 0)
        budget = tf.where(pair, self.sequence_length - 3, self.sequence_length - 2)
        # Round-robin trimming (KerasHub's MultiSegmentPacker, truncate="round_robin"): the first
        # text keeps at least half the budget (rounded up), more if the second is shorter.
        keep_first = tf.minimum(first_length, tf.maximum(budget - second_length, (budget + 1) // 2))
        keep_second = tf.minimum(second_length, budget - keep_first)
        kept = tf.minimum(tf.where(pair, keep_first + keep_second + 3, keep_first + 2), tokens)
        out = tf.minimum(width, self.sequence_length)
        j = tf.range(out)[None, :]
        middle_sep = (keep_first + 1)[:, None]
        last_sep = (keep_first + keep_second + 2)[:, None]
        source = tf.where(j < middle_sep, j, tf.where(
            tf.equal(j, middle_sep), first[:, None], tf.where(
                j < last_sep, j - middle_sep + first[:, None], (tokens - 1)[:, None])))
        keep = j < kept[:, None]
        source = tf.clip_by_value(tf.where(keep, source, 0), 0, width - 1)

        def take(tensor, fill):
            taken = tf.gather(tensor, source, batch_dims=1)
            return tf.where(keep, taken, tf.constant(fill, tensor.dtype))

        return (take(ids, self.pad_id), tf.cast(keep, mask.dtype), take(segment_ids, 0))


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
    - length: the `LengthPolicy` every path reads (None: the model's preprocessor's, read in
      one row for `input_kind` "texts", windowed by the task otherwise); read it through
      `length_policy(model)`.
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
    length: LengthPolicy | None = None

    def length_policy(self, model) -> LengthPolicy:
        """The declared `LengthPolicy`, or the model's preprocessor's (windowed when the task's
        inputs are not read one row per text).

        Example:
        >>> clf.export_spec().length_policy(clf).sequence_length
        128
        """
        if self.length is not None:
            return self.length
        return LengthPolicy.of(model, windowed=self.input_kind != "texts")

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
    def pack(x, sequence_length: int, name: str = "x") -> Prepared:
        examples = as_examples(x, name=name)
        encoded = pipeline.encode(at_length(model.preprocessor, sequence_length),
                                  examples.segments)
        return Prepared(examples, encoded, None, pairs=examples.text_pairs is not None)

    inputs = ("text", "text_pair") if model.pair_inputs else ("text",)
    fields.setdefault("length", LengthPolicy.of(model))
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
