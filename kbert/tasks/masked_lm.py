"""Masked-LM domain adaptation: continued pretraining of the encoder on raw domain text."""

from __future__ import annotations

from pathlib import Path
import keras
import keras_hub
import numpy as np

from kbert.errors import KbertInputError
from kbert.lazy import tf
from kbert.preprocessing import pipeline
from kbert.preprocessing.inputs import as_examples
from kbert.preprocessing.masking import continuation_table, mask_batch
from kbert.tasks import exports
from kbert.tasks.task import Prepared, Task
from kbert.training import loop


@keras.saving.register_keras_serializable(package="kbert")
class MaskedLM(Task):
    """A BERT encoder with a masked-LM head whose output projection is tied to the word
    embeddings (KerasHub's `MaskedLMHead`). A checkpoint without a masked-LM head (the offline
    MiniLM has none) gets a new one, tied the same way.

    Example:
    >>> mlm = kbert.MaskedLM.from_preset("minilm_l6_uncased", sequence_length=128)
    >>> mlm.heldout_loss(dev_texts)            # before
    >>> mlm.fit(domain_texts, epochs=1)
    >>> mlm.heldout_loss(dev_texts)            # after: lower on the domain
    >>> mlm.save_encoder("runs/imdb_encoder")  # a preset any task's from_preset loads

    15% of the sub-tokens (or, with `whole_word_masking`, of the words) are selected per text
    and epoch; 80% of them become [MASK], 10% a random token, 10% stay. The loss is the
    cross-entropy at the selected positions.
    """

    fit_inputs = "raw texts (a list of strings, or kbert.data examples)"
    streams = False  # Masking follows the in-memory batch plan (seed, step).

    def __init__(self, backbone, preprocessor, mask_rate: float = 0.15,
                 whole_word_masking: bool = False, max_predictions: int | None = None, **kwargs):
        inputs = dict(backbone.input)
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        sequence = backbone({k: inputs[k] for k in ("token_ids", "padding_mask", "segment_ids")})
        head = keras_hub.layers.MaskedLMHead(
            token_embedding=backbone.token_embedding, intermediate_activation="gelu",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=backbone.dtype_policy, name="mlm_head")
        logits = head(sequence["sequence_output"], mask_positions=inputs["mask_positions"])
        logits = keras.layers.Activation("linear", dtype="float32", name="mlm_logits")(logits)
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone,
                         preprocessor=preprocessor, **kwargs)
        self.mask_rate, self.whole_word_masking = float(mask_rate), bool(whole_word_masking)
        self.max_predictions = int(max_predictions or max(1, round(
            preprocessor.sequence_length * mask_rate * 1.25)))
        self.mask_head = head

    def get_config(self):
        return {**super().get_config(), "mask_rate": self.mask_rate,
                "whole_word_masking": self.whole_word_masking,
                "max_predictions": self.max_predictions}

    def _default_loss(self):
        # Averaged over the real predictions only (rows hold different numbers of them).
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                          reduction="mean_with_sample_weight")

    def _default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ----------------------------------------------------------------------------- data
    def _pretokenized(self, x, y, name):
        raise KbertInputError("MaskedLM masks raw texts itself (by seed and step); pass texts, "
                              "not pre-tokenized arrays", source=name)

    def _prepare_text(self, x, y=None, *, name: str = "x") -> Prepared:
        """Checks and tokenizes raw texts once (a list of strings, or kbert.data examples)."""
        examples = as_examples(x, name=name)
        return Prepared(examples, pipeline.encode(self.preprocessor, [examples.texts]),
                        targets=np.zeros(len(examples), np.int32))

    def _masked(self, batches: tf.data.Dataset, seed: int | None = None,
                start_step: int = 0) -> tf.data.Dataset:
        tokenizer = self.preprocessor.tokenizer
        vocabulary = tokenizer.get_vocabulary()
        options = dict(mask_id=tokenizer.token_to_id("[MASK]"), vocabulary_size=len(vocabulary),
                       special_ids=[tokenizer.cls_token_id, tokenizer.sep_token_id,
                                    tokenizer.pad_token_id],
                       max_predictions=self.max_predictions, rate=self.mask_rate,
                       whole_words=self.whole_word_masking,
                       continuation=continuation_table(vocabulary))

        def mask(index, element):
            features, _ = element
            step_seed = None if seed is None else tf.stack([tf.constant(seed, tf.int64), index])
            masked, positions, targets, weights = mask_batch(
                features["token_ids"], features["padding_mask"], seed=step_seed, **options)
            return ({**features, "token_ids": masked, "mask_positions": positions},
                    targets, weights)

        return batches.enumerate(start=start_step).map(mask, num_parallel_calls=tf.data.AUTOTUNE)

    def training_inputs(self, batches: tf.data.Dataset, *, seed: int,
                        start_step: int) -> tf.data.Dataset:
        """Masks every training batch anew, by (seed, global step): each epoch masks other
        positions, and a resumed run masks as an uninterrupted one would."""
        return self._masked(batches, seed=seed, start_step=start_step)

    def evaluate(self, x=None, y=None, batch_size: int = 32, seed: int = 0, **kwargs):
        """Keras's evaluate (masked-LM loss and accuracy) with the same masks every call."""
        prepared = self.prepare(x, name="x")
        loop.ensure_compiled(self)
        batches = pipeline.inference_batches(self.preprocessor, prepared.encoded, batch_size,
                                             targets=prepared.targets)
        return keras.Model.evaluate(self, self._masked(batches, seed=seed), **kwargs)

    def evaluate_metrics(self, x, y=None, batch_size: int = 64) -> dict[str, float]:
        """The held-out masked-LM loss and accuracy (`heldout_loss`): what `fit`'s
        validation_data reports."""
        return self.heldout_loss(x, batch_size=batch_size)

    def heldout_loss(self, x, batch_size: int = 64, seed: int = 0) -> dict[str, float]:
        """Masked-LM loss and accuracy on texts, with the same masks every call (`seed`), so
        numbers before and after adaptation compare.

        Example:
        >>> mlm.heldout_loss(dev_texts)
        {'loss': 2.31, 'accuracy': 0.57, 'predictions': 15230}
        """
        prepared = self.prepare(x, name="x")
        batches = pipeline.inference_batches(self.preprocessor, prepared.encoded, batch_size,
                                             targets=prepared.targets)
        total, correct, count = 0.0, 0.0, 0.0
        for features, targets, weights in self._masked(batches, seed=seed):
            logits = np.asarray(self.predict_on_batch(features), np.float64)
            targets, weights = targets.numpy(), weights.numpy()
            shifted = logits - logits.max(-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
            picked = np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
            total += float(-(picked * weights).sum())
            correct += float(((logits.argmax(-1) == targets) * weights).sum())
            count += float(weights.sum())
        return {"loss": total / max(count, 1.0), "accuracy": correct / max(count, 1.0),
                "predictions": int(count)}

    def predict(self, x, batch_size: int = 32, **kwargs):
        raise NotImplementedError("MaskedLM adapts an encoder; use heldout_loss to measure it "
                                  "and save_encoder to use it in a task model.")

    def save_encoder(self, directory: str | Path) -> str:
        """Writes the adapted encoder and its tokenizer as a KerasHub preset directory, which
        `from_preset` of any kbert task loads. After LoRA (`set_finetuning("lora")`) that is
        the encoder with its adapters folded in (`merged()`): a plain BERT encoder.

        Example:
        >>> mlm.save_encoder("runs/imdb_encoder")
        >>> kbert.TextClassifier.from_preset("runs/imdb_encoder", num_classes=2)
        """
        from kbert.files import atomic_directory

        with atomic_directory(directory) as tmp:
            self.merged().backbone.save_to_preset(str(tmp))
            self.preprocessor.tokenizer.save_to_preset(str(tmp))
        return str(directory)

    # ----------------------------------------------------------------------------- export
    def export_spec(self) -> exports.ExportSpec:
        """A masked LM has nothing to serve: it adapts an encoder. Raises `ExportError`.

        Example:
        >>> mlm.save_encoder("runs/imdb_encoder")   # then export a task model built on it
        """
        raise exports.not_exportable(
            self, "a masked LM adapts an encoder and has no serving output (its logits are "
                  "read at masked positions only, and no runtime has a masked-LM task). Save the "
                  "adapted encoder with save_encoder(directory) and export a task model built "
                  "on it (kbert.TextClassifier.from_preset(directory, ...)).")
