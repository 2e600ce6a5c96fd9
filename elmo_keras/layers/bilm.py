"""The stacked bidirectional LSTM language model of ELMo (bilm-tf's inference graph)."""

import keras
from keras import ops

from elmo_keras.layers.lstm_projection import LSTMPCell, LSTMPSteps
from elmo_keras.layers.kernels import (distinct_affine, distinct_rows, gates_matmul,
                                       inference_rows, input_in_loop, joint_kernel,
                                       kernels, matmul_add, row_gates)


def reverse_padded(x, lengths):
    """Reverses the first `lengths[b]` steps of each row `b`; padding stays in place.

    The same as `tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)`, and its
    own inverse.

    One gather of whole rows of `x` viewed as `[batch * time, ...]`: on TensorFlow,
    `take_along_axis` broadcast its index to `x`'s shape and transposed both, 4% of an
    original-size `Embedder` batch (docs/speed.md).

    Args:
        x: `[batch, time, ...]` (the trailing dimensions known).
        lengths: int `[batch]`.
    """
    batch, steps = ops.shape(x)[0], ops.shape(x)[1]
    t = ops.arange(steps, dtype="int32")[None, :]
    n = ops.cast(lengths, "int32")[:, None]
    index = ops.where(t < n, n - 1 - t, t) + ops.arange(batch, dtype="int32")[:, None] * steps
    rows = ops.reshape(x, (-1,) + tuple(x.shape[2:]))
    return ops.reshape(ops.take(rows, ops.reshape(index, (-1,)), axis=0), ops.shape(x))


