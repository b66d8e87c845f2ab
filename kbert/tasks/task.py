"""The base every kbert task model shares: the head contract its subclasses fill in, a config
that round-trips through `save` / `kbert.load_model`, and the facade users call (`from_preset`,
`compile`, `prepare`, `fit`, `evaluate`, `predict`).

The facade delegates each concern to its stage: presets and adapter files to `kbert.presets` and
`kbert.tasks.lora`, fine-tuning modes to `kbert.tasks.finetuning`, the optimizer recipe to
`kbert.training.optimizer`, the fit dispatch to `kbert.training.loop`, inference batching to
`kbert.training.inference`; `Prepared` is a preprocessing type
(`kbert.preprocessing.prepared`, importable from here as before).
"""

from __future__ import annotations

import keras
import numpy as np

from kbert import presets
from kbert.data.examples import TextExamples
from kbert.errors import KbertInputError
from kbert.lazy import is_dataset, tf
from kbert.preprocessing import features, pipeline
from kbert.preprocessing.inputs import as_examples
from kbert.preprocessing.prepared import Prepared, require_targets
from kbert.preprocessing.text import TextPreprocessor
from kbert.tasks import finetuning, lora
from kbert.tasks.exports import not_exportable
from kbert.training import distribute, inference, loop
from kbert.training.optimizer import default_optimizer

__all__ = ["Task", "Prepared"]  # Prepared: where it was imported from before it moved.


