"""Text to the three tensors a BERT encoder (and an on-device runtime) consumes.

Tokenization stays out of the model graph (DESIGN decision 2): this layer runs in the `tf.data`
pipeline, and the model sees only `token_ids`, `padding_mask` and `segment_ids`.
"""

from __future__ import annotations

import collections
import hashlib
import json

import keras
import keras_hub

from kbert.lazy import tf

# Graph functions (tokenize and pack) shared by every preprocessor that tokenizes the same way:
# a model loaded back, a distilled student and its teacher, a second model of one checkpoint.
# Tracing a tokenizer's graph takes about a second per kind of input (two for pairs) on CPU,
# which each new preprocessor paid on its first predict or fit. Keyed by all `_encode` reads
# (`TextPreprocessor._function_key`); the few most recent are kept.
_SHARED_FUNCTIONS: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
_SHARED_FUNCTIONS_KEPT = 16


def default_bucket_lengths(sequence_length: int, shortest: int = 16) -> list[int]:
    """Powers of two from `shortest` up to `sequence_length` (always included).

    Example:
    >>> default_bucket_lengths(128)
    [16, 32, 64, 128]
    >>> default_bucket_lengths(100)
    [16, 32, 64, 100]
    """
    lengths, length = [], shortest
    while length < sequence_length:
        lengths.append(length)
        length *= 2
    return lengths + [sequence_length]