@keras.saving.register_keras_serializable(package="elmo_keras")
class BiLM(keras.layers.Layer):
    """Separate forward and backward stacks of `LSTMPCell`s, as bilm-tf runs them.

    The forward LM reads each row left to right; the backward LM reads each row from
    its own last real token back to the first (the padding after a row's length is
    never read: `reverse_padded`), and its outputs are put back in text order. Layer
    `l > 0` adds its input to its output when `use_skip_connections` (bilm-tf's
    `ResidualWrapper`: the recurrent state itself excludes the residual). Steps past a
    row's length leave the state unchanged and output zeros (`dynamic_rnn` with
    `sequence_length`). Both directions of a layer run in one loop, their inputs'
    matmul done for all steps before it, feature-major (`lstmp_step`; in JAX's
    inference each step multiplies its own input: `kernels.input_in_loop`). In inference the
    rows run longest first, so that each step computes its real tokens only (TensorFlow;
    PyTorch's input gates) or fewer columns (JAX, PyTorch's steps), and the first
    layer's input gates are multiplied once per distinct input row (a recurring word's
    vector): TensorFlow and PyTorch find those rows, JAX takes them from `input_rows`
    (`Embedder`, an eager call or `predict` on an array pass them); the outputs the
    same.

    Args:
        lstm_dim: LSTM cell size.
        projection_dim: output size of each direction (no projection if equal to
            `lstm_dim`).
        n_layers: number of layers in each direction.
        cell_clip, proj_clip: clip values, or None.
        use_skip_connections: residual connections between layers.
        stateful: if True, each row's final states are kept and become the initial
            states of the same row in the next call (bilm-tf's inference behaviour);
            rows beyond the batch keep theirs. `reset_state()` zeroes them. If False
            (default) every call starts from zero states.
        max_batch_size: rows of kept state when `stateful` (bilm-tf's default 128).

    Call arguments:
        inputs: `[batch, time, input_dim]` token vectors.
        mask: bool `[batch, time]`, true for real tokens, which come first in each row.
        input_rows: optional `(rows [U, input_dim], index int [batch, time])` with
            `inputs[b, t] == rows[index[b, t]]` at every real step (a batch's distinct
            token vectors: `Embedder` passes them). In inference, a backend whose loop
            multiplies each step's input (JAX) then multiplies the first layer's input
            gates once per row and looks them up (`kernels.row_gates`); the outputs
            are the same, and gradients would reach `rows`, not that layer's `inputs`.

    Returns:
        A list of `n_layers` tensors `[batch, time, 2 * projection_dim]`: forward output
        then backward output on the last axis, zero at padded steps.
    """

    def __init__(self, lstm_dim, projection_dim, n_layers=2, cell_clip=None, proj_clip=None,
                 use_skip_connections=True, stateful=False, max_batch_size=128, **kwargs):
        super().__init__(**kwargs)
        self.lstm_dim = int(lstm_dim)
        self.projection_dim = int(projection_dim)
        self.n_layers = int(n_layers)
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.cell_clip = None if cell_clip is None else float(cell_clip)
        self.proj_clip = None if proj_clip is None else float(proj_clip)
        self.use_skip_connections = bool(use_skip_connections)
        self.stateful = bool(stateful)
        self.max_batch_size = int(max_batch_size)
        self.supports_masking = True

        def cell(direction, i):
            return LSTMPCell(self.lstm_dim, self.projection_dim, self.cell_clip,
                             self.proj_clip, name=f"{direction}_{i}", dtype=self.dtype_policy)

        self.forward_cells = [cell("forward", i) for i in range(self.n_layers)]
        self.backward_cells = [cell("backward", i) for i in range(self.n_layers)]
        self._states = None

    @classmethod
    def from_options(cls, options, input_dim=None, **kwargs):
        """The BiLM of a biLM's options: the one factory for character- and
        token-input models (`ELMo` and training build theirs here).

        Args:
            options: anything with the LSTM fields of `elmo_keras.BiLMOptions`
                (`lstm_dim`, `projection_dim`, `n_layers`, `cell_clip`, `proj_clip`,
                `use_skip_connections`).
            input_dim: build the layer for token vectors of this size (None: built on
                first call).
            **kwargs: other arguments (`stateful`, `max_batch_size`, `dtype`, `name`).
        """
        layer = cls(options.lstm_dim, options.projection_dim, n_layers=options.n_layers,
                    cell_clip=options.cell_clip, proj_clip=options.proj_clip,
                    use_skip_connections=options.use_skip_connections, **kwargs)
        if input_dim is not None:
            layer.build((None, None, input_dim))
        return layer

    @property
    def output_dim(self):
        return self.forward_cells[0].output_size

    def build(self, input_shape):
        dim = input_shape[-1]
        for i in range(self.n_layers):
            in_dim = dim if i == 0 else self.output_dim
            self.forward_cells[i].build((None, in_dim))
            self.backward_cells[i].build((None, in_dim))
        if self.stateful and self._states is None:
            h, c = self.zero_states(self.max_batch_size, self.variable_dtype)
            with keras.name_scope(self.name):
                self._states = _KeptStates(
                    keras.Variable(h, trainable=False, name="state_h"),
                    keras.Variable(c, trainable=False, name="state_c"))

    @property
    def states(self):
        """The kept `(h, c)` variables of a stateful BiLM (`zero_states` layout with
        `max_batch_size` rows), or None. Like Keras' stateful RNNs and seed generators,
        they are state, not weights: in `variables` (so that compiled calls, e.g.
        `predict` on JAX, carry them), not in `weights`, not saved."""
        return None if self._states is None else (self._states.h, self._states.c)

    @property
    def variables(self):
        return super().variables + list(self.states or ())

    def reset_state(self):
        """Zeroes the kept states of a stateful BiLM (all rows)."""
        for var in self.states or ():
            var.assign(ops.zeros(var.shape, var.dtype))  # zeros_like(var) fails on JAX

    def call(self, inputs, mask=None, training=None, input_rows=None):
        x = inputs
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        if mask is None:
            mask = ops.ones((batch, steps), dtype="bool")
        mask = ops.cast(mask, "bool")
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        # [2, batch, time, dim]: forward input, and each row reversed within its length.
        stacked = ops.stack([x, reverse_padded(x, lengths)])
        initial_states = None
        if self.stateful:
            self._check_batch(batch)
            initial_states = tuple(ops.cast(var[:, :, :batch], x.dtype)
                                   for var in self.states)
        if input_rows is not None:  # each direction's index, as its inputs are read
            rows, index = input_rows
            index = ops.cast(index, "int32")
            input_rows = (rows, ops.stack([index, reverse_padded(index, lengths)]))
        # Some backends' faster loops pay without gradients only (JAX).
        outputs, finals = self.run_directions(stacked, mask, initial_states,
                                              inference=not training, input_rows=input_rows)
        if self.stateful:
            for var, final in zip(self.states, finals):
                var.assign(ops.concatenate(
                    [ops.cast(final, var.dtype), var[:, :, batch:]], axis=2))
        return [ops.concatenate([o[0], reverse_padded(o[1], lengths)], axis=-1)
                for o in outputs]

    def zero_states(self, batch, dtype=None):
        """Zero `(h, c)` states of shapes `[n_layers, 2, batch, projection_dim]` and
        `[n_layers, 2, batch, lstm_dim]` (the layout `run_directions` takes)."""
        dtype = dtype or self.compute_dtype
        return (ops.zeros((self.n_layers, 2, batch, self.output_dim), dtype=dtype),
                ops.zeros((self.n_layers, 2, batch, self.lstm_dim), dtype=dtype))

    def run_directions(self, stacked_inputs, mask=None, initial_states=None,
                       input_dropout=None, inference=False, input_rows=None):
        """Runs both LMs on inputs already in each direction's reading order.

        This is the biLM's core: `call` builds its inputs from one text-ordered batch;
        training feeds a forward and a separate backward token stream (bilm-tf's
        training data) and carries the states from batch to batch.

        Args:
            stacked_inputs: `[2, batch, time, dim]`: the forward LM's input, then the
                backward LM's (already reversed).
            mask: bool `[batch, time]` (the same for both directions), or None.
            initial_states: `(h, c)` as `zero_states` lays them out, or None (zeros).
            input_dropout: optional function applied to each layer's input (bilm-tf's
                `DropoutWrapper(input_keep_prob)`: the residual adds the dropped input).
            inference: no gradient will be taken. The rows then run longest first
                where the backend's loop gains by it (the outputs come back in the given
                order), so that it computes each step's real tokens only (TensorFlow;
                PyTorch's input gates) or the fewest of a few widths of columns (JAX,
                PyTorch's steps); the same outputs (see `kernels.inference_rows`).
            input_rows: optional `(rows [U, dim], index int [2, batch, time])` with
                `stacked_inputs[d, b, t] == rows[index[d, b, t]]` at real steps (see
                `call`; used in inference only).

        Returns:
            `(outputs, (h, c))`: `outputs` is a list of `n_layers` tensors
            `[2, batch, time, projection_dim]` (zero at masked steps), and `(h, c)` the
            final states in `zero_states`' layout (carried unchanged over masked steps).
        """
        dtype = stacked_inputs.dtype
        batch, steps = ops.shape(stacked_inputs)[1], ops.shape(stacked_inputs)[2]
        if mask is None:
            mask = ops.ones((batch, steps), dtype="bool")
        mask = ops.cast(mask, "bool")
        if initial_states is None:
            initial_states = self.zero_states(batch, dtype)
        order = packed = None
        rows = inference_rows() if inference else None
        in_loop = rows != "packed" and inference and input_in_loop()
        if rows is not None:
            # Rows longest first (put back in the callers' order at the end): a step's
            # real tokens are then its first columns, and the loop computes those only
            # (`kernels.packed_recurrence`), or the fewest of a few widths (JAX).
            order = ops.argsort(-ops.sum(ops.cast(mask, "int32"), axis=1))
            stacked_inputs = ops.take(stacked_inputs, order, axis=1)
            mask = ops.take(mask, order, axis=0)
            initial_states = tuple(ops.take(s, order, axis=2) for s in initial_states)
            if input_rows is not None:
                input_rows = (input_rows[0], ops.take(input_rows[1], order, axis=1))
            if rows == "packed":
                packed = _packing(mask)
        keep = ops.transpose(mask)[:, None, :]  # [time, 1, batch]
        maskf = ops.cast(keep, dtype)
        # Feature-major states [n_layers, 2, dim, batch] (see `lstmp_step`).
        init_h, init_c = (ops.swapaxes(ops.cast(s, dtype), -1, -2) for s in initial_states)

        # Time-major, feature-major [2, time, dim, batch]: a step's block is what its
        # matmuls take.
        layer_input = ops.transpose(stacked_inputs, (0, 2, 3, 1))
        outputs, final_h, final_c = [], [], []
        for i in range(self.n_layers):
            cells = (self.forward_cells[i], self.backward_cells[i])
            if input_dropout is not None:  # drawn [2, time, batch, dim], as it always was
                layer_input = ops.swapaxes(input_dropout(ops.swapaxes(layer_input, 2, 3)),
                                           2, 3)
            weights = {name: [None if getattr(cell, name) is None
                              else ops.cast(getattr(cell, name), dtype) for cell in cells]
                       for name in ("kernel", "bias", "recurrent_kernel", "projection_kernel")}
            if packed is not None:  # the real tokens' rows only, distinct ones in layer 0
                x_gates = _packed_gates(layer_input, packed[1], weights["kernel"],
                                        weights["bias"], distinct=i == 0)
            else:
                x_gates = []
                for d in range(2):
                    # [dim, time * batch]: step t is columns t * batch to (t + 1) * batch.
                    columns = ops.reshape(ops.transpose(layer_input[d], (1, 0, 2)),
                                          (layer_input.shape[2], -1))
                    x_gates.append(columns if in_loop else gates_matmul(
                        weights["kernel"][d], columns, weights["bias"][d]))
            h0, c0 = [init_h[i, 0], init_h[i, 1]], [init_c[i, 0], init_c[i, 1]]
            looked_up = None
            if in_loop and i == 0 and input_rows is not None and input_dropout is None:
                # [time * batch], as the columns: step t is t * batch to (t + 1) * batch
                looked_up = [row_gates(ops.cast(input_rows[0], dtype),
                                       ops.reshape(ops.transpose(input_rows[1][d]), (-1,)),
                                       weights["kernel"][d], weights["bias"][d])
                             for d in range(2)]
            if looked_up and looked_up[0] is not None:  # gates per row: `row_gates`
                x_gates = looked_up
                step = LSTMPSteps(weights["recurrent_kernel"], weights["projection_kernel"],
                                  self.cell_clip, self.proj_clip)
            elif in_loop:  # each step multiplies its input: `kernels.input_in_loop`
                step = LSTMPSteps([joint_kernel(cell, dtype) for cell in cells],
                                  weights["projection_kernel"], self.cell_clip,
                                  self.proj_clip, biases=weights["bias"])
            else:
                step = LSTMPSteps(weights["recurrent_kernel"], weights["projection_kernel"],
                                  self.cell_clip, self.proj_clip)
            if packed is None:
                h_seq, h_last, c_last = kernels().masked_recurrence(
                    step, x_gates, keep, h0, c0, inference=inference)
            else:
                h_seq, h_last, c_last = kernels().packed_recurrence(
                    step, x_gates, packed[0], h0, c0)
            final_h.append(ops.stack(h_last))
            final_c.append(ops.stack(c_last))
            out = ops.stack(h_seq) * maskf[None]  # [2, time, P, batch]
            if i > 0 and self.use_skip_connections:
                out = out + layer_input
            outputs.append(ops.transpose(out, (0, 3, 1, 2)))
            layer_input = out
        finals = tuple(ops.swapaxes(ops.stack(s), -1, -2) for s in (final_h, final_c))
        if order is not None:  # back in the callers' row order
            back = ops.argsort(order)
            outputs = [ops.take(o, back, axis=1) for o in outputs]
            finals = tuple(ops.take(s, back, axis=2) for s in finals)
        return outputs, finals

    def _check_batch(self, batch):
        if isinstance(batch, int):
            if batch > self.max_batch_size:
                raise ValueError(
                    f"stateful BiLM got a batch of {batch} rows, more than "
                    f"max_batch_size={self.max_batch_size}")
        else:  # dynamic batch size (a TensorFlow graph): check when it runs.
            kernels().assert_at_most(
                batch, self.max_batch_size,
                f"stateful BiLM: batch larger than max_batch_size={self.max_batch_size}")

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], input_shape[1], 2 * self.output_dim)
                for _ in range(self.n_layers)]

    def compute_mask(self, inputs, mask=None):
        return [mask for _ in range(self.n_layers)]

    def get_config(self):
        config = super().get_config()
        config.update(
            lstm_dim=self.lstm_dim,
            projection_dim=self.projection_dim,
            n_layers=self.n_layers,
            cell_clip=self.cell_clip,
            proj_clip=self.proj_clip,
            use_skip_connections=self.use_skip_connections,
            stateful=self.stateful,
            max_batch_size=self.max_batch_size,
        )
        return config


