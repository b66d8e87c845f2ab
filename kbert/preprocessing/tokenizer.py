"""BERT's text normalization, run in the tokenizer's TensorFlow graph, so a model reads the token
ids its checkpoint was pretrained on (DESIGN decision 8).

The reference is the checkpoint's own tokenizer: Hugging Face `BertNormalizer` +
`BertPreTokenizer` + `WordPiece` (the `tokenizers` crate; the original BERT `BasicTokenizer`):

1. clean text: drop U+0000, U+FFFD and every control, format and private-use character (Unicode
   Cc, Cf, Co) except tab, newline and carriage return; every whitespace character becomes " ".
2. Chinese characters: a space on both sides of each CJK ideograph.
3. strip accents (when unset, it follows `lowercase`): NFD, then drop nonspacing marks (Mn).
4. lowercase: each character's own Unicode lowercase mapping ("Σ" is always "σ"; "İ" is "i"
   plus U+0307 when accents are kept); no compatibility folding, so "ＡＢＣ" is "ａｂｃ".
5. split on whitespace, and around each punctuation character (Unicode P*, and every ASCII
   character that is neither a letter, a digit nor a space).
6. WordPiece, greedy longest match first; a word of more than 100 characters is [UNK].

Character properties come from TensorFlow's RE2 and ICU tables. They agree with the `tokenizers`
crate on every character of planes 0 and 1 but some 570 that Unicode added or recategorized
after the crate's older tables (tests/preprocessing/test_checkpoint_tokenization.py lists them).

KerasHub's `WordPieceTokenizer` differs, and its Hugging Face converter (`convert_bert.
convert_tokenizer`) passes only `lowercase=do_lower_case`: it lowercases with NFKC case folding
(`tf_text.case_fold_utf8`, which also turns full-width forms and ligatures into ASCII and "ß"
into "ss"), keeps accents (`strip_accents=False`), splits control characters off as spaces
instead of dropping them, and sends words of more than 100 bytes (not characters) to [UNK].
`BertTokenizer` here corrects all of these when it carries a `Normalization`; without one it is
KerasHub's, which is what models saved before the correction were trained with.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import keras_hub

from keras_hub.src.utils.tensor_utils import preprocessing_function

from kbert.lazy import tf

# Whitespace by Rust's `char::is_whitespace` (Unicode White_Space); RE2's \s is ASCII only.
_WHITESPACE = r"[\t\n\x0B\x0C\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}" \
              r"\x{202F}\x{205F}\x{3000}]"
# Dropped by clean text: NUL, U+FFFD, control (but not \t \n \r), format and private-use.
_DROPPED = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\x{FFFD}\p{Cf}\p{Co}]"
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
# BERT's "Chinese character" blocks (CJK Unified Ideographs and their extensions), as the
# `tokenizers` crate has them: its extension E starts at U+2B920, not U+2B820 (original BERT).
_CJK = (r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
        r"\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]")


@dataclasses.dataclass(frozen=True)
class Normalization:
    """How a checkpoint's tokenizer normalizes text before WordPiece (BERT's `BasicTokenizer`).

    Example:
    >>> n = Normalization(lowercase=True)           # an uncased BERT: accents stripped too
    >>> n.normalize(tf.constant(["Le Café, Ｆｏｏ"])).numpy()[0].decode()
    'le cafe, ｆｏｏ'
    >>> Normalization.from_config(n.get_config()) == n
    True

    `strip_accents=None` follows `lowercase`, as in BERT's tokenizers.
    """

    lowercase: bool = True
    strip_accents: bool | None = None
    clean_text: bool = True
    chinese_chars: bool = True
    max_chars_per_word: int = 100

    @property
    def strips_accents(self) -> bool:
        return self.lowercase if self.strip_accents is None else bool(self.strip_accents)

    def get_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Normalization":
        return cls(**config)

    @classmethod
    def from_hugging_face(cls, tokenizer_config: dict | None,
                          tokenizer_json: dict | None) -> "Normalization":
        """The normalization of a Hugging Face BERT checkpoint, from its `tokenizer_config.json`
        and `tokenizer.json` (either may be None).

        Example:
        >>> Normalization.from_hugging_face({"do_lower_case": False}, None)
        Normalization(lowercase=False, strip_accents=None, clean_text=True, ...)

        `tokenizer.json`'s `BertNormalizer` is the base; keys that `tokenizer_config.json` sets
        override it, as `transformers`' `BertTokenizerFast` does; the rest take BERT's defaults
        (lowercase, accents following it, CJK split, clean text).
        """
        tokenizer_config, tokenizer_json = tokenizer_config or {}, tokenizer_json or {}
        options = {}
        normalizer = tokenizer_json.get("normalizer") or {}
        if normalizer.get("type") == "BertNormalizer":
            options = {"lowercase": normalizer.get("lowercase", True),
                       "strip_accents": normalizer.get("strip_accents"),
                       "clean_text": normalizer.get("clean_text", True),
                       "chinese_chars": normalizer.get("handle_chinese_chars", True)}
        for key, option in (("do_lower_case", "lowercase"), ("strip_accents", "strip_accents"),
                            ("tokenize_chinese_chars", "chinese_chars")):
            if key in tokenizer_config:
                options[option] = tokenizer_config[key]
        model = tokenizer_json.get("model") or {}
        if model.get("type") == "WordPiece" and model.get("max_input_chars_per_word"):
            options["max_chars_per_word"] = int(model["max_input_chars_per_word"])
        options["lowercase"] = bool(options.get("lowercase", True))
        options["chinese_chars"] = bool(options.get("chinese_chars", True))
        options["clean_text"] = bool(options.get("clean_text", True))
        return cls(**options)

    def normalize(self, text: tf.Tensor) -> tf.Tensor:
        """Steps 1-4 of the module docstring on a string tensor (any shape), as graph ops.

        Example:
        >>> Normalization().normalize(tf.constant("ÉCOLE\\u200b 日本")).numpy().decode()
        'ecole  日  本 '
        """
        if self.clean_text:
            text = tf.strings.regex_replace(text, _DROPPED, "")
            text = tf.strings.regex_replace(text, _WHITESPACE, " ")
        if self.chinese_chars:
            text = tf.strings.regex_replace(text, _CJK, r" \0 ")
        if self.strips_accents:
            text = _tf_text().normalize_utf8(text, "NFD")
            text = tf.strings.regex_replace(text, r"\p{Mn}", "")
        if self.lowercase:
            # ICU's string lowercasing (tf.strings.lower) maps a word-final "Σ" to "ς"; BERT
            # lowercases character by character ("σ"). Lowercase it first, out of context.
            text = tf.strings.regex_replace(text, "\u03a3", "\u03c3")
            text = tf.strings.lower(text, encoding="utf-8")
        return text

    def normalize_text(self, text: str) -> str:
        """`normalize` on one Python string: the text a runtime with its own BERT tokenizer
        (MediaPipe's) must be given so that it produces the checkpoint's tokens.

        Example:
        >>> Normalization(lowercase=True).normalize_text("Le Café，Ｆｏｏ")
        'le cafe，ｆｏｏ'

        The same graph ops as the tokenizer, so the result is the tokenizer's own normalization
        (and the Kotlin core's `BertNormalizer`, whose goldens come from it).
        """
        return self.normalize_texts([text])[0]

    def normalize_texts(self, texts: list[str]) -> list[str]:
        """`normalize_text` on many strings in one graph call.

        Example:
        >>> Normalization(lowercase=True).normalize_texts(["Ça", "日本"])
        ['ca', ' 日  本 ']
        """
        texts = [str(t) for t in texts]
        if not texts:
            return []
        return [t.decode("utf-8") for t in self.normalize(tf.constant(texts)).numpy()]

    def split(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Normalized text of shape [batch] to its words, [batch, (words)] (step 5)."""
        return _tf_text().regex_split(
            text, delim_regex_pattern=f"{_WHITESPACE}+|{_PUNCTUATION}",
            keep_delim_regex_pattern=_PUNCTUATION)

    def words_with_spans(self, texts: list[str]) -> list[tuple[list[str], list[tuple[int, int]]]]:
        """Each text's words (steps 1-5) as slices of the original text, with their character
        spans, so that tokenizing the slices one by one gives the text's own token ids.

        Example:
        >>> Normalization().words_with_spans(["Frédéric Chopin, 日本"])
        [(['Frédéric', 'Chopin', ',', '日', '本'], [(0, 8), (9, 15), (15, 16), (17, 18), (18, 19)])]

        Every step before the split acts on each character alone (NFD's reordering of combining
        marks moves nothing across a word boundary), so each original character is normalized
        once, by the graph ops themselves, and the words are read off in Python. A word spans
        from its first to its last contributing character, with any dropped characters between.
        """
        chars = sorted(set("".join(texts)))
        if not chars:
            return [([], []) for _ in texts]
        normalized = [c.decode("utf-8") for c in self.normalize(tf.constant(chars)).numpy()]
        mapped = dict(zip(chars, normalized))
        out_chars = sorted(set("".join(normalized)))
        kinds = {}
        if out_chars:
            space = tf.strings.regex_full_match(tf.constant(out_chars), _WHITESPACE).numpy()
            punct = tf.strings.regex_full_match(tf.constant(out_chars), _PUNCTUATION).numpy()
            kinds = {c: "space" if s else "punct" if p else "word"
                     for c, s, p in zip(out_chars, space, punct)}
        return [_read_words(text, mapped, kinds) for text in texts]


def _read_words(text: str, mapped: dict[str, str], kinds: dict[str, str]
                ) -> tuple[list[str], list[tuple[int, int]]]:
    spans: list[tuple[int, int]] = []
    current = None

    def add(span):
        # An original character whose normalized form holds two words stays one word.
        if spans and span[0] < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(span[1], spans[-1][1]))
        else:
            spans.append(span)

    for i, char in enumerate(text):
        for out in mapped[char]:
            kind = kinds[out]
            if kind == "word":
                current = (i, i + 1) if current is None else (current[0], i + 1)
                continue
            if current is not None:
                add(current)
                current = None
            if kind == "punct":
                add((i, i + 1))
    if current is not None:
        add(current)
    return [text[s:e] for s, e in spans], spans


def _tf_text():
    import tensorflow_text

    return tensorflow_text


@keras.saving.register_keras_serializable(package="kbert")
class BertTokenizer(keras_hub.models.BertTokenizer):
    """KerasHub's BERT tokenizer that normalizes text as its checkpoint does, when it carries a
    `Normalization` (from `kbert.presets.load_tokenizer`); without one, KerasHub's own.

    Example:
    >>> tokenizer = BertTokenizer(vocabulary=vocab, normalization=Normalization(lowercase=True))
    >>> tokenizer(["Café Ｘ"])                      # "cafe", "ｘ": accents out, no NFKC folding

    The normalization is part of the config, so it survives `save` / `load_model`; a config
    without it (a model saved before this class existed, or KerasHub's class) keeps KerasHub's
    lowercasing with NFKC case folding and no accent stripping.
    """

    def __init__(self, vocabulary=None, lowercase: bool = False,
                 normalization: Normalization | dict | None = None, **kwargs):
        if isinstance(normalization, dict):
            normalization = Normalization.from_config(normalization)
        self.normalization = normalization
        if normalization is not None:
            # What exports and MediaPipe checks read: whether the model is uncased.
            lowercase = normalization.lowercase
            kwargs["strip_accents"] = normalization.strips_accents
            kwargs["split_on_cjk"] = normalization.chinese_chars
            if kwargs.get("special_tokens_in_strings") or kwargs.get("split") is False:
                raise ValueError("A normalizing BertTokenizer splits raw text itself: "
                                 "special_tokens_in_strings and split=False are not supported.")
        super().__init__(vocabulary=vocabulary, lowercase=lowercase, **kwargs)

    def _set_vocabulary_tf(self):
        if self.normalization is None:
            return super()._set_vocabulary_tf()
        # FastWordpieceTokenizer's own limit counts bytes; the character limit is applied in
        # `_tokenize_tf`, so this one only has to let every such word through.
        self._fast_word_piece = _tf_text().FastWordpieceTokenizer(
            vocab=self.vocabulary, token_out_type=self.compute_dtype,
            suffix_indicator=self.suffix_indicator, unknown_token=self.oov_token,
            max_bytes_per_word=4 * self.normalization.max_chars_per_word,
            no_pretokenization=True, support_detokenization=True)

    def tokenize(self, inputs):
        if self.normalization is None:
            return super().tokenize(inputs)
        self._check_vocabulary()
        return self._normalized_tokenize(inputs)

    @preprocessing_function  # KerasHub's wrapper: on CPU, outputs converted as its own.
    def _normalized_tokenize(self, inputs):
        self._maybe_initialized_tf()
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        words = self.normalization.split(self.normalization.normalize(inputs))
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > \
            self.normalization.max_chars_per_word
        words = words.with_flat_values(tf.where(too_long, self.oov_token, words.flat_values))
        tokens = self._fast_word_piece.tokenize(words).merge_dims(-2, -1)
        if self.sequence_length:
            shape = tokens.shape.as_list()
            shape[-1] = self.sequence_length
            tokens = tokens.to_tensor(shape=shape)
        if unbatched:
            tokens = tf.squeeze(tokens, 0)
        return tokens

    def get_config(self):
        config = super().get_config()
        config["normalization"] = (None if self.normalization is None
                                   else self.normalization.get_config())
        return config


def normalization_of(tokenizer) -> Normalization | None:
    """The `Normalization` a tokenizer applies, or None for KerasHub's own (case folding).

    Example:
    >>> normalization_of(kbert.presets.load_tokenizer("minilm_l6_uncased"))
    Normalization(lowercase=True, strip_accents=None, ...)
    """
    return getattr(tokenizer, "normalization", None)



def tokenizer_from_settings(vocabulary: list[str], *, lowercase: bool,
                            normalization: dict | None) -> keras_hub.models.BertTokenizer:
    """The tokenizer a model was trained with, from what an exported file records (`vocab.txt`,
    and kbert.json's `lowercase` and `normalization`): the checkpoint's normalization where it is
    recorded, KerasHub's own tokenizer for files written before kbert recorded it.

    Example:
    >>> tokenizer_from_settings(vocab, lowercase=True, normalization={"lowercase": True})
    """
    if normalization is None:
        return keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=lowercase)
    return BertTokenizer(vocabulary=vocabulary, normalization=normalization)