class Task(*distribute.MODEL_MIXINS, keras.Model):
    """A BERT encoder (`self.backbone`) plus one head, fed by `self.preprocessor`.

    Subclasses build their head in `__init__` and pass the functional graph here; they say how
    to turn labels into targets (`_targets`), which loss and metrics to compile with, and how to
    report on a whole prediction set (`_report`).
    """

    # What fit takes, and whether a tf.data.Dataset of (text, label) may stream it.
    fit_inputs = "texts or (text_a, text_b) pairs with labels"
    streams = True
    # fit's default for group_by_length: batches of similar length (fewer padded positions).
    group_by_length = True
    # Config keys read only when decoding predictions, not in training: a checkpoint's run
    # identity leaves them out, so a resume may change them.
    decoding_settings: tuple[str, ...] = ()
    # from_preset's sequence_length when neither the caller nor an adapter file gives one.
    default_sequence_length = 128

    def __init__(self, *, inputs, outputs, backbone, preprocessor: TextPreprocessor,
                 pair_inputs: bool = False, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        # Whether inputs are (text_a, text_b) pairs: set by fit, kept in the config for export.
        self.pair_inputs = bool(pair_inputs)
        self.dtype_policy = backbone.dtype_policy
        finetuning.apply(self, "full")  # from_preset / from_config apply the model's own mode.

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def from_preset(cls, preset: str = presets.OFFLINE_DEFAULT, *,
                    sequence_length: int | None = None, mixed_precision: bool | str = False,
                    bucket_lengths: list[int] | None = None, adapter: str | None = None,
                    **kwargs) -> "Task":
        """Builds the task on a pretrained encoder; see `kbert.presets.resolve` for `preset`.

        `sequence_length` defaults to the task's `default_sequence_length` (128; 384 for
        `QuestionAnswerer`). `mixed_precision=True` runs the encoder in bfloat16
        ("mixed_bfloat16"); "mixed_float16" is accepted too (with loss scaling). The head and
        the loss stay float32. `finetuning` (default "full") is `set_finetuning`'s mode.

        `adapter`: a file written by `save_adapter` (LoRA adapters and head): the fine-tuned
        model is rebuilt from the base `preset` it was trained on plus that file, with every
        setting the file records (labels, windows, `sequence_length`, length buckets...) unless
        given here explicitly; an adapter of another base encoder or task is refused
        (`kbert.tasks.lora.AdapterError`).

        Example:
        >>> clf = kbert.TextClassifier.from_preset("minilm_l6_uncased", adapter="sst2.lora.h5")
        """
        info = None if adapter is None else lora.read_adapter(adapter)
        if info is not None:  # The file's own task class and settings; the caller's win.
            cls = lora.adapter_task_class(info, requested=cls, base=Task)
            kwargs = {**info.config, **kwargs}
            sequence_length = sequence_length or info.sequence_length
            bucket_lengths = bucket_lengths or info.bucket_lengths
        backbone, preprocessor, saved = presets.load_task_encoder(
            preset, sequence_length or cls.default_sequence_length,
            mixed_precision=mixed_precision, bucket_lengths=bucket_lengths)
        mode, lora_config = finetuning.pop_config(kwargs)
        model = cls(backbone=backbone, preprocessor=preprocessor, **kwargs)
        if type(saved) is cls and info is None:
            presets.continue_head(model, saved)
        # Always: a saved model's encoder (preset=model.keras) comes with its own layer flags.
        model.set_finetuning(mode or "full", **lora_config)
        if info is not None:
            lora.load_adapter(model, info)
        return model

    def get_config(self):
        # Not chained to the functional config: the constructor arguments are the config.
        config = {"backbone": keras.layers.serialize(self.backbone),
                  "preprocessor": keras.layers.serialize(self.preprocessor),
                  "pair_inputs": self.pair_inputs, "name": self.name}
        return {**config, **finetuning.config(self)}  # The mode (and LoRA settings).

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            if isinstance(config.get(key), dict):
                config[key] = keras.layers.deserialize(config[key])
        mode, lora_config = finetuning.pop_config(config)
        if mode is None:  # Saved before modes were recorded: only a frozen encoder showed.
            mode = "full" if getattr(config.get("backbone"), "trainable", True) else "frozen"
        model = cls(**config)
        # After the subclass has set up its head (pooling...), before weights and the optimizer
        # load: the trainable variables are then those the optimizer state was saved for.
        model.set_finetuning(mode, **lora_config)
        return model

    @property
    def lora(self) -> "lora.LoraSettings | None":
        """The LoRA settings (rank, adapted projections) if the encoder has adapters, else None."""
        return getattr(self, "_lora", None)

    # ----------------------------------------------------------------------------- subclass hooks
    def _targets(self, examples: TextExamples) -> np.ndarray:
        raise NotImplementedError

    def _report(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def _default_loss(self):
        raise NotImplementedError

    def _default_metrics(self) -> list:
        return []

    # ----------------------------------------------------------------------------- compile
    def set_finetuning(self, mode="full", *, rank: int | None = None,
                       targets: list[str] | None = None) -> "Task":
        """Which encoder weights train: "full" (all), "frozen" (none: only the head trains, the
        encoder is a fixed feature extractor), an int k (the top k transformer layers; the
        embeddings and lower layers stay frozen), or "lora": low-rank adapters of `rank`
        (default 8) on the `targets` projections (default the attention "query" and "value",
        as in KerasHub; any of `kbert.tasks.lora.adaptable_layer_names(model.backbone)`), the
        rest of the encoder frozen. The head always trains in full. Call before `compile`/`fit`.

        Example:
        >>> clf.set_finetuning("frozen").fit(texts, labels)     # a linear probe on the encoder
        >>> clf.set_finetuning(2)                                 # the top two layers train
        >>> clf.set_finetuning("lora", rank=8).fit(texts, labels)   # compile() picks LoRA's rate
        >>> clf.save_adapter("sst2.lora.h5")                      # adapters + head only

        Frozen weights get no gradients at all (they are not trainable variables, so backprop
        stops at the lowest trainable layer), and stay bit-identical through `fit`. Adapters
        cannot be taken out again: `merged()` gives a plain copy to fine-tune another way.
        BERT's pooler trains iff the head reads it and the encoder's top layer trains. The mode
        is part of the config (`model.finetuning`): `save` -> `kbert.load_model` restores it,
        with the optimizer state of exactly these trainable variables
        (`kbert.tasks.finetuning`).
        """
        finetuning.apply(self, mode, rank=rank, targets=targets)
        return self

    def merged(self) -> "Task":
        """The model itself, or for a LoRA model a plain copy with every adapter folded into its
        encoder's kernels (kernel + A @ B): the same predictions, the same layers and size as a
        fully fine-tuned model (mode "full"). `kbert.export` exports this.

        Example:
        >>> plain = lora_clf.merged()
        >>> np.allclose(plain.predict(texts), lora_clf.predict(texts), atol=1e-5)
        True
        """
        return lora.merged_model(self)

    def save_adapter(self, path) -> str:
        """Writes only what LoRA fine-tuning trained, the adapters and the head, with the task's
        settings and a fingerprint of the base encoder, into one small file (KerasHub's
        `.lora.h5` layout, which `backbone.load_lora_weights` also reads).
        `Task.from_preset(preset, adapter=path)` rebuilds the fine-tuned model from it.

        Example:
        >>> clf.set_finetuning("lora").fit(texts, labels)
        >>> clf.save_adapter("runs/sst2.lora.h5")                 # ~1.8 MB for MiniLM, rank 8
        >>> kbert.TextClassifier.from_preset("minilm_l6_uncased", adapter="runs/sst2.lora.h5")
        """
        return lora.save_adapter(self, path)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", *,
                learning_rate: float | None = None, warmup_ratio: float = 0.1,
                weight_decay: float = 0.01, clipnorm: float | None = 1.0,
                layer_decay: float | None = None, total_steps: int | None = None,
                lazy_embeddings: bool = False, jit_compile="auto", **kwargs):
        """With no arguments: BERT's recipe. AdamW at peak `learning_rate` 5e-5 (weight decay
        0.01, not on LayerNorm or biases), linear warmup over `warmup_ratio` of the steps then
        linear decay to zero, global gradient-norm clipping at 1.0. Every `fit` plans the schedule over that call's steps,
        keeping the optimizer's state (so a second `fit`, or a `fit` on a loaded model, warms up
        and decays again); `train_on_batch` or a custom loop before any `fit` runs at
        `learning_rate`, or over `total_steps` if given. `jit_compile="auto"` is Keras's rule:
        XLA on GPU/TPU, off on a CPU-only TensorFlow machine, where BENCHMARKS.md measured 4%
        faster steps for 68 s more compiling over three length buckets
        (`scripts/benchmark.py --what=xla`).

        Under LoRA (`set_finetuning("lora")`) the default peak is
        `kbert.tasks.lora.LEARNING_RATE`: adapters starting at zero need a far higher rate
        (measured on SST-2, RESULTS.md "Issue 20").

        `layer_decay` (e.g. 0.9) gives each encoder layer the learning rate of the one above
        times the factor (the head keeps `learning_rate`; see
        `kbert.training.optimizer.layer_decay_multipliers`).

        `lazy_embeddings=True` (TensorFlow backend) updates the word-embedding table only in
        the rows each batch looks up, instead of all 30k rows' moments and weights at every
        step (`kbert.training.optimizer.AdamW`): a faster CPU step; BENCHMARKS.md and
        RESULTS.md give its speed and accuracy.

        Example:
        >>> model.compile(learning_rate=3e-5, warmup_ratio=0.06)
        >>> model.compile(learning_rate=1e-4, layer_decay=0.8)
        """
        if optimizer == "auto":
            optimizer = default_optimizer(
                self, learning_rate, warmup_ratio=warmup_ratio, weight_decay=weight_decay,
                clipnorm=clipnorm, layer_decay=layer_decay, total_steps=total_steps,
                lazy_embeddings=lazy_embeddings)
        super().compile(optimizer=optimizer,
                        loss=self._default_loss() if loss == "auto" else loss,
                        metrics=self._default_metrics() if metrics == "auto" else metrics,
                        jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        # How load_model restores the optimizer (and its state), loss and metrics. The
        # optimizer's schedule remembers that fit plans it (WarmupLinearDecay.replan).
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ----------------------------------------------------------------------------- data
    def prepare(self, x, y=None, *, name: str = "x") -> "Prepared | features.PreTokenized":
        """Checks and tokenizes inputs once; `fit`, `evaluate` and `predict` accept the result.

        Pre-tokenized inputs (a dict of `token_ids`, `padding_mask` and `segment_ids` arrays,
        with numeric targets as the loss takes them) are checked and kept as they are
        (`kbert.preprocessing.features`): no tokenizer and no TensorFlow is needed for them;
        targets outside what the task's loss takes (`_target_spec`) are refused naming the row.
        A finite `tf.data.Dataset` (`kbert.preprocessing.inputs.dataset_structure`) is read
        whole with its own labels, the same data as the lists it holds (only `fit` and
        `predict` stream one).

        Example:
        >>> prepared = clf.prepare(dev_texts, dev_labels)
        >>> clf.evaluate_metrics(prepared)          # tokenized once, reusable
        """
        if isinstance(x, (Prepared, features.PreTokenized)):
            return x
        if features.is_features(x):  # A dict of arrays.
            return self._pretokenized(x, y, name)
        if is_dataset(x) and not self.streams:
            raise KbertInputError(f"{type(self).__name__} takes {self.fit_inputs}, not a "
                                  "tf.data.Dataset", source=name)
        return self._prepare_text(x, y, name=name)

    def _pretokenized(self, x, y, name: str) -> features.PreTokenized:
        return features.as_pretokenized(
            x, y, vocabulary_size=self.backbone.vocabulary_size,
            max_length=self.backbone.max_sequence_length, name=name,
            targets=self._target_spec())

    def _target_spec(self) -> "features.TargetSpec | None":
        """What the task's loss takes as numeric targets (shape and range per row), checked on
        pre-tokenized inputs; None: only that they are finite numbers."""
        return None

    def _raw_inputs(self, x, y=None, *, what: str) -> Prepared:
        """`prepare` for what decodes words or spans from the raw inputs (tags, answers, their
        reports): pre-tokenized arrays are refused there; `predict` gives their outputs."""
        prepared = self.prepare(x, y)
        if isinstance(prepared, features.PreTokenized):
            raise KbertInputError(f"{type(self).__name__}.{what} decodes from {self.fit_inputs}, "
                                  "not pre-tokenized arrays: `predict` gives the model's outputs "
                                  "for those", source=prepared.source)
        return prepared

    def _prepare_text(self, x, y=None, *, name: str = "x") -> Prepared:
        """`prepare` for raw inputs, the task's own kind (texts, pairs, word lists...)."""
        examples = as_examples(x, y, name=name)
        targets = None if examples.labels is None else self._targets(examples)
        return Prepared(examples, pipeline.encode(self.preprocessor, examples.segments), targets,
                        pairs=examples.text_pairs is not None)

    def _require_targets(self, prepared: Prepared, what: str) -> None:
        require_targets(prepared, what)

    # ----------------------------------------------------------------------------- train / use
    def fit(self, x=None, y=None, *, batch_size: int = 32, epochs: int = 1,
            validation_data=None, callbacks=None, shuffle: bool = True, seed: int | None = None,
            group_by_length: bool | None = None, steps_per_epoch: int | None = None,
            initial_epoch: int = 0, checkpoint_dir: str | None = None,
            checkpoint_every: int = 500, shuffle_buffer: int = 10_000, **kwargs):
        """Fine-tunes on raw text.

        Example:
        >>> clf.fit(["great", "awful"], ["pos", "neg"], validation_data=(dev_x, dev_y), epochs=3)
        >>> clf.fit(x, y, epochs=3, checkpoint_dir="runs/sst2/checkpoint")  # resumable

        `x` is anything `prepare` takes, or a `tf.data.Dataset` of (text, label) elements
        (labels already numeric; pass `steps_per_epoch` if its size is unknown). Batches hold
        examples of similar length, padded to their length bucket (`group_by_length`; None:
        the task's default, off for `TokenClassifier`); the batches of every epoch are fixed by
        `seed` (random if None). `steps_per_epoch` makes each epoch that many batches, the data
        continuing where the last epoch stopped.
        Streams are shuffled through a buffer of `shuffle_buffer` rows.
        `validation_data` is (x, y) (a tuple is always (x, y), as in Keras), or labelled
        examples or a labelled `tf.data.Dataset` (read whole), reported after every epoch with
        the task's full metrics.
        Each call trains on with the optimizer state it finds (a loaded model, an earlier fit)
        and plans the default schedule over its own steps (`kbert.training.loop`).
        With `checkpoint_dir`, the full training state is saved every `checkpoint_every` steps
        and at each epoch's end; calling `fit` again the same way resumes exactly where the
        last checkpoint was taken; a checkpoint of another run (other data, seed, batch size,
        epochs or optimizer recipe) is refused with `kbert.CheckpointMismatch`. A loss that
        becomes NaN stops training with `TrainingDiverged`, naming the step.
        Pre-tokenized arrays (`prepare`) train at the width they come with, with no length
        buckets and no TensorFlow; their `validation_data` is Keras's (loss and compiled
        metrics).
        """
        options = loop.FitOptions(
            batch_size=batch_size, epochs=epochs, shuffle=shuffle, seed=seed,
            group_by_length=(self.group_by_length if group_by_length is None
                             else group_by_length),
            steps_per_epoch=steps_per_epoch, initial_epoch=initial_epoch,
            checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
            shuffle_buffer=shuffle_buffer)
        return loop.fit(self, x, y, options, callbacks=callbacks,
                        validation_data=validation_data, **kwargs)

    def training_inputs(self, batches: tf.data.Dataset, *, seed: int,
                        start_step: int) -> tf.data.Dataset:
        """What the model trains on, from padded (features, targets) batches starting at global
        step `start_step`: the batches themselves; `MaskedLM` masks them."""
        return batches

    def _predict_prepared(self, prepared: Prepared, batch_size: int, **kwargs) -> np.ndarray:
        # Keras's own predict: a subclass's predict (labels, tags) is not re-entered.
        return inference.predict_prepared(super().predict, self.preprocessor, prepared,
                                          batch_size, **kwargs)

    def window_outputs(self, prepared: Prepared, batch_size: int = 32) -> np.ndarray:
        """Per-token outputs of every input row, [rows, sequence_length, ...] (zeros past each
        row's end), in row order: what word- and span-level tasks decode from.

        Example:
        >>> tagger.window_outputs(tagger.prepare([["Jeremy", "lives", "in", "Paris"]])).shape
        (1, 128, 9)
        """
        return inference.window_outputs(self.predict_on_batch, self.preprocessor, prepared,
                                        batch_size)

    def export_spec(self):
        """What this task exports (`kbert.tasks.exports.ExportSpec`): every task declares its own,
        and `kbert.export` reads nothing else. Raises `ExportError` for a task with no export.

        Example:
        >>> clf.export_spec().output_names
        ('probability',)
        """
        raise not_exportable(self, "it declares no export (Task.export_spec).")

    def serving_outputs(self, outputs) -> dict:
        """The named outputs an export serves (TFLite, SavedModel), from the model's outputs.

        Example:
        >>> qa.serving_outputs(logits)["start_logits"].shape
        (1, 384)
        """
        return self.export_spec().outputs(outputs)

    def predict(self, x, batch_size: int = 32, **kwargs) -> np.ndarray:
        """Model outputs for raw texts (or pairs), or pre-tokenized arrays, in input order.

        Example:
        >>> clf.predict(["a gripping film"]).shape
        (1, 2)
        >>> clf.predict({"token_ids": ids, "padding_mask": mask, "segment_ids": segments})
        """
        if is_dataset(x):  # Streamed, in order; a labelled dataset's labels are dropped.
            return inference.predict_stream(super().predict, self.preprocessor, x, batch_size,
                                            **kwargs)
        return self._predict_prepared(self.prepare(x), batch_size, **kwargs)

    def evaluate(self, x=None, y=None, batch_size: int = 32, **kwargs):
        """Keras's evaluate (loss and compiled metrics) on raw texts and labels."""
        prepared = self.prepare(x, y)
        self._require_targets(prepared, "evaluate")
        loop.ensure_compiled(self)
        return inference.evaluate_prepared(super().evaluate, self.preprocessor, prepared,
                                           batch_size, **kwargs)

    def evaluate_metrics(self, x, y=None, batch_size: int = 64) -> dict[str, float]:
        """The task's full metric report (scikit-learn / scipy) on a labelled set.

        Example:
        >>> clf.evaluate_metrics(dev_texts, dev_labels)
        {'loss': 0.27, 'accuracy': 0.91, 'f1': 0.91, 'macro_f1': 0.91, 'mcc': 0.82}
        """
        prepared = self.prepare(x, y)
        self._require_targets(prepared, "evaluate_metrics")
        return self._report(prepared.targets, self._predict_prepared(prepared, batch_size))

    def metrics_for(self, outputs: np.ndarray, x, y=None) -> dict[str, float]:
        """The same report for outputs computed elsewhere, e.g. by an exported TFLite model.

        Example:
        >>> clf.metrics_for(tflite_probabilities, dev_texts, dev_labels)["accuracy"]
        0.905
        """
        examples = as_examples(x, y, name="x")
        if examples.labels is None:
            raise KbertInputError("metrics need labels", source=examples.source)
        return self._report(self._targets(examples), np.asarray(outputs))
