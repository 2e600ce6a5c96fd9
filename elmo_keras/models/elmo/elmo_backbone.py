"""`ELMo`: the character CNN, the biLM and the scalar mixes as one Keras model."""

import types

import keras
import numpy as np
from keras import ops

from elmo_keras.layers.bilm import BiLM
from elmo_keras.layers.character_encoder import CharacterEncoder
from elmo_keras.layers.kernels import kernels, predict_call
from elmo_keras.layers.scalar_mix import ScalarMix
from elmo_keras.layers.sentence_boundaries import (
    AddSentenceBoundaries,
    RemoveSentenceBoundaries,
    add_boundaries,
    token_mask,
)
from elmo_keras.io.bilm_options import BiLMOptions, load_options
from elmo_keras.models.elmo import elmo_preset_loader
from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer
from elmo_keras.text.char_ids import validate_char_ids


class ELMoStages:
    """The stages of `ELMo`'s forward pass, as public methods; `ELMo` inherits them.

    The one forward path: the model's own call (its functional graph is traced through
    `run_stages`; JAX's eager call runs `run_stages` on the distinct tokens it found),
    `ELMoEmbedding`, the SavedModel export (both call the model), `Embedder` (the char
    CNN's `encode_rows` on its distinct tokens, `contextualize_rows`) and the training
    graph (`encode_tokens` on both token streams, then the `bilm`) all run these. They use
    the layers `sentence_boundaries`, `char_encoder`, `bilm`, `remove_boundaries` and
    `scalar_mixes`.
    """

    def run_stages(self, char_ids, distinct=None):
        """What the model's call returns, stage by stage: `frame`, `encode_tokens`,
        `contextualize`, `mix`.

        Args:
            char_ids: int32 `[batch, time, max_characters_per_token]`.
            distinct: optional `(rows [U, chars], index [batch, time])`, the batch's
                distinct tokens found before the call (`elmo_keras.text.inputs.
                distinct_tokens`: `<S>`, `</S>` first). The char CNN then runs on
                those rows only (`encode_rows`), and the biLM's first layer may
                multiply each once (`BiLM`'s `input_rows`); the same outputs.

        Returns:
            The output dict described in the class docstring.
        """
        if distinct is None:
            framed, framed_mask, mask = self.frame(char_ids)
            token_embeddings, layers = self.contextualize(
                self.encode_tokens(framed), framed_mask, mask)
        else:
            mask = token_mask(char_ids)
            token_embeddings, layers = self.contextualize_rows(
                self.char_encoder.encode_rows(distinct[0]), distinct[1], mask)
        return {
            "token_embeddings": token_embeddings,
            "lm_embeddings": ops.stack(layers, axis=1),
            "mask": mask,
            "elmo_representations": self.mix(layers, mask),
        }

    def frame(self, char_ids):
        """Adds `<S>`/`</S>` around each row.

        Args:
            char_ids: int `[batch, time, chars]`, all zero at padded positions.

        Returns:
            `(framed_ids [batch, time + 2, chars], framed_mask [batch, time + 2],
            mask [batch, time])`, the masks bool and true for real tokens.
        """
        framed = self.sentence_boundaries(char_ids)
        return framed, token_mask(framed), token_mask(char_ids)

    def encode_tokens(self, char_ids):
        """The char CNN: context-free token vectors, each distinct token encoded once
        (where the backend allows: `CharacterEncoder`); exact, gradients flow.

        Args:
            char_ids: int `[..., chars]` (e.g. framed `[batch, time + 2, chars]`,
                training's `[2, batch, time, chars]`, or a flat `[n_tokens, chars]`).

        Returns:
            `[..., P]`, zero where the ids are all zero.
        """
        return self.char_encoder(char_ids)

    def contextualize(self, token_vectors, framed_mask, mask, input_rows=None):
        """The biLM over context-free token vectors, boundaries removed after.

        Args:
            token_vectors: `[batch, time + 2, P]` char-CNN vectors of the framed
                sentences (`<S>` first, `</S>` after each row's last token).
            framed_mask: bool `[batch, time + 2]`. mask: bool `[batch, time]`.
            input_rows: optional `(rows [U, P], index [batch, time + 2])`, the
                distinct vectors `token_vectors` holds (`BiLM`'s `input_rows`).

        Returns:
            `(token_embeddings [batch, time, P], layers)`: `layers` is the list of
            `n_layers + 1` tensors `[batch, time, 2P]` (layer 0 is the token embedding
            twice), the `lm_embeddings` once stacked.
        """
        lstm_layers = self.bilm(token_vectors, mask=framed_mask, input_rows=input_rows)
        token_embeddings = self.remove_boundaries(token_vectors, mask=mask)
        layers = [ops.concatenate([token_embeddings, token_embeddings], axis=-1)]
        layers += [self.remove_boundaries(h, mask=mask) for h in lstm_layers]
        return token_embeddings, layers

    def contextualize_rows(self, rows, index, mask):
        """`contextualize` on a batch given as its distinct token vectors.

        Args:
            rows: `[U, P]` char-CNN vectors, `<S>`'s and `</S>`'s first.
            index: int `[batch, time]`, each position's row (any at padding).
            mask: bool `[batch, time]`.

        Returns:
            What `contextualize` returns; the biLM is given the rows (`BiLM`'s
            `input_rows`: its first layer may multiply each once).
        """
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        slots = add_boundaries(ops.cast(index, "int32"), lengths, 0, 1)
        framed_mask = add_boundaries(ops.cast(mask, "int32"), lengths, 1, 1) > 0
        token_vectors = ops.take(rows, slots, axis=0) * ops.expand_dims(
            ops.cast(framed_mask, rows.dtype), -1)
        return self.contextualize(token_vectors, framed_mask, mask, (rows, slots))

    def mix(self, layers, mask):
        """The `num_output_representations` scalar mixes of `layers` (`[batch, time,
        2P]` each, zero where `mask` is false)."""
        return [mix(layers, mask=mask) for mix in self.scalar_mixes]



