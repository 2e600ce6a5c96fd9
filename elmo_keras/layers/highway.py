"""A highway layer in bilm-tf's form."""

import math

import keras
from keras import ops

from elmo_keras.layers.kernels import matmul_add
from elmo_keras.layers.weight_init import initializer


@keras.saving.register_keras_serializable(package="elmo_keras")
class Highway(keras.layers.Layer):
    """One highway layer, as bilm-tf's character encoder uses it.

    `y = g * relu(x @ W_t + b_t) + (1 - g) * x` with the gate
    `g = sigmoid(x @ W_c + b_c)`. bilm-tf names `g` the "carry" gate although it
    weights the transformed input; its dataset names (`W_carry`, `b_carry`,
    `W_transform`, `b_transform`) map to `carry_kernel`, `carry_bias`,
    `transform_kernel`, `transform_bias` here. The transform uses relu whatever the
    char CNN's activation is; `b_c` starts at -2 so a new layer mostly passes `x`
    through.

    Args:
        carry_bias_initializer: initializer of `b_c` (default -2.0, bilm-tf's).

    Input shape: `[..., dim]`. Output shape: the same. Masks pass through.
    """

    def __init__(self, carry_bias_initializer=-2.0, **kwargs):
        super().__init__(**kwargs)
        self.carry_bias_initializer = carry_bias_initializer
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        init = initializer(keras.initializers.RandomNormal(stddev=math.sqrt(1.0 / dim)))
        self.carry_kernel = self.add_weight(
            name="carry_kernel", shape=(dim, dim), initializer=init)
        self.carry_bias = self.add_weight(
            name="carry_bias", shape=(dim,),
            initializer=keras.initializers.Constant(self.carry_bias_initializer))
        self.transform_kernel = self.add_weight(
            name="transform_kernel", shape=(dim, dim), initializer=init)
        self.transform_bias = self.add_weight(
            name="transform_bias", shape=(dim,), initializer="zeros")

    def call(self, inputs):
        x = ops.reshape(inputs, (-1, ops.shape(inputs)[-1]))
        gate = ops.sigmoid(matmul_add(x, self.carry_kernel, self.carry_bias))
        transformed = ops.relu(matmul_add(x, self.transform_kernel, self.transform_bias))
        out = gate * transformed + (1.0 - gate) * x
        return ops.reshape(out, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(carry_bias_initializer=self.carry_bias_initializer)
        return config
