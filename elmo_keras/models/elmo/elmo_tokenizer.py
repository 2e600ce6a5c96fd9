"""`ELMoTokenizer`: strings to ELMo's character ids, as a Keras preprocessing layer."""

import keras

from elmo_keras.models.elmo import elmo_preset_loader
from elmo_keras.text import inputs as text_inputs
from elmo_keras.text.char_ids import MAX_CHARACTERS_PER_TOKEN

SPLITS = text_inputs.SPLITS


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoTokenizer(keras.layers.Layer):
    """Sentences in, ELMo character ids out, on every Keras backend.

    The layer form of `elmo_keras.text.inputs.to_char_ids`, the one strings-to-ids
    implementation: Python and NumPy inputs become NumPy ids (any backend, no
    TensorFlow needed); TensorFlow tensors (in `tf.data.Dataset.map`, in a TensorFlow
    model's graph) run the same rules in the graph (`elmo_keras.text.tf_text_ops`), and
    the ids are the same. Its settings are saved with a model (`get_config`) and in a
    preset's `tokenizer.json`.

    Args:
        split: how a sentence becomes tokens: `"whitespace"` (the text is already
            tokenized, as bilm-tf and AllenNLP expect) or `"corpus"` (the tokenizer the
            shipped `elmo_small_en` was trained with,
            `elmo_keras.text.corpus_tokenizer.tokenize`: punctuation split off, words
            keep inner apostrophes and hyphens). `from_preset` uses the preset's choice.
        max_characters_per_token: ids per token (50 for every published model).

    Call arguments:
        inputs: one sentence (a string) or a 1-D batch of sentences; or tokens (lists
            of token lists, a 2-D array padded with `""`, a ragged tensor: not split
            again). Python values, NumPy arrays or TensorFlow tensors.

    Returns:
        int32 `[batch, max_tokens, max_characters_per_token]` (`[tokens, chars]` for one
        sentence), zero at padded positions: a NumPy array, or a `tf.Tensor` for a
        TensorFlow input.

    Examples:
    ```python
    tokenizer = elmo_keras.ELMoTokenizer.from_preset("elmo_small_en")
    tokenizer.tokenize(["It's good!"])   # [["It's", "good", "!"]]
    ids = tokenizer(["It's good!"])      # [1, 3, 50]
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(32).map(tokenizer)
    ```
    """

    def __init__(self, split="whitespace", max_characters_per_token=MAX_CHARACTERS_PER_TOKEN,
                 **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        self.split = text_inputs.check_split(split)
        self.max_characters_per_token = int(max_characters_per_token)
        # Strings are no backend tensors, and XLA has no string ops.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False
        self.built = True

    def tokenize(self, inputs):
        """Sentences -> tokens: lists of `str` for Python or NumPy input, a
        `tf.RaggedTensor` of byte strings (`[batch, (tokens)]`) for a TensorFlow one
        (see `elmo_keras.text.inputs.to_tokens`)."""
        return text_inputs.to_tokens(inputs, self.split)

    def call(self, inputs):
        return text_inputs.to_char_ids(inputs, self.split, self.max_characters_per_token)

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
        config = elmo_preset_loader.tokenizer_config(preset)
        if config is None:
            return cls.from_config(dict(kwargs))
        loader = elmo_preset_loader
        source = f"{loader.preset_dir(preset) / loader.TOKENIZER_FILE}"
        _check_recorded_config(config, source)
        try:
            return cls.from_config({**config, **kwargs})
        except (ValueError, TypeError, KeyError) as e:
            if kwargs:
                raise
            raise elmo_preset_loader.PresetError(
                f"{source}: not a valid ELMoTokenizer config "
                f"({' '.join(str(e).split())[:300]})") from None


def _check_recorded_config(config, source):
    """A preset's tokenizer settings within their bounds, before they are used."""
    from elmo_keras.io.bilm_options import LIMITS

    known = {"split", "max_characters_per_token", "name", "trainable", "dtype"}
    unknown = sorted(str(k) for k in config if k not in known)
    if unknown:
        raise elmo_preset_loader.PresetError(
            f"{source}: unknown ELMoTokenizer config key(s) {', '.join(unknown)[:200]}")
    split = config.get("split", "whitespace")
    if split not in SPLITS:
        raise elmo_preset_loader.PresetError(
            f"{source}: split is {split!r:.60}; expected one of {SPLITS}")
    c = config.get("max_characters_per_token", MAX_CHARACTERS_PER_TOKEN)
    bound = LIMITS["max_characters_per_token"]
    if isinstance(c, bool) or not isinstance(c, int) or not 3 <= c <= bound:
        raise elmo_preset_loader.PresetError(
            f"{source}: max_characters_per_token is {c!r:.60}; expected an integer in "
            f"[3, {bound}]")