class _Layers(ELMoStages):
    """The layers of an `ELMo` before it is a Keras model: `ELMo.__init__` traces its
    functional graph through the stages on them (PyTorch's Module refuses sub-modules
    set before its own `__init__`), then sets them on the model."""

    def __init__(self, **layers):
        self.__dict__.update(layers)


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMo(ELMoStages, keras.Model):
    """ELMo: deep contextualized token representations (Peters et al., 2018).

    A functional model from character ids to every biLM layer and their learned
    mixes. Sentence boundaries `<S>`/`</S>` are added inside the model and removed from
    its outputs, so the input holds the sentence's own tokens only.

    Args:
        filters: char CNN `[width, num_filters]` pairs.
        char_embedding_dim: character embedding size.
        lstm_dim: LSTM cell size.
        projection_dim: LSTM projection and token embedding size `P`.
        n_highway: highway layers in the char CNN.
        activation: char CNN activation, `"relu"` or `"tanh"`.
        max_characters_per_token: characters per token (50).
        n_layers: biLSTM layers `L`.
        cell_clip, proj_clip: LSTM clip values, or None.
        use_skip_connections: residual connections between biLSTM layers.
        num_output_representations: number of independent `ScalarMix`es.
        do_layer_norm: layer-normalise each layer inside the mixes.
        l2_coef: L2 penalty on the mix weights, or None.
        stateful: carry LSTM states row by row from call to call (bilm-tf's inference
            protocol); `reset_state()` clears them. Default False: every call is
            independent of the ones before.
        max_batch_size: rows of kept state when stateful.

    Inputs:
        int32 `[batch, time, max_characters_per_token]` character ids
        (`elmo_keras.text.char_ids.batch_to_ids` or `elmo_keras.text.tf_text_ops`), all zero at padded
        positions.

    Outputs (a dict):
        `"token_embeddings"`: `[batch, time, P]` char CNN output (the hub's `word_emb`).
        `"lm_embeddings"`: `[batch, L + 1, time, 2P]`: layer 0 is the token embedding
            repeated twice (as bilm-tf does), layer `k` the k-th biLSTM layer, forward
            half then backward half.
        `"mask"`: bool `[batch, time]`.
        `"elmo_representations"`: list of `num_output_representations` mixes
            `[batch, time, 2P]`.
        Every float output is zero at padded positions.

    Examples:
    ```python
    import elmo_keras
    model = elmo_keras.load_bilm("options.json", "weights.hdf5")
    ids = elmo_keras.batch_to_ids([["The", "bank", "."], ["Hi"]])
    out = model(ids)
    top = out["lm_embeddings"][:, -1]   # [2, 3, 2P]
    ```
    """

    def __init__(
        self,
        filters,
        char_embedding_dim,
        lstm_dim,
        projection_dim,
        n_highway=2,
        activation="relu",
        max_characters_per_token=50,
        n_layers=2,
        cell_clip=None,
        proj_clip=None,
        use_skip_connections=True,
        num_output_representations=1,
        do_layer_norm=False,
        l2_coef=None,
        stateful=False,
        max_batch_size=128,
        dtype=None,
        **kwargs,
    ):
        # === Layers ===
        layers = _Layers(
            sentence_boundaries=AddSentenceBoundaries(
                max_characters_per_token, name="sentence_boundaries"),
            char_encoder=CharacterEncoder(
                filters, char_embedding_dim, projection_dim, n_highway=n_highway,
                activation=activation, max_characters_per_token=max_characters_per_token,
                dtype=dtype, name="char_encoder"),
            bilm=BiLM.from_options(
                types.SimpleNamespace(
                    lstm_dim=lstm_dim, projection_dim=projection_dim, n_layers=n_layers,
                    cell_clip=cell_clip, proj_clip=proj_clip,
                    use_skip_connections=use_skip_connections),
                stateful=stateful, max_batch_size=max_batch_size, dtype=dtype, name="bilm"),
            remove_boundaries=RemoveSentenceBoundaries(dtype=dtype, name="remove_boundaries"),
            scalar_mixes=[
                ScalarMix(n_layers + 1, do_layer_norm=do_layer_norm, l2_coef=l2_coef,
                          dtype=dtype, name=f"scalar_mix_{k}")
                for k in range(num_output_representations)],
        )

        # === Functional model ===
        char_ids = keras.Input(
            shape=(None, max_characters_per_token), dtype="int32", name="char_ids")
        outputs = layers.run_stages(char_ids)
        super().__init__(inputs=char_ids, outputs=outputs, dtype=dtype, **kwargs)
        if dtype is not None:  # Functional drops it; the config and reloads keep it
            self.dtype_policy = dtype
        for name, layer in vars(layers).items():
            setattr(self, name, layer)

        # === Config ===
        self.filters = [[int(w), int(n)] for w, n in filters]
        self.char_embedding_dim = char_embedding_dim
        self.lstm_dim = lstm_dim
        self.projection_dim = projection_dim
        self.n_highway = n_highway
        self.activation = activation
        self.max_characters_per_token = max_characters_per_token
        self.n_layers = n_layers
        self.cell_clip = cell_clip
        self.proj_clip = proj_clip
        self.use_skip_connections = use_skip_connections
        self.num_output_representations = num_output_representations
        self.do_layer_norm = do_layer_norm
        self.l2_coef = l2_coef
        self.stateful = stateful
        self.max_batch_size = max_batch_size

    @property
    def output_dim(self):
        """Size of each ELMo layer, `2 * projection_dim`."""
        return 2 * self.projection_dim

    @property
    def options(self):
        """The architecture as `BiLMOptions` (what options.json holds)."""
        return BiLMOptions.from_model_kwargs(self.get_config())

    @classmethod
    def from_options(cls, options, **kwargs):
        """A new (randomly initialised) ELMo with the architecture of an options.json.

        Args:
            options: path of an options.json, its parsed dict, or `BiLMOptions`.
            **kwargs: other constructor arguments (`num_output_representations`,
                `do_layer_norm`, `stateful`, ...).
        """
        opts = load_options(options)
        return cls(**opts.model_kwargs(), **kwargs)

    @elmo_preset_loader.classproperty
    def presets(cls):
        """The registered pretrained models: `{name: {"description", "params", "path"}}`."""
        return elmo_preset_loader.list_presets()

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """The one way to get a pretrained or saved ELMo.

        Args:
            preset: a registered name (`"elmo_small_en"`, see `ELMo.presets`), a preset
                directory (`save_to_preset`), a directory with bilm-tf's
                `options.json` + `weights.hdf5` (a published model, `elmo-keras train`
                output), an `export-hub` directory, an extracted TF Hub ELMo module, a
                `.keras` file, or an `ELMo` (rebuilt with its weights when `kwargs`
                change its config). See `elmo_keras.models.elmo.elmo_preset_loader`.
            **kwargs: constructor arguments to override (`stateful`, `do_layer_norm`,
                `l2_coef`, `num_output_representations`, `dtype`, ...); None values
                are ignored. `dtype="auto"`: bfloat16 where it is faster and within
                its error bound, else float32 (`elmo_precision`).

        Raises:
            elmo_keras.PresetError: naming what was tried and what is accepted.

        Examples:
        ```python
        elmo = elmo_keras.ELMo.from_preset("elmo_small_en")
        out = elmo(elmo_keras.batch_to_ids([["The", "bank", "."]]))
        ```
        """
        overrides = {k: v for k, v in kwargs.items() if v is not None}
        return elmo_preset_loader.load_preset(cls, preset, **overrides)

    def save_to_preset(self, preset_dir, tokenizer=None):
        """Writes a preset directory `from_preset` loads: `config.json`,
        `model.weights.h5`, `metadata.json`, `tokenizer.json` (keras-hub's layout) and
        bilm-tf's `options.json` + `weights.hdf5` (for bilm-tf and AllenNLP).

        Args:
            preset_dir: a new directory.
            tokenizer: the `ELMoTokenizer` to record (default: whitespace splitting).
        """
        if tokenizer is None:
            tokenizer = ELMoTokenizer(max_characters_per_token=self.max_characters_per_token)
        return elmo_preset_loader.save_to_preset(self, preset_dir, tokenizer)

    def __call__(self, *args, **kwargs):
        # Every input route is checked here, by the one validator: a negative id would
        # be silently masked, one past the character table would index outside it.
        # Concrete ids (NumPy, an eager tensor of any backend) are checked now, a
        # TensorFlow graph's when it runs, before the ids are read (see
        # `validate_char_ids`).
        inputs = args[0] if args else kwargs.get("inputs")
        if args and inputs is not None and not isinstance(inputs, dict):
            args = (validate_char_ids(inputs, self.max_characters_per_token),) + args[1:]
        else:
            for ids in (inputs.values() if isinstance(inputs, dict) else [inputs]):
                if ids is not None:
                    validate_char_ids(ids, self.max_characters_per_token)
        # Compiled where eager calls are slow (JAX, TensorFlow), unless the call adds
        # losses (the mixes' `l2_coef`): a loss made in a compiled copy would stay a
        # symbolic or traced value in `losses`.
        if (len(args) == 1 and not kwargs
                and all(mix.l2_coef is None for mix in self.scalar_mixes)):
            return kernels().eager_call(
                self, super().__call__, args[0],
                distinct_call=lambda ids, rows, index: self.run_stages(ids, (rows, index)))
        return super().__call__(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        # Arrays and tensors are checked whole before the first batch; a dataset's
        # batches are checked as they reach `__call__`.
        if isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "dtype")):
            validate_char_ids(x, self.max_characters_per_token)
        return predict_call(self, super().predict, x, *args, **kwargs)

    def reset_state(self):
        """Zeroes the carried LSTM states of a stateful model."""
        self.bilm.reset_state()

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "filters": self.filters,
            "char_embedding_dim": self.char_embedding_dim,
            "lstm_dim": self.lstm_dim,
            "projection_dim": self.projection_dim,
            "n_highway": self.n_highway,
            "activation": self.activation,
            "max_characters_per_token": self.max_characters_per_token,
            "n_layers": self.n_layers,
            "cell_clip": self.cell_clip,
            "proj_clip": self.proj_clip,
            "use_skip_connections": self.use_skip_connections,
            "num_output_representations": self.num_output_representations,
            "do_layer_norm": self.do_layer_norm,
            "l2_coef": self.l2_coef,
            "stateful": self.stateful,
            "max_batch_size": self.max_batch_size,
        }
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def load_bilm(options_path, weights_path, **kwargs):
    """Builds an `ELMo` from bilm-tf's `options.json` and `weights.hdf5`.

    Args:
        options_path: options.json path (or dict / `BiLMOptions`).
        weights_path: weights.hdf5 path.
        **kwargs: other `ELMo` arguments (`num_output_representations`,
            `do_layer_norm`, `l2_coef`, `stateful`, `max_batch_size`, `name`, ...);
            `dtype="auto"` as in `ELMo.from_preset`.

    Returns:
        The model, weights loaded.

    Raises:
        OptionsError: bad options file. WeightFileError: bad weight file.

    Examples:
    ```python
    model = elmo_keras.load_bilm("options.json", "weights.hdf5")
    ```
    """
    return elmo_preset_loader.load_bilm_files(ELMo, options_path, weights_path, **kwargs)


def load_exported_elmo(path, **kwargs):
    """Rebuilds an `ELMo` from a directory written by `export_hub` (needs TensorFlow).

    Only data is read: the config from `assets/elmo_config.json` and the weights, by
    name, from the checkpoint in `variables/` (`elmo_keras.io.saved_model`). The
    SavedModel's graph is never loaded nor run, so a hostile directory cannot run code.

    Args:
        path: the SavedModel directory.
        **kwargs: `ELMo` arguments to override (e.g. `do_layer_norm`).

    Raises:
        FileNotFoundError: not a SavedModel directory.
        elmo_keras.PresetError: its config is not a regular file, larger than 1 MiB,
            not an ELMo config, or has sizes above their bounds (a `ValueError`).
        ValueError: not one written by `export_hub`, or its weights do not fit its
            config or hold NaN or infinity (the message names the weight).

    Examples:
    ```python
    model = elmo_keras.load_exported_elmo("hub/elmo")
    ```
    """
    overrides = {k: v for k, v in kwargs.items() if v is not None}
    return elmo_preset_loader.get_preset_loader("export")(ELMo, path, overrides)
