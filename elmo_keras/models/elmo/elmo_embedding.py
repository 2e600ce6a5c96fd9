"""`ELMoEmbedding`: ELMo as one Keras 3 layer from strings to contextual vectors."""

import keras
from keras import ops

from elmo_keras.layers.sentence_boundaries import token_mask
from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.models.elmo.elmo_outputs import hub_output_shapes, hub_output_specs, hub_outputs
from elmo_keras.models.elmo.elmo_preset_loader import resolve_model, resolve_preset
from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer
from elmo_keras.text import inputs as text_inputs
from elmo_keras.text.char_ids import validate_char_ids

#: The model `ELMoEmbedding()` uses when given none.
DEFAULT_PRESET = "elmo_small_en"


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoEmbedding(keras.layers.Layer):
    """ELMo for Keras 3 models: sentences or tokens in, contextual vectors out.

    Args:
        options: bilm-tf options.json path (with `weights`).
        weights: bilm-tf weights.hdf5 path.
        model: instead of options/weights: an `ELMo` instance or any form
            `ELMo.from_preset` accepts (a registered name such as `"elmo_small_en"`, a
            preset directory, a directory with options.json + weights.hdf5, an
            `export-hub` directory, a `.keras` file). With none of these, the shipped
            `elmo_small_en`.
        output: `"elmo"` (the trainable mix, default), `"word_emb"`,
            `"lstm_outputs1"` ... `"lstm_outputsL"`, `"default"` (the mix averaged over
            real tokens, `[batch, 2P]`), or `"all"` (a dict of all of these plus
            `sequence_len`).
        trainable_mix: train the mix weights and gamma (default True).
        trainable_bilm: also fine-tune the char CNN and biLSTMs (default False).
        dropout: dropout rate on the output (training only).
        do_layer_norm: layer-normalise each layer inside the mix.
        l2_coef: L2 penalty on the mix weights, added to the model's losses.
        split: how sentences become tokens, `"whitespace"` or `"corpus"` (see
            `ELMoTokenizer`). Default: the preset's own (`"corpus"` for the shipped
            `elmo_small_en`), `"whitespace"` for an `ELMo` instance or bilm-tf files.

    Call arguments:
        inputs: 1-D untokenized sentences (split as `split` says), 2-D tokens padded
            with `""` or lists of token lists, a ragged string tensor of tokens, or
            int32 character ids `[batch, time, 50]`. Strings become ids by the one
            implementation, `elmo_keras.text.inputs.to_char_ids`: Python and NumPy
            strings on every backend, string tensors inside a TensorFlow graph (a
            functional model with a string `keras.Input` needs TensorFlow; on JAX and
            PyTorch feed ids, e.g. from an `ELMoTokenizer`).

    Returns:
        `[batch, time, dim]` with a Keras mask (true for real tokens), or `[batch, 2P]`
        for `output="default"`, or a dict for `output="all"`. Padded positions are zero.

    Example:
    ```python
    inputs = keras.Input(shape=(), dtype="string")
    x = elmo_keras.ELMoEmbedding.from_preset("elmo_small_en")(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)   # uses the mask
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    ```
    """

    def __init__(self, options=None, weights=None, model=None, output="elmo",
                 trainable_mix=True, trainable_bilm=False, dropout=0.0, do_layer_norm=False,
                 l2_coef=None, split=None, elmo_config=None, **kwargs):
        super().__init__(**kwargs)
        mix_args = dict(do_layer_norm=do_layer_norm, l2_coef=l2_coef)
        if split is None:  # the preset's; a config saved before `split` existed: whitespace
            split = "whitespace" if elmo_config is not None else _preset_split(
                model, options, weights)
        self.split = text_inputs.check_split(split)
        if elmo_config is not None:  # from get_config: weights come from the .keras file
            self.elmo = ELMo.from_config({**elmo_config, **mix_args})
        else:
            self.elmo = resolve_model(ELMo, model, options, weights, **mix_args)
        names = [k for k in hub_output_shapes(self.elmo.n_layers, self.elmo.projection_dim)
                 if k != "sequence_len"] + ["all"]
        if output not in names:
            raise ValueError(f"output must be one of {names}, got {output!r}")
        self.output_mode = output
        self.trainable_mix = bool(trainable_mix)
        self.trainable_bilm = bool(trainable_bilm)
        self.dropout_rate = float(dropout)
        self.do_layer_norm = bool(do_layer_norm)
        self.l2_coef = l2_coef
        self.elmo.char_encoder.trainable = self.trainable_bilm
        self.elmo.bilm.trainable = self.trainable_bilm
        for mix in self.elmo.scalar_mixes:
            mix.trainable = self.trainable_mix
        self.dropout = keras.layers.Dropout(self.dropout_rate) if self.dropout_rate else None
        self.supports_masking = True

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """The layer on a pretrained ELMo: `preset` is any form `ELMo.from_preset`
        accepts, resolved the same way (None is no preset: `PresetError`, as there);
        `kwargs` the other arguments (`output`, `trainable_mix`, ...)."""
        resolve_preset(preset)
        return cls(model=preset, **kwargs)

    def build(self, input_shape):
        pass  # the ELMo model was built when it was made

    def __call__(self, inputs, *args, **kwargs):
        if text_inputs.holds_strings(inputs):
            # Python or NumPy strings: char ids in NumPy first (backend tensors hold
            # no strings, except TensorFlow's, which `call` takes in the graph).
            inputs = text_inputs.to_char_ids(inputs, self.split,
                                             self.elmo.max_characters_per_token)
        elif _holds_integers(inputs):
            # Ids given directly: the model's one validator, here so that its error is
            # the one raised (not wrapped in Keras' report of an error inside `call`).
            validate_char_ids(inputs, self.elmo.max_characters_per_token)
        return super().__call__(inputs, *args, **kwargs)

    def _char_ids(self, inputs):
        c = self.elmo.max_characters_per_token
        if text_inputs.is_tf_tensor(inputs):  # strings too, in the graph
            return text_inputs.to_char_ids(inputs, self.split, c)
        ids = ops.convert_to_tensor(inputs)
        if len(ids.shape) != 3 or ids.shape[-1] not in (None, c):
            raise ValueError(
                f"ELMo: integer input must be character ids [batch, time, {c}], got shape "
                f"{tuple(ids.shape)}")
        return ops.cast(ids, "int32")

    def call(self, inputs, training=None):
        ids = self._char_ids(inputs)
        # Without `training` (inherited from this call) an eager call on TensorFlow and
        # JAX runs the model's compiled copy (`kernels.eager_call`).
        named = hub_outputs(self.elmo(ids) if training is None or training is False
                            else self.elmo(ids, training=training))
        if self.output_mode == "all":
            return named
        out = named[self.output_mode]
        if self.dropout is not None:
            out = self.dropout(out, training=training)
        return out

    def compute_mask(self, inputs, mask=None):
        if self.output_mode in ("default", "all"):
            return None
        if isinstance(inputs, keras.KerasTensor):
            # Strings have no symbolic ops; the real mask is set on every real call
            # and reaches downstream layers when the model runs.
            return token_mask(inputs) if _integer_dtype(inputs) else None
        return token_mask(self._char_ids(inputs))

    def compute_output_spec(self, inputs, training=None):
        specs = hub_output_specs(self.elmo.n_layers, self.elmo.projection_dim,
                                 self.compute_dtype, inputs.shape[0])
        return specs if self.output_mode == "all" else specs[self.output_mode]

    def get_config(self):
        config = super().get_config()
        elmo_config = self.elmo.get_config()
        for key in ("do_layer_norm", "l2_coef"):
            elmo_config.pop(key, None)
        config.update(
            output=self.output_mode,
            trainable_mix=self.trainable_mix,
            trainable_bilm=self.trainable_bilm,
            dropout=self.dropout_rate,
            do_layer_norm=self.do_layer_norm,
            l2_coef=self.l2_coef,
            split=self.split,
            elmo_config=elmo_config,
        )
        return config


def _holds_integers(inputs):
    """True for integer arrays or tensors of any backend (character ids)."""
    if (isinstance(inputs, keras.KerasTensor) or not hasattr(inputs, "dtype")
            or type(inputs).__name__ in ("RaggedTensor", "SparseTensor")):
        return False  # symbolic; ragged and sparse ids are refused by `_char_ids`
    try:
        return _integer_dtype(inputs)
    except (ValueError, TypeError):
        return False


def _integer_dtype(inputs):
    """True for a tensor (symbolic too) of integers (character ids)."""
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    return dtype.startswith("int") or dtype.startswith("uint")


def _preset_split(model, options, weights):
    """The split the model's preset records (`ELMoTokenizer.from_preset`), or
    "whitespace" for an `ELMo` instance or bilm-tf files."""
    if options is not None or weights is not None or isinstance(model, keras.Model):
        return "whitespace"
    return ELMoTokenizer.from_preset(DEFAULT_PRESET if model is None else model).split
