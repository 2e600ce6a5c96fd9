"""The character CNN token encoder of ELMo."""

import math

import keras
from keras import ops

from elmo_keras.layers.highway import Highway
from elmo_keras.layers.kernels import conv_max, kernels, varying_positions
from elmo_keras.layers.sentence_boundaries import token_mask
from elmo_keras.layers.weight_init import initializer


@keras.saving.register_keras_serializable(package="elmo_keras")
class CharacterEncoder(keras.layers.Layer):
    """Character ids of tokens -> context-free token vectors (bilm-tf's char CNN).

    Each distinct token of a call is encoded once and its vector gathered to every
    position holding it (real text repeats its words; the result and the gradients
    are the same), where the backend allows (not inside `jax.jit` or TensorFlow XLA,
    whose shapes must not depend on the values: there every token is encoded).

    For each token: look up its characters' embeddings (row 0, the id of padded token
    positions, is zero), run one 1-D convolution per `(width, num_filters)` with
    "valid" padding, max-pool each over the character axis, apply `activation`,
    concatenate (`n_filters = sum(num_filters)` values), apply `n_highway` highway
    layers, then project to `projection_dim` with a bias (only when
    `n_filters != projection_dim`, as bilm-tf does).

    Args:
        filters: list of `[width, num_filters]` pairs.
        char_embedding_dim: size of a character embedding.
        projection_dim: output size.
        n_highway: number of highway layers (>= 0).
        activation: `"relu"` or `"tanh"`.
        n_characters: rows of the character embedding table (262: padding row 0, the
            256 byte values, 5 special characters, all shifted by one).
        max_characters_per_token: length of each token's character id row.

    Call arguments:
        inputs: int tensor `[..., max_characters_per_token]` of character ids
            from `elmo_keras.text.char_ids` / `elmo_keras.text.tf_text_ops`; an all-zero row is a
            padded token position.

    Returns:
        float tensor `[..., projection_dim]`, zero at padded positions. Its Keras
        mask is `[...]`: true where the token exists.
    """

    def __init__(
        self,
        filters,
        char_embedding_dim,
        projection_dim,
        n_highway=0,
        activation="relu",
        n_characters=262,
        max_characters_per_token=50,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        self.filters = [[int(w), int(n)] for w, n in filters]
        self.char_embedding_dim = int(char_embedding_dim)
        self.projection_dim = int(projection_dim)
        self.n_highway = int(n_highway)
        self.activation = activation
        self.n_characters = int(n_characters)
        self.max_characters_per_token = int(max_characters_per_token)
        self.n_filters = sum(n for _, n in self.filters)
        if self.n_filters < self.projection_dim:
            raise ValueError(
                f"the convolutions have {self.n_filters} filters in all, fewer than "
                f"projection_dim={self.projection_dim}"
            )
        self.use_projection = self.n_filters != self.projection_dim
        self.highways = [Highway(name=f"highway_{i}", dtype=self.dtype_policy)
                         for i in range(self.n_highway)]

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.max_characters_per_token:
            raise ValueError(
                f"CharacterEncoder expects character ids of shape [batch, time, "
                f"{self.max_characters_per_token}], got {tuple(input_shape)}"
            )
        d = self.char_embedding_dim
        self.char_embeddings = self.add_weight(
            name="char_embeddings",
            shape=(self.n_characters, d),
            initializer=initializer(_PaddingRowZero(keras.initializers.RandomUniform(-1.0, 1.0))),
        )
        self.conv_kernels, self.conv_biases = [], []
        for i, (width, num) in enumerate(self.filters):
            if self.activation == "relu":
                init = keras.initializers.RandomUniform(-0.05, 0.05)
            else:
                init = keras.initializers.RandomNormal(stddev=math.sqrt(1.0 / (width * d)))
            self.conv_kernels.append(
                self.add_weight(name=f"conv_kernel_{i}", shape=(width, d, num),
                                initializer=initializer(init)))
            self.conv_biases.append(
                self.add_weight(name=f"conv_bias_{i}", shape=(num,), initializer="zeros"))
        for hw in self.highways:
            hw.build((None, self.n_filters))
        if self.use_projection:
            self.projection_kernel = self.add_weight(
                name="projection_kernel",
                shape=(self.n_filters, self.projection_dim),
                initializer=initializer(keras.initializers.RandomNormal(
                    stddev=math.sqrt(1.0 / self.n_filters))),
            )
            self.projection_bias = self.add_weight(
                name="projection_bias", shape=(self.projection_dim,), initializer="zeros")

    def call(self, inputs):
        ids = ops.cast(inputs, "int32")
        flat = ops.reshape(ids, (-1, self.max_characters_per_token))
        # Each distinct token once; the gather routes the gradients back.
        vectors = kernels().encode_distinct(flat, self.encode_rows)
        h = ops.reshape(vectors, tuple(ops.shape(ids)[:-1]) + (self.projection_dim,))
        return h * ops.expand_dims(ops.cast(token_mask(ids), h.dtype), -1)

    def encode_rows(self, char_ids):
        """The char CNN on a flat batch of tokens, each row on its own.

        Args:
            char_ids: int `[n_tokens, max_characters_per_token]`, or such rows cut
                after a position past which every row repeats its own last id
                (`elmo_keras.text.inputs.distinct_tokens`: fewer windows to compute);
                the windows there are all alike, and the last vector stands for
                them.

        Returns:
            `[n_tokens, projection_dim]` (an all-zero row gets the vector of the
            padding characters, not zero: `call` masks it).
        """
        n_tokens = ops.shape(char_ids)[0]
        # One extra all-padding token: TensorFlow's CPU convolution returns its input
        # unchanged for an empty batch, so an empty input would get the wrong shape.
        flat = ops.pad(char_ids, ((0, 1), (0, 0)))
        x = ops.take(self.char_embeddings, flat, axis=0)  # [N + 1, chars, d]
        if x.shape[1] is None or x.shape[1] < self.max_characters_per_token:
            # cut rows: their last vector again, for the windows that start by the cut
            widest = max(w for w, _ in self.filters)
            left = self.max_characters_per_token - (
                ops.shape(x)[1] if x.shape[1] is None else x.shape[1])
            repeat = min(widest - 1, left) if isinstance(left, int) else ops.minimum(
                widest - 1, left)
            x = ops.concatenate([x, ops.repeat(x[:, -1:], repeat, axis=1)], axis=1)
        act = ops.relu if self.activation == "relu" else ops.tanh
        tail = varying_positions(x)  # where windows start to repeat: once for all filters
        pooled = []
        for kernel, bias in zip(self.conv_kernels, self.conv_biases):
            # bilm-tf max-pools before the activation; both orders agree for relu/tanh.
            pooled.append(act(conv_max(x, kernel, tail) + bias))  # [N + 1, num]
        h = ops.concatenate(pooled, axis=-1)
        for hw in self.highways:
            h = hw(h)
        if self.use_projection:
            h = ops.matmul(h, self.projection_kernel) + self.projection_bias
        return h[:n_tokens]

    def compute_mask(self, inputs, mask=None):
        return token_mask(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.projection_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            char_embedding_dim=self.char_embedding_dim,
            projection_dim=self.projection_dim,
            n_highway=self.n_highway,
            activation=self.activation,
            n_characters=self.n_characters,
            max_characters_per_token=self.max_characters_per_token,
        )
        return config


class _PaddingRowZero(keras.initializers.Initializer):
    """Wraps an initializer and zeroes row 0 (the padding id's embedding)."""

    def __init__(self, base):
        self.base = base

    def __call__(self, shape, dtype=None):
        values = self.base(shape, dtype=dtype)
        return ops.concatenate([ops.zeros((1,) + tuple(shape[1:]), dtype=values.dtype),
                                values[1:]], axis=0)

    def get_config(self):
        return {"base": keras.initializers.serialize(self.base)}
