"""`ELMo`: the character CNN, the biLM and the scalar mixes as one Keras model."""

import keras
from keras import ops

from elmo_keras.layers.bilm import BiLM
from elmo_keras.layers.character_encoder import CharacterEncoder
from elmo_keras.layers.scalar_mix import ScalarMix
from elmo_keras.layers.sentence_boundaries import (
    AddSentenceBoundaries,
    RemoveSentenceBoundaries,
    token_mask,
)
from elmo_keras.io.bilm_options import BiLMOptions, load_options
from elmo_keras.models.elmo import elmo_presets


def named_outputs(outputs):
    """The public ELMo hub module's output names, from an `ELMo` output dict.

    Returns a dict with `word_emb` `[batch, time, P]`, `lstm_outputs1` ...
    `lstm_outputsL` `[batch, time, 2P]`, `elmo` (the first mix), `default` (`elmo`
    averaged over each row's real tokens, `[batch, 2P]`, zero for an empty row) and
    `sequence_len` (int32 `[batch]`).
    """
    mask = outputs["mask"]
    lm = outputs["lm_embeddings"]
    elmo = outputs["elmo_representations"][0]
    maskf = ops.cast(mask, elmo.dtype)
    count = ops.maximum(ops.sum(maskf, axis=1, keepdims=True), 1.0)
    named = {"word_emb": outputs["token_embeddings"]}
    for k in range(1, lm.shape[1]):
        named[f"lstm_outputs{k}"] = lm[:, k]
    named["elmo"] = elmo
    named["default"] = ops.sum(elmo * maskf[..., None], axis=1) / count
    named["sequence_len"] = ops.sum(ops.cast(mask, "int32"), axis=1)
    return named


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMo(keras.Model):
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
        self.sentence_boundaries = AddSentenceBoundaries(
            max_characters_per_token, name="sentence_boundaries")
        self.char_encoder = CharacterEncoder(
            filters, char_embedding_dim, projection_dim, n_highway=n_highway,
            activation=activation, max_characters_per_token=max_characters_per_token,
            dtype=dtype, name="char_encoder")
        self.bilm = BiLM(
            lstm_dim, projection_dim, n_layers=n_layers, cell_clip=cell_clip,
            proj_clip=proj_clip, use_skip_connections=use_skip_connections,
            stateful=stateful, max_batch_size=max_batch_size, dtype=dtype, name="bilm")
        self.remove_boundaries = RemoveSentenceBoundaries(dtype=dtype, name="remove_boundaries")
        self.scalar_mixes = [
            ScalarMix(n_layers + 1, do_layer_norm=do_layer_norm, l2_coef=l2_coef,
                      dtype=dtype, name=f"scalar_mix_{k}")
            for k in range(num_output_representations)
        ]

        # === Functional model ===
        char_ids = keras.Input(
            shape=(None, max_characters_per_token), dtype="int32", name="char_ids")
        mask = token_mask(char_ids)
        framed = self.sentence_boundaries(char_ids)
        framed_mask = token_mask(framed)
        tokens = self.char_encoder(framed)
        token_embeddings, layers = self.contextualize(tokens, framed_mask, mask)
        outputs = {
            "token_embeddings": token_embeddings,
            "lm_embeddings": ops.stack(layers, axis=1),
            "mask": mask,
            "elmo_representations": [mix(layers, mask=mask) for mix in self.scalar_mixes],
        }
        super().__init__(inputs=char_ids, outputs=outputs, dtype=dtype, **kwargs)

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

    def contextualize(self, token_vectors, framed_mask, mask):
        """The biLM over context-free token vectors, boundaries removed after.

        Args:
            token_vectors: `[batch, time + 2, P]` char-CNN vectors of the framed
                sentences (`<S>` first, `</S>` after each row's last token).
            framed_mask: bool `[batch, time + 2]`. mask: bool `[batch, time]`.

        Returns:
            `(token_embeddings [batch, time, P], layers)`: `layers` is the list of
            `n_layers + 1` tensors `[batch, time, 2P]` (layer 0 is the token embedding
            twice), the `lm_embeddings` once stacked.
        """
        lstm_layers = self.bilm(token_vectors, mask=framed_mask)
        token_embeddings = self.remove_boundaries(token_vectors, mask=mask)
        layers = [ops.concatenate([token_embeddings, token_embeddings], axis=-1)]
        layers += [self.remove_boundaries(h, mask=mask) for h in lstm_layers]
        return token_embeddings, layers

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

    @elmo_presets.classproperty
    def presets(cls):
        """The registered pretrained models: `{name: {"description", "params", "path"}}`."""
        return elmo_presets.list_presets()

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """The one way to get a pretrained or saved ELMo.

        Args:
            preset: a registered name (`"elmo_small_en"`, see `ELMo.presets`), a preset
                directory (`save_to_preset`), a directory with bilm-tf's
                `options.json` + `weights.hdf5` (a published model, `elmo-keras train`
                output), an `export-hub` directory, or a `.keras` file.
            **kwargs: constructor arguments to override (`stateful`, `do_layer_norm`,
                `l2_coef`, `num_output_representations`, `dtype`, ...).

        Raises:
            elmo_keras.PresetError: naming what was tried and what is accepted.

        Examples:
        ```python
        elmo = elmo_keras.ELMo.from_preset("elmo_small_en")
        out = elmo(elmo_keras.batch_to_ids([["The", "bank", "."]]))
        ```
        """
        return elmo_presets.load_elmo(preset, **kwargs)

    def save_to_preset(self, preset_dir, tokenizer=None):
        """Writes a preset directory `from_preset` loads: `config.json`,
        `model.weights.h5`, `metadata.json`, `tokenizer.json` (keras-hub's layout) and
        bilm-tf's `options.json` + `weights.hdf5` (for bilm-tf and AllenNLP).

        Args:
            preset_dir: a new directory.
            tokenizer: the `ELMoTokenizer` to record (default: whitespace splitting).
        """
        return elmo_presets.save_preset(self, preset_dir, tokenizer=tokenizer)

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
