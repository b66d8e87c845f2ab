"""Task-specific distillation: a fine-tuned model (the teacher) gives a smaller model of its own
task class (the student) whose `fit` learns from the teacher's outputs.

`distill(teacher, num_layers=3)` builds the student: the teacher's encoder with fewer
transformer layers, every weight (embeddings, a spread of the teacher's layers, the pooler, the
head) copied from the teacher, the same preprocessor and task settings. Its `fit` is the task's
own `fit` (every option: validation, checkpoints and resume, fine-tuning modes...) with one
change, the loss: the task's `distillation_loss` (each task declares what its soft targets are:
class probabilities at a temperature, per-token distributions, span start/end distributions, a
score or an embedding) between the teacher's and the student's outputs, plus, where labels are
given, the task's own loss, weighted `alpha` : `1 - alpha`. Without labels (`fit(x)`), the
teacher's outputs are the only targets: unlabelled text of the task's domain trains the student.

The teacher's outputs are computed in the training step itself, not once per training set:
they then need no storage ([windows, length, labels] floats for a tagger or a span head), they
come for streamed data (`tf.data`) as for data held in memory, batches keep the pipeline's own
length buckets, and a resumed run recomputes exactly what it had (the teacher runs without
dropout). The price is one teacher forward pass per step: on a student of half the teacher's
layers, about two thirds of the student's own forward-and-backward step.

The student knows its teacher only in memory: it saves as a plain model of its task class
(`kbert.load_model` gives a `TextClassifier`, not a student), which predicts, exports and trains
(on labels) like any other. A checkpoint of a distillation run records the teacher (a digest of
its weights), the temperature and alpha, so a resume with another teacher or other settings is
refused (`kbert.CheckpointMismatch`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
from keras import ops

from kbert.lazy import is_dataset
from kbert.preprocessing import pipeline
from kbert.preprocessing.inputs import dataset_structure, split_xy
from kbert.training import checkpoint

_EPSILON = 1e-7  # Keras's own clip for probabilities (cross-entropy on probabilities).


# ------------------------------------------------------------------------------- soft targets
# What the tasks' `distillation_loss` declarations are made of. Each returns a scalar.

def probability_logits(probabilities, multi_label: bool = False):
    """Logits that give back `probabilities` (softmax over the last axis, or for `multi_label`
    an independent sigmoid each), probabilities clipped to [1e-7, 1 - 1e-7] as Keras's
    cross-entropy clips them. For heads that output probabilities.

    Example:
    >>> ops.softmax(probability_logits(np.array([[0.2, 0.8]])))     # [[0.2, 0.8]]
    """
    p = ops.clip(ops.cast(probabilities, "float32"), _EPSILON, 1.0 - _EPSILON)
    return ops.log(p) - ops.log(1.0 - p) if multi_label else ops.log(p)


def soft_kl(teacher_logits, student_logits, temperature: float, axis: int = -1, weights=None):
    """KL(teacher || student) of the softmax distributions over `axis` at `temperature`, times
    temperature² (Hinton et al. 2015: the soft targets' gradients then keep their scale as the
    temperature changes); the mean over the other positions, or the `weights`-weighted mean
    (`weights` shaped like the logits without `axis`: 1.0 where a position counts).

    Example:
    >>> soft_kl(teacher_logits, student_logits, 2.0)     # 0.0 when they agree
    """
    t = ops.log_softmax(ops.cast(teacher_logits, "float32") / temperature, axis=axis)
    s = ops.log_softmax(ops.cast(student_logits, "float32") / temperature, axis=axis)
    kl = ops.sum(ops.exp(t) * (t - s), axis=axis)  # exp(t) * t: never 0 * -inf (log_softmax).
    return _mean(kl, weights) * (temperature ** 2)


def binary_soft_kl(teacher_logits, student_logits, temperature: float):
    """`soft_kl` for independent sigmoid outputs (multi-label): the binary KL of each label at
    `temperature`, times temperature², averaged over labels and rows.

    Example:
    >>> binary_soft_kl(teacher_logits, student_logits, 2.0)
    """
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    two_way = lambda z: ops.stack([z, ops.zeros_like(z)], axis=-1)  # noqa: E731 sigmoid = softmax
    return soft_kl(two_way(t), two_way(s), 1.0) * (temperature ** 2)


def mean_squared(teacher_outputs, student_outputs):
    """The mean squared difference: for outputs that are values (a score, an embedding), where a
    temperature has nothing to soften."""
    difference = ops.cast(student_outputs, "float32") - ops.cast(teacher_outputs, "float32")
    return ops.mean(ops.square(difference))


def _mean(values, weights):
    if weights is None:
        return ops.mean(values)
    weights = ops.cast(weights, "float32")
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


# ------------------------------------------------------------------------------- the student
@dataclasses.dataclass
class Distillation:
    """What a student learns from: its teacher and the loss settings (`distill`'s arguments).
    A plain object, not a Keras layer: the student does not track, save or train the teacher."""

    teacher: Any
    temperature: float
    alpha: float
    layers: tuple[int, ...]  # The teacher's transformer layers the student started from.

    def identity(self) -> dict:
        """What a checkpoint's run identity records of it (`Student.training_identity`)."""
        return {"distillation.teacher": checkpoint.fingerprint(self.teacher.weights),
                "distillation.teacher_class": type(self.teacher).__name__,
                "distillation.temperature": self.temperature, "distillation.alpha": self.alpha}


class Student:
    """What a model made by `distill` adds to its task class: `fit` learns from the teacher.
    Mixed in before the task class by `_student_class`; every other behaviour is the task's."""

    _distillation: Distillation | None = None
    _labelled: bool = True  # Whether the data of the current fit has labels.

    @property
    def distillation(self) -> Distillation | None:
        """The teacher and settings this model distils from; None once saved and loaded."""
        return self._distillation

    def fit(self, x=None, y=None, *, validation_data=None, callbacks=None, batch_size: int = 32,
            **kwargs):
        """The task's `fit` (every option), training on the teacher's outputs, and on the
        labels where `y` (or labelled examples) are given, weighted `alpha` : `1 - alpha`.
        Without labels, unlabelled texts of the task's kind (or a `tf.data.Dataset` of them)
        train on the teacher's outputs alone. `validation_data` (labelled or not) also logs
        `val_teacher_loss`, the distillation loss to the teacher on it (no dropout).

        Example:
        >>> student = kbert.distill(teacher, num_layers=3)
        >>> student.fit(train_texts, train_labels, epochs=3, checkpoint_dir="runs/student")
        >>> student.fit(unlabelled_texts, epochs=1)          # the teacher's outputs alone
        """
        if self._distillation is None:  # A copy made by from_config (merged()...): no teacher.
            return super().fit(x, y, validation_data=validation_data, callbacks=callbacks,
                               batch_size=batch_size, **kwargs)
        callbacks = list(callbacks or [])
        if validation_data is not None:
            inputs, labels = (split_xy(validation_data) if not is_dataset(validation_data)
                              else (validation_data, None))
            prepared = self.prepare(inputs, labels, name="validation_data")
            callbacks.insert(0, TeacherLoss(prepared, batch_size=batch_size * 2))
            if getattr(prepared, "targets", None) is None:
                validation_data = None  # Only the teacher's loss: no labels to report on.
            else:
                validation_data = prepared
        if is_dataset(x) and self.streams:
            _, labelled = dataset_structure(x)
            if not labelled:
                x = x.map(_with_placeholder_label)  # Read by nothing: the loss skips labels.
        elif not is_dataset(x):
            x, y = self.prepare(x, y), None
            labelled = x.targets is not None
            if not labelled:  # A placeholder per row, read by nothing: the loss skips labels.
                x = dataclasses.replace(x, targets=np.zeros(len(x), np.int32))
        else:
            labelled = True  # The task refuses the stream itself (Task.fit).
        if labelled != self._labelled:
            # The flag is read when the training step is traced: trace it anew.
            self.train_function = self.test_function = None
        self._labelled = labelled
        return super().fit(x, y, validation_data=validation_data, callbacks=callbacks,
                           batch_size=batch_size, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._distillation is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        d = self._distillation
        teacher_outputs = ops.stop_gradient(d.teacher(x, training=False))
        soft = self.distillation_loss(teacher_outputs, y_pred, temperature=d.temperature,
                                      padding_mask=x["padding_mask"])
        if not self._labelled:
            return soft + sum(self.losses) if self.losses else soft
        hard = super().compute_loss(x, y, y_pred, sample_weight, training)
        return d.alpha * soft + (1.0 - d.alpha) * hard

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._distillation is not None and not self._labelled:
            return self.get_metrics_result()  # The task's metrics would read placeholders.
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_metrics_result(self):
        if self._distillation is not None and not self._labelled:
            # No labels: the loss only (the task's metrics may never have been built).
            return {m.name: m.result() for m in self.metrics if m.name == "loss"}
        return super().get_metrics_result()

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        if loss == "auto":
            try:
                loss = self._default_loss()
            except NotImplementedError:  # No labels to learn (TextEmbedder): the teacher only.
                loss = None
        super().compile(optimizer, loss=loss, metrics=metrics, **kwargs)

    def training_identity(self) -> dict:
        """What the run identity of a checkpoint records besides the config
        (`kbert.training.checkpoint.model_identity`): the teacher, temperature and alpha."""
        return {} if self._distillation is None else self._distillation.identity()


def _with_placeholder_label(*text):
    return (text if len(text) > 1 else text[0]), 0


_STUDENT_CLASSES: dict[type, type] = {}


def _student_class(task_class: type) -> type:
    """The task class with `Student` mixed in, registered so that it serializes as the task
    class itself: a saved student loads as a plain model of its task."""
    if task_class not in _STUDENT_CLASSES:
        cls = type(task_class.__name__, (Student, task_class),
                   {"__module__": task_class.__module__, "__qualname__": task_class.__qualname__,
                    "__doc__": task_class.__doc__})
        name = keras.saving.get_registered_name(task_class)
        package, _, class_name = name.rpartition(">")
        keras.saving.register_keras_serializable(package=package or "kbert", name=class_name)(cls)
        # Registering names the student class like its task; loading must still give the task.
        keras.saving.get_custom_objects()[name] = task_class
        _STUDENT_CLASSES[task_class] = cls
    return _STUDENT_CLASSES[task_class]


def spread(teacher_layers: int, num_layers: int) -> list[int]:
    """The teacher's transformer layers a student of `num_layers` starts from: evenly spread,
    first and last included (`round(linspace(0, L - 1, n))`). For 12 -> 6 layers that is
    [0, 2, 4, 7, 9, 11], DistilBERT's own choice; 6 -> 3 gives [0, 2, 5], 6 -> 2 gives [0, 5].

    Example:
    >>> spread(6, 3)
    [0, 2, 5]
    """
    if num_layers == 1:
        return [teacher_layers - 1]
    return [int(i) for i in np.round(np.linspace(0, teacher_layers - 1, num_layers))]


def distill(teacher, num_layers: int | None = None, *, layers: list[int] | None = None,
            temperature: float = 2.0, alpha: float = 0.5):
    """A student of `teacher`'s task class with `num_layers` transformer layers, initialised
    from the teacher, whose `fit` learns from the teacher's outputs.

    Example:
    >>> teacher = kbert.load_model("runs/sst2/model.keras")
    >>> student = kbert.distill(teacher, num_layers=3)
    >>> student.fit(train_texts, train_labels, validation_data=(dev_texts, dev_labels), epochs=3)
    >>> student.fit(domain_texts, epochs=1)             # unlabelled: the teacher's outputs only
    >>> student.save("runs/sst2-student/model.keras")   # a plain TextClassifier from now on

    The student copies the teacher's embeddings, pooler and head, and its transformer layers
    `layers` (default `spread`: evenly spread, first and last included, as DistilBERT chose
    [0, 2, 4, 7, 9, 11] of BERT-base's 12), with the teacher's preprocessor and every task
    setting (labels, pooling, windows...); a LoRA teacher gives its merged weights
    (`merged()`). The student starts in fine-tuning mode "full"; `set_finetuning` changes it
    as for any model. Its `fit` minimises `alpha * teacher loss + (1 - alpha) * label loss`,
    the teacher loss being the task's `distillation_loss` at `temperature` (the label loss
    only where labels are given). A task that declares no `distillation_loss` (`MaskedLM`)
    is refused.
    """
    if not callable(getattr(teacher, "distillation_loss", None)):
        raise ValueError(f"{type(teacher).__name__} declares no distillation_loss: it cannot be "
                         "distilled.")
    if not temperature > 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distill: temperature must be > 0 and alpha in [0, 1]; got "
                         f"temperature={temperature!r}, alpha={alpha!r}.")
    plain = teacher.merged()  # A LoRA teacher's adapters folded into its kernels.
    source = plain.backbone
    total = len(source.transformer_layers)
    if layers is None:
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) \
                or not 1 <= num_layers <= total:
            raise ValueError(f"distill: num_layers must be 1..{total} (the teacher's layers); "
                             f"got {num_layers!r}.")
        layers = spread(total, int(num_layers))
    layers = [int(i) for i in layers]
    if (not layers or any(not 0 <= i < total for i in layers) or layers != sorted(set(layers))
            or (num_layers is not None and num_layers != len(layers))):
        raise ValueError(f"distill: layers must be distinct increasing indices of the teacher's "
                         f"{total} layers (0..{total - 1}), num_layers of them if given; got "
                         f"{layers}.")
    config = {**source.get_config(), "num_layers": len(layers)}
    config.pop("name", None)
    backbone = type(source).from_config(config)
    chosen = [source.transformer_layers[i] for i in layers]
    for layer in backbone.layers:
        if layer in backbone.transformer_layers:
            layer.set_weights(chosen[backbone.transformer_layers.index(layer)].get_weights())
        elif layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    task = {k: v for k, v in plain.get_config().items()
            if k not in ("backbone", "preprocessor", "name", "finetuning", "lora")}
    student = _student_class(type(plain))(backbone=backbone, preprocessor=plain.preprocessor,
                                          **task)
    _copy_head(plain, student)
    if tuple(student.output.shape) != tuple(plain.output.shape):
        raise ValueError(f"distill: the student's outputs would have shape {student.output.shape}, "
                         f"the teacher's {plain.output.shape} (settings that depend on the number "
                         "of layers, e.g. TextEmbedder layers='all', cannot be distilled).")
    student._distillation = Distillation(plain, float(temperature), float(alpha), tuple(layers))
    return student


