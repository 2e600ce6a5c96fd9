"""The trainable softmax-weighted sum of biLM layers: ELMo_k = gamma * sum_j s_j h_kj."""

import keras
from keras import ops


def masked_layer_norm(x, mask, epsilon=1e-12):
    """Normalises `x` by one mean and variance over all its real tokens and features.

    bilm-tf's `weight_layers(do_layer_norm=True)`: the statistics are taken over the
    whole batch (every real token, every feature), not per token.

    Args:
        x: `[batch, time, dim]`.
        mask: `[batch, time]`, true for real tokens.
    """
    m = ops.expand_dims(ops.cast(mask, x.dtype), -1)
    n = ops.maximum(ops.sum(m) * ops.cast(ops.shape(x)[-1], x.dtype), 1.0)
    mean = ops.sum(x * m) / n
    variance = ops.sum(ops.square((x * m - mean) * m)) / n
    return (x - mean) * ops.rsqrt(variance + epsilon)


@keras.saving.register_keras_serializable(package="elmo_keras")
class ScalarMix(keras.layers.Layer):
    """`gamma * sum_j softmax(w)_j * h_j` over a list of equally shaped layers.

    `w` starts at zeros (a uniform mix) and `gamma` at one, both trainable. With
    `do_layer_norm`, each layer is first normalised with `masked_layer_norm`, as
    bilm-tf's `weight_layers` does. With `l2_coef`, `l2_coef * sum(w ** 2)` is added
    to the layer's losses (`layer.losses`, collected by `model.fit`).

    Args:
        num_layers: number of layers mixed.
        do_layer_norm: normalise each layer over the real tokens first.
        l2_coef: L2 penalty on `w`, or None.
        mix_weights_initializer: initializer of `w` (default zeros: uniform mix).
        gamma_initializer: initializer of `gamma` (default ones).

    Call arguments:
        inputs: list of `num_layers` tensors `[batch, time, dim]`.
        mask: bool `[batch, time]` (or a list of such, the first is used). Needed for
            layer norm; the output is zeroed where it is false.

    Returns:
        `[batch, time, dim]`, with the mask propagated.
    """

    def __init__(self, num_layers, do_layer_norm=False, l2_coef=None,
                 mix_weights_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.num_layers = int(num_layers)
        self.do_layer_norm = bool(do_layer_norm)
        self.l2_coef = None if l2_coef is None else float(l2_coef)
        self.mix_weights_initializer = keras.initializers.get(mix_weights_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != self.num_layers:
            raise ValueError(
                f"ScalarMix(num_layers={self.num_layers}) got {len(input_shape)} inputs")
        self.mix_weights = self.add_weight(
            name="mix_weights", shape=(self.num_layers,),
            initializer=self.mix_weights_initializer)
        self.gamma = self.add_weight(
            name="gamma", shape=(1,), initializer=self.gamma_initializer)

    @property
    def layer_weights(self):
        """The normalised mix weights `softmax(w)`."""
        return ops.softmax(self.mix_weights)

    def call(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is None:
            mask = ops.ones(ops.shape(inputs[0])[:2], dtype="bool")
        s = ops.softmax(self.mix_weights)
        total = 0.0
        for j, h in enumerate(inputs):
            if self.do_layer_norm:
                h = masked_layer_norm(h, mask)
            total = total + s[j] * h
        if self.l2_coef is not None:
            self.add_loss(self.l2_coef * ops.sum(ops.square(self.mix_weights)))
        out = self.gamma * total
        return out * ops.expand_dims(ops.cast(mask, out.dtype), -1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            num_layers=self.num_layers,
            do_layer_norm=self.do_layer_norm,
            l2_coef=self.l2_coef,
            mix_weights_initializer=keras.initializers.serialize(self.mix_weights_initializer),
            gamma_initializer=keras.initializers.serialize(self.gamma_initializer),
        )
        return config