@keras.saving.register_keras_serializable(package="kbert")
class TextPreprocessor(keras.layers.Layer):
    """Tokenizes one text or a pair, packs `[CLS] a [SEP] (b [SEP])` and pads to a length bucket.

    Example:
    >>> pre = TextPreprocessor(kbert.presets.load_tokenizer("minilm_l6_uncased"), 128)
    >>> features = pre([tf.constant(["a gripping film", "dull"])])
    >>> features["token_ids"].shape        # padded to the smallest bucket that fits
    TensorShape([2, 16])

    Pairs are truncated round-robin: each segment keeps one more token in turn until the
    budget is spent, which leaves the same lengths as Hugging Face's "longest_first".
    """

    def __init__(self, tokenizer: keras_hub.models.BertTokenizer, sequence_length: int = 128,
                 bucket_lengths: list[int] | None = None, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        # Strings pass through untouched, as in KerasHub's own preprocessing layers.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.bucket_lengths = sorted(set(bucket_lengths or default_bucket_lengths(self.sequence_length)))
        if self.bucket_lengths[-1] != self.sequence_length:
            raise ValueError(f"The longest bucket ({self.bucket_lengths[-1]}) must equal "
                             f"sequence_length ({self.sequence_length}).")
        # Built on first use: a tokenizer restored by load_model gets its vocabulary only after
        # this constructor has run.
        self._packer = None
        # Graph functions by input kind; a plain dict, hidden from tracking: SavedModel export
        # must not try to save it.
        object.__setattr__(self, "_graph_functions", {})
        self.built = True  # No weights: nothing to build.

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def packer(self) -> keras_hub.layers.MultiSegmentPacker:
        # A method, not a property: Keras's saving walks properties before assets are loaded.
        if self._packer is None:
            self._packer = keras_hub.layers.MultiSegmentPacker(
                sequence_length=self.sequence_length,
                start_value=self.tokenizer.cls_token_id,
                end_value=self.tokenizer.sep_token_id,
                pad_value=self.pad_id,
                truncate="round_robin",
            )
        return self._packer

    def encode(self, segments) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.Tensor]:
        """Packs a batch without padding: (token_ids, segment_ids) as ragged rows, and for each
        row whether it had to be truncated.

        `segments` is a list of one or two string tensors of shape [batch].
        """
        if tf.executing_eagerly():
            # KerasHub layers return Python lists when called eagerly; run them as a graph.
            # One trace per number of segments, whatever the batch size.
            function = self._graph_function(len(segments), lambda: tf.function(
                self._encode, input_signature=[[tf.TensorSpec([None], tf.string)] *
                                               len(segments)]))
            return function([tf.convert_to_tensor(t) for t in segments])
        return self._encode(segments)

    def word_pieces(self, words: list[str]) -> tf.RaggedTensor:
        """The sub-token ids of each word, one ragged row per word (empty where the tokenizer
        keeps nothing of a word, e.g. a lone control character).

        Example:
        >>> pre.word_pieces(["Jeremy", "lives"]).to_list()
        [[6520], [3268]]
        """
        function = self._graph_function("words", lambda: tf.function(
            self._tokenize, input_signature=[tf.TensorSpec([None], tf.string)]))
        return function(tf.constant(words, tf.string))

    def _graph_function(self, kind, make):
        """The graph function of `kind` (a number of segments, or "words"): this
        preprocessor's own, else one traced by a preprocessor that tokenizes the same way
        (`_SHARED_FUNCTIONS`), else `make()`."""
        if kind in self._graph_functions:
            return self._graph_functions[kind]
        key = self._function_key(kind)
        function = _SHARED_FUNCTIONS.get(key) if key is not None else None
        if function is None:
            function = make()
        if key is not None:
            _SHARED_FUNCTIONS[key] = function
            _SHARED_FUNCTIONS.move_to_end(key)
            while len(_SHARED_FUNCTIONS) > _SHARED_FUNCTIONS_KEPT:
                _SHARED_FUNCTIONS.popitem(last=False)
        self._graph_functions[kind] = function
        return function

    def _function_key(self, kind) -> tuple | None:
        """What the graph function of `kind` computes from: the tokenizer's class, config (but
        its layer name) and vocabulary (which the config leaves out) and the sequence length;
        None where the vocabulary is not a plain list (nothing is shared then)."""
        vocabulary = getattr(self.tokenizer, "vocabulary", None)
        if not isinstance(vocabulary, (list, tuple)):
            return None
        tokenizer = type(self.tokenizer)
        config = {k: v for k, v in self.tokenizer.get_config().items() if k != "name"}
        config = json.dumps(config, sort_keys=True, default=str)
        words = hashlib.sha256("\n".join(vocabulary).encode("utf-8")).hexdigest()
        return (f"{tokenizer.__module__}.{tokenizer.__qualname__}", config, words,
                self.sequence_length, kind)

    def _encode(self, segments):
        tokens = [self.tokenizer(tf.convert_to_tensor(text)) for text in segments]
        full_length = sum(t.row_lengths() for t in tokens) + len(tokens) + 1
        token_ids, segment_ids = self.packer()(tuple(tokens))
        lengths = tf.minimum(full_length, self.sequence_length)
        return (tf.RaggedTensor.from_tensor(token_ids, lengths=lengths),
                tf.RaggedTensor.from_tensor(segment_ids, lengths=lengths),
                full_length > self.sequence_length)

    def _tokenize(self, words):
        return self.tokenizer(words)

    def bucket_of(self, length):
        """The smallest bucket length that holds `length` tokens (works on tensors)."""
        buckets = tf.constant(self.bucket_lengths, tf.int32)
        index = tf.searchsorted(buckets, tf.reshape(tf.cast(length, tf.int32), [-1]), side="left")
        return tf.reshape(tf.gather(buckets, tf.minimum(index, len(self.bucket_lengths) - 1)),
                          tf.shape(length))

    def pad(self, token_ids, segment_ids, lengths=None) -> dict[str, tf.Tensor]:
        """Pads a batch (ragged, or dense with `lengths`) to the bucket of its longest row."""
        if isinstance(token_ids, tf.RaggedTensor):
            lengths = token_ids.row_lengths()
            token_ids, segment_ids = token_ids.to_tensor(), segment_ids.to_tensor()
        lengths = tf.cast(lengths, tf.int32)
        width = self.bucket_of(tf.reduce_max(tf.concat([lengths, [1]], 0)))
        mask = tf.sequence_mask(lengths, width)

        def fit(tensor, fill):
            tensor = tf.cast(tensor[:, :width], tf.int32)
            tensor = tf.pad(tensor, [[0, 0], [0, width - tf.shape(tensor)[1]]])
            return tf.where(mask, tensor, fill)

        return {"token_ids": fit(token_ids, self.pad_id),
                "padding_mask": tf.cast(mask, tf.int32),
                "segment_ids": fit(segment_ids, 0)}

    def call(self, segments):
        if isinstance(segments, (tf.Tensor, str)) or not isinstance(segments, (list, tuple)):
            segments = [segments]
        token_ids, segment_ids, _ = self.encode(list(segments))
        return self.pad(token_ids, segment_ids)

    def get_config(self):
        config = super().get_config()
        config.update({"tokenizer": keras.layers.serialize(self.tokenizer),
                       "sequence_length": self.sequence_length,
                       "bucket_lengths": self.bucket_lengths})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("tokenizer"), dict):
            config["tokenizer"] = keras.layers.deserialize(config["tokenizer"])
        return cls(**config)