def _copy_head(teacher, student) -> None:
    """The weights of every layer outside the encoder (the head), by name."""
    encoder = {id(v) for v in student.backbone.weights}
    for layer in student.layers:
        own = [w for w in layer.weights if id(w) not in encoder]
        if layer is student.backbone or not own:
            continue
        theirs = teacher.get_layer(layer.name)
        known = {id(v) for v in teacher.backbone.weights}
        for target, value in zip(own, [w for w in theirs.weights if id(w) not in known]):
            target.assign(value)


# ------------------------------------------------------------------------------- measuring
def teacher_loss(student, x, teacher=None, *, temperature: float | None = None,
                 batch_size: int = 64) -> float:
    """The mean distillation loss between the teacher's and `student`'s outputs on inputs `x`
    (no dropout): how far the student is from its teacher, 0.0 when they agree. `teacher`
    defaults to the student's own; `temperature` to its distillation's (else 1.0).

    Example:
    >>> before = kbert.training.distill.teacher_loss(student, dev_texts)
    >>> student.fit(train_texts, epochs=2)
    >>> kbert.training.distill.teacher_loss(student, dev_texts) < before
    True
    """
    settings = getattr(student, "distillation", None)
    teacher = teacher if teacher is not None else (settings.teacher if settings else None)
    if teacher is None:
        raise ValueError("teacher_loss: this model has no teacher; pass teacher=.")
    if temperature is None:
        temperature = settings.temperature if settings else 1.0
    return _teacher_loss(student, teacher, student.prepare(x), temperature, batch_size)


def _teacher_loss(student, teacher, prepared, temperature: float, batch_size: int) -> float:
    total, rows = 0.0, 0
    for inputs in pipeline.inference_batches(student.preprocessor, prepared.encoded, batch_size):
        loss = student.distillation_loss(teacher(inputs, training=False),
                                         student(inputs, training=False),
                                         temperature=temperature,
                                         padding_mask=inputs["padding_mask"])
        n = int(inputs["padding_mask"].shape[0])
        total, rows = total + float(loss) * n, rows + n
    return total / max(rows, 1)


class TeacherLoss(keras.callbacks.Callback):
    """Logs `val_teacher_loss` after every epoch: the distillation loss between the model's
    teacher and the model on `prepared` inputs (`teacher_loss`)."""

    def __init__(self, prepared, batch_size: int = 64):
        super().__init__()
        self.prepared, self.batch_size = prepared, batch_size

    def on_epoch_end(self, epoch, logs=None):
        d = self.model.distillation
        if logs is not None and d is not None:
            logs["val_teacher_loss"] = _teacher_loss(self.model, d.teacher, self.prepared,
                                                     d.temperature, self.batch_size)