def _packed_gates(layer_input, positions, kernels_, biases, distinct):
    """Both directions' input gates for `kernels.packed_recurrence`, batch-major: `[N,
    4 * units]`, the real tokens' rows step after step (`positions`, from `_packing`,
    index the `[time * batch]` rows of `layer_input` `[2, time, dim, batch]`).

    With `distinct` (the first layer, whose inputs are token vectors: the same vector
    wherever a word recurs) the products are computed once per distinct input row of
    both directions (`kernels.distinct_affine`): the 32 sentences of
    `benchmarks/inference.py` have 299 distinct rows among 778 positions."""
    dim = layer_input.shape[2]
    rows = ops.reshape(ops.transpose(layer_input, (0, 1, 3, 2)), (2, -1, dim))
    rows = ops.take(rows, positions, axis=1)  # [2, N, dim]
    if not distinct:
        return [matmul_add(rows[d], ops.transpose(kernels_[d]), biases[d])
                for d in range(2)]
    n = ops.shape(rows)[1]
    both = ops.reshape(rows, (-1, dim))
    first, index = distinct_rows(both)
    unique = ops.stop_gradient(ops.take(both, first, axis=0))
    return [distinct_affine(rows[d], unique, index[d * n:(d + 1) * n], kernels_[d],
                            biases[d]) for d in range(2)]


def _packing(mask):
    """`(counts, columns)` for `kernels.packed_recurrence`, for a `mask` `[batch, time]`
    whose rows come longest first: step `t`'s `counts[t]` real tokens are its first
    columns, and `columns` their indices in a `[features, time * batch]` matrix (step
    `t` in columns `t * batch` to `(t + 1) * batch`), step after step."""
    by_step = ops.transpose(mask)  # [time, batch]
    counts = ops.sum(ops.cast(by_step, "int32"), axis=1)
    columns = ops.cast(ops.where(ops.reshape(by_step, (-1,)))[0], "int32")
    return counts, columns


class _KeptStates:
    """Holds a stateful BiLM's state variables out of Keras' weight tracking (a plain
    object: `Layer` tracks variables, lists and dicts set on it, not this)."""

    def __init__(self, h, c):
        self.h, self.c = h, c
