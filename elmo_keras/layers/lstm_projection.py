"""LSTM with a projected output and clipping, as bilm-tf's TF1 `LSTMCell(num_proj=...)`.

The gate math lives in `lstmp_step`, shared by `LSTMPCell` (one step, Keras cell API) and
`elmo_keras.layers.bilm.BiLM` (both directions of a layer in one loop). The kernels are
stored output-major (`[4 * units, input_dim]`, as PyTorch's `nn.LSTM` stores them): the
biLM runs feature-major, `kernel @ state` (see `lstmp_step`).
"""

import keras
import numpy as np
from keras import ops

from elmo_keras.layers.weight_init import initializer

#: Added to the forget gate's pre-activation at run time (TF1 `LSTMCell` default); it is
#: not part of the stored bias.
FORGET_BIAS = 1.0


def lstmp_step(x_gates, h, c, recurrent_kernel, projection_kernel=None,
               cell_clip=None, proj_clip=None):
    """One time step of an LSTM with projection, bilm-tf's gate layout, feature-major.

    Feature-major: each column is one row of the batch (`h` is `[output_dim, batch]`),
    and the kernels are stored output-major (`recurrent_kernel` `[4 * units,
    output_dim]`), so every matmul is `kernel @ state`. On a CPU, this form of the
    recurrence's skinny matmuls (a batch of 32 columns) ran 1.2-2.5x faster than
    `state @ kernel` on all three backends (docs/speed.md).

    The pre-activations are `x_gates + recurrent_kernel @ h`, four blocks of `units`
    rows in the order **i, j, f, o** (input gate, candidate, forget gate, output gate),
    as TF1's `LSTMCell` lays out its `W_0` and `B`:

        c' = sigmoid(f + FORGET_BIAS) * c + sigmoid(i) * tanh(j)
        c' = clip(c', -cell_clip, cell_clip)          if cell_clip
        m  = sigmoid(o) * tanh(c')
        h' = projection_kernel @ m                    if projection_kernel is given
        h' = clip(h', -proj_clip, proj_clip)          if proj_clip

    Leading dimensions broadcast, so `[2, 4 * units, batch]` runs two directions at once
    with stacked `[2, ...]` kernels.

    Args:
        x_gates: `[..., 4 * units, batch]`: `kernel @ x + bias`, computed ahead for all
            steps.
        h: `[..., output_dim, batch]` previous (projected) output.
        c: `[..., units, batch]` previous cell state.
        recurrent_kernel: `[..., 4 * units, output_dim]`.
        projection_kernel: `[..., output_dim, units]` or None (no projection, no bias).
        cell_clip, proj_clip: clip values or None.

    Returns:
        `(h', c')`, feature-major.
    """
    return lstmp_update(x_gates + ops.matmul(recurrent_kernel, h), c, projection_kernel,
                        cell_clip, proj_clip)


def lstmp_update(z, c, projection_kernel=None, cell_clip=None, proj_clip=None):
    """The rest of `lstmp_step` from the step's pre-activations `z` `[..., 4 * units,
    batch]` (`x_gates + recurrent_kernel @ h`): the new `(h', c')`."""
    i, j, f, o = ops.split(z, 4, axis=-2)
    c_new = ops.sigmoid(f + FORGET_BIAS) * c + ops.sigmoid(i) * ops.tanh(j)
    if cell_clip is not None:
        c_new = ops.clip(c_new, -cell_clip, cell_clip)
    m = ops.sigmoid(o) * ops.tanh(c_new)
    if projection_kernel is not None:
        m = ops.matmul(projection_kernel, m)
    if proj_clip is not None:
        m = ops.clip(m, -proj_clip, proj_clip)
    return m, c_new


class LSTMPSteps:
    """The step function of several LSTMP recurrences that run in one loop (the two
    directions of a biLM layer): `steps(r, x_gates, h, c)` is `lstmp_step` with
    recurrence `r`'s kernels.

    With `biases`, each step multiplies its own input instead: `steps(r, x, h, c)`
    takes the step's input `x` `[input_dim, batch]`, and each of `recurrent_kernels` is
    then the joint `[4 * units, input_dim + output_dim]` (`kernel` beside
    `recurrent_kernel`): `z = joint @ [x; h] + bias`, one product a step, then
    `lstmp_update` (the JAX inference loop: see `kernels.input_in_loop`).

    A plain object holding its arrays and its clip values, rather than a closure, so
    that a backend kernel can pass it into a compiled function as data (the JAX kernel
    registers it as a pytree: the kernels and biases are leaves, the clips static) and
    reuse the compiled loop from call to call.
    """

    def __init__(self, recurrent_kernels, projection_kernels, cell_clip=None,
                 proj_clip=None, biases=None):
        self.recurrent_kernels = list(recurrent_kernels)
        self.projection_kernels = list(projection_kernels)
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.biases = None if biases is None else list(biases)

    def __call__(self, r, x_gates, h, c):
        if self.biases is None:
            return lstmp_step(x_gates, h, c, self.recurrent_kernels[r],
                              self.projection_kernels[r], self.cell_clip, self.proj_clip)
        z = ops.matmul(self.recurrent_kernels[r], ops.concatenate([x_gates, h], axis=-2))
        return lstmp_update(z + ops.expand_dims(self.biases[r], -1), c,
                            self.projection_kernels[r], self.cell_clip, self.proj_clip)


