"""`ELMoTokenizer`: strings to ELMo's character ids, as a Keras preprocessing layer."""

import keras

from elmo_keras.models.elmo import elmo_presets
from elmo_keras.text.char_ids import MAX_CHARACTERS_PER_TOKEN

SPLITS = ("whitespace", "corpus")


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoTokenizer(keras.layers.Layer):
    """Sentences in, ELMo character ids out, with TensorFlow string ops.

    Use it inside a model (strings in) or in `tf.data.Dataset.map` (the ids are the
    same). Its settings are saved with the model (`get_config`) and in a preset's
    `tokenizer.json`.

    Args:
        split: how a sentence becomes tokens: `"whitespace"` (the text is already
            tokenized, as bilm-tf and AllenNLP expect) or `"corpus"` (the tokenizer the
            shipped `elmo_small_en` was trained with,
            `elmo_keras.text.corpus_tokenizer.tokenize`: punctuation split off, words
            keep inner apostrophes and hyphens). `from_preset` uses the preset's choice.
        max_characters_per_token: ids per token (50 for every published model).

    Call arguments:
        inputs: a string scalar (one sentence) or 1-D tensor of sentences; a 2-D string
            tensor of tokens padded with `""` or a ragged one (already tokens: not
            split again).

    Returns:
        int32 `[batch, max_tokens, max_characters_per_token]` (`[tokens, chars]` for a
        scalar), zero at padded positions.

    Examples:
    ```python
    tokenizer = elmo_keras.ELMoTokenizer.from_preset("elmo_small_en")
    tokenizer.tokenize(["It's good!"])   # [[b"It's", b"good", b"!"]]
    ids = tokenizer(["It's good!"])      # [1, 3, 50]
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(32).map(tokenizer)
    ```
    """

    def __init__(self, split="whitespace", max_characters_per_token=MAX_CHARACTERS_PER_TOKEN,
                 **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split = split
        self.max_characters_per_token = int(max_characters_per_token)
        # Strings are no backend tensors, and XLA has no string ops.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False
        self.built = True

    def tokenize(self, inputs):
        """Sentences -> a `tf.RaggedTensor` of token strings (`[batch, (tokens)]`)."""
        import tensorflow as tf

        from elmo_keras.text import tf_text_ops

        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        split = (tf_text_ops.corpus_split_sentences if self.split == "corpus"
                 else tf_text_ops.split_sentences)
        if inputs.shape.rank == 0:
            return split(inputs[None])[0]
        if inputs.shape.rank != 1:
            raise ValueError("ELMoTokenizer.tokenize: expected a sentence or a 1-D batch of "
                             f"sentences, got shape {inputs.shape}")
        return split(inputs)

    def call(self, inputs):
        import tensorflow as tf

        from elmo_keras.text.tf_text_ops import to_char_ids, tokens_to_char_ids

        c = self.max_characters_per_token
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
            if inputs.dtype == tf.string and inputs.shape.rank == 0:  # one sentence
                return tokens_to_char_ids(self.tokenize(inputs), c)
            if inputs.dtype == tf.string and inputs.shape.rank == 1:
                return to_char_ids(self.tokenize(inputs), c)
        return to_char_ids(inputs, c)  # tokens or ids already; errors name the shape

    def compute_output_spec(self, inputs):
        c = self.max_characters_per_token
        if len(inputs.shape) == 0:
            return keras.KerasTensor((None, c), dtype="int32")
        return keras.KerasTensor((inputs.shape[0], None, c), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(split=self.split, max_characters_per_token=self.max_characters_per_token)
        return config

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """The tokenizer a preset records (`tokenizer.json`; the shipped
        `elmo_small_en` records `split="corpus"`), whitespace splitting for a preset
        that records none.

        Args:
            preset: any form `ELMo.from_preset` accepts, resolved the same way.
            **kwargs: settings to override (`split`, ...).

        Raises:
            elmo_keras.PresetError: `preset` names no model (the same error as
                `ELMo.from_preset`), or its `tokenizer.json` is not a valid tokenizer
                config (the message names the file and the field).
        """
        config = elmo_presets.tokenizer_config(preset)
        if config is None:
            return cls.from_config(dict(kwargs))
        source = f"{elmo_presets.preset_dir(preset) / elmo_presets.TOKENIZER_FILE}"
        _check_recorded_config(config, source)
        try:
            return cls.from_config({**config, **kwargs})
        except (ValueError, TypeError, KeyError) as e:
            if kwargs:
                raise
            raise elmo_presets.PresetError(
                f"{source}: not a valid ELMoTokenizer config "
                f"({' '.join(str(e).split())[:300]})") from None


def _check_recorded_config(config, source):
    """A preset's tokenizer settings within their bounds, before they are used."""
    from elmo_keras.io.bilm_options import LIMITS

    known = {"split", "max_characters_per_token", "name", "trainable", "dtype"}
    unknown = sorted(str(k) for k in config if k not in known)
    if unknown:
        raise elmo_presets.PresetError(
            f"{source}: unknown ELMoTokenizer config key(s) {', '.join(unknown)[:200]}")
    split = config.get("split", "whitespace")
    if split not in SPLITS:
        raise elmo_presets.PresetError(
            f"{source}: split is {split!r:.60}; expected one of {SPLITS}")
    c = config.get("max_characters_per_token", MAX_CHARACTERS_PER_TOKEN)
    bound = LIMITS["max_characters_per_token"]
    if isinstance(c, bool) or not isinstance(c, int) or not 3 <= c <= bound:
        raise elmo_presets.PresetError(
            f"{source}: max_characters_per_token is {c!r:.60}; expected an integer in "
            f"[3, {bound}]")
