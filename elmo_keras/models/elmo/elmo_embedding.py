"""`ELMoEmbedding`: ELMo as one Keras 3 layer from strings to contextual vectors."""

import keras
import numpy as np
from keras import ops

from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.models.elmo.elmo_outputs import hub_output_shapes, hub_output_specs, hub_outputs
from elmo_keras.models.elmo.elmo_presets import resolve_model, resolve_preset
from elmo_keras.text.char_ids import batch_to_ids, validate_char_ids

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

    Call arguments:
        inputs: 1-D string tensor of untokenized sentences (split on whitespace in the
            graph), 2-D string tensor of tokens padded with `""`, a ragged string tensor
            of tokens, or int32 character ids `[batch, time, 50]`. Strings inside a
            model's graph need TensorFlow (`KERAS_BACKEND=tensorflow`); on JAX and
            PyTorch the layer takes character ids, or, called directly, NumPy string
            arrays / lists of token lists (converted with `batch_to_ids`).

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
                 l2_coef=None, elmo_config=None, **kwargs):
        super().__init__(**kwargs)
        mix_args = dict(do_layer_norm=do_layer_norm, l2_coef=l2_coef)
        if elmo_config is not None:  # from get_config: weights come from the .keras file
            self.elmo = ELMo.from_config({**elmo_config, **mix_args})
        else:
            self.elmo = resolve_model(model, options, weights, **mix_args)
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
        if keras.backend.backend() != "tensorflow" and _holds_strings(inputs):
            # JAX and PyTorch tensors hold no strings: char ids in NumPy first.
            inputs = batch_to_ids(_token_lists(inputs), self.elmo.max_characters_per_token)
        elif _holds_integers(inputs):
            # Ids given directly: the model's one validator, here so that its error is
            # the one raised (not wrapped in Keras' report of an error inside `call`).
            validate_char_ids(inputs, self.elmo.max_characters_per_token)
        return super().__call__(inputs, *args, **kwargs)

    def _char_ids(self, inputs):
        c = self.elmo.max_characters_per_token
        if keras.backend.backend() == "tensorflow":  # strings too, in the graph
            from elmo_keras.text.tf_text_ops import to_char_ids

            return to_char_ids(inputs, c)
        ids = ops.convert_to_tensor(inputs)
        if len(ids.shape) != 3 or ids.shape[-1] not in (None, c):
            raise ValueError(
                f"ELMo: integer input must be character ids [batch, time, {c}], got shape "
                f"{tuple(ids.shape)}")
        return ops.cast(ids, "int32")

    def call(self, inputs, training=None):
        named = hub_outputs(self.elmo(self._char_ids(inputs), training=training))
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
            return None
        return ops.any(self._char_ids(inputs) > 0, axis=-1)

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
            elmo_config=elmo_config,
        )
        return config


def _holds_strings(inputs):
    """True for strings given as NumPy arrays or (nested) lists."""
    if isinstance(inputs, (list, tuple)):
        return bool(inputs) and _holds_strings(inputs[0])
    return isinstance(inputs, str) or (
        isinstance(inputs, np.ndarray) and inputs.dtype.kind in "OUS")


def _holds_integers(inputs):
    """True for integer arrays or tensors of any backend (character ids)."""
    if (isinstance(inputs, keras.KerasTensor) or not hasattr(inputs, "dtype")
            or type(inputs).__name__ in ("RaggedTensor", "SparseTensor")):
        return False  # symbolic; ragged and sparse ids are refused by `_char_ids`
    try:
        dtype = keras.backend.standardize_dtype(inputs.dtype)
    except (ValueError, TypeError):
        return False
    return dtype.startswith("int") or dtype.startswith("uint")


def _token_lists(inputs):
    """Sentences (1-D, split on whitespace) or tokens (2-D padded with "", or lists of
    token lists) -> lists of tokens."""
    rows = list(inputs)
    if all(isinstance(r, (str, bytes)) for r in rows):
        return [_text(r).split() for r in rows]
    return [[_text(t) for t in r if _text(t)] for r in rows]


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