@keras.saving.register_keras_serializable(package="elmo_keras")
class LSTMPCell(keras.layers.Layer):
    """One step of an LSTM with output projection and clipping (bilm-tf's cell).

    Usable in `keras.layers.RNN`. Weights, stored output-major (each the transpose of
    bilm-tf's): `kernel` `[4 * units, input_dim]`, `recurrent_kernel` `[4 * units,
    output_dim]`, `bias` `[4 * units]` (bilm-tf stores the first two transposed and
    stacked as `W_0`, the bias as `B`), and `projection_kernel` `[projection_dim,
    units]` (bilm-tf's `W_P_0` transposed, no bias) when projecting. Gate order i, j,
    f, o; forget bias 1.0 added at run time (see `lstmp_step`). A `.keras` file saved
    before this layout (each kernel the transpose) loads: `load_own_variables`
    transposes it.

    Args:
        units: cell size (bilm-tf's `lstm.dim`).
        projection_dim: output size; None or equal to `units` means no projection.
        cell_clip: clip of the cell state, or None.
        proj_clip: clip of the output, or None.
        kernel_initializer, recurrent_initializer, projection_initializer,
        bias_initializer: initializers.

    State: `[h, c]` with sizes `[output_dim, units]` (Keras order).
    """

    def __init__(self, units, projection_dim=None, cell_clip=None, proj_clip=None,
                 kernel_initializer="glorot_uniform", recurrent_initializer="glorot_uniform",
                 projection_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        if projection_dim is not None and int(projection_dim) > self.units:
            raise ValueError(
                f"projection_dim={projection_dim} is larger than units={units}; "
                "the projection only projects down")
        self.projection_dim = None if projection_dim in (None, units) else int(projection_dim)
        self.cell_clip = None if cell_clip is None else float(cell_clip)
        self.proj_clip = None if proj_clip is None else float(proj_clip)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.projection_initializer = keras.initializers.get(projection_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.output_size = self.projection_dim or self.units
        self.state_size = [self.output_size, self.units]

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(4 * self.units, input_dim),
            initializer=initializer(self.kernel_initializer))
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(4 * self.units, self.output_size),
            initializer=initializer(self.recurrent_initializer))
        self.bias = self.add_weight(
            name="bias", shape=(4 * self.units,), initializer=self.bias_initializer)
        if self.projection_dim is not None:
            self.projection_kernel = self.add_weight(
                name="projection_kernel", shape=(self.projection_dim, self.units),
                initializer=initializer(self.projection_initializer))
        else:
            self.projection_kernel = None

    def call(self, inputs, states, training=None):
        # Keras' cell API is batch-major: `lstmp_step` takes the step feature-major.
        gates = ops.matmul(self.kernel, ops.transpose(inputs)) + self.bias[:, None]
        h, c = lstmp_step(gates, ops.transpose(states[0]), ops.transpose(states[1]),
                          self.recurrent_kernel, self.projection_kernel, self.cell_clip,
                          self.proj_clip)
        h, c = ops.transpose(h), ops.transpose(c)
        return h, [h, c]

    def load_own_variables(self, store):
        """Loads a `.keras` file's weights, also one saved when the kernels were stored
        input-major (`kernel` `[input_dim, 4 * units]`, each kernel the transpose of
        today's). The recurrent kernel tells the layouts apart (`4 * units` is never an
        output size), and then every kernel of the cell is transposed, a square `kernel`
        included."""
        names = [v.path.split("/")[-1] for v in self.variables]
        if len(store.keys()) != len(names) or "recurrent_kernel" not in names:
            return super().load_own_variables(store)
        stored = np.asarray(store[str(names.index("recurrent_kernel"))])
        old_layout = tuple(stored.shape) == (self.output_size, 4 * self.units)
        for k, (name, var) in enumerate(zip(names, self.variables)):
            value = np.asarray(store[str(k)])
            var.assign(value.T if old_layout and name.endswith("kernel") else value)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            projection_dim=self.projection_dim,
            cell_clip=self.cell_clip,
            proj_clip=self.proj_clip,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
            projection_initializer=keras.initializers.serialize(self.projection_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
