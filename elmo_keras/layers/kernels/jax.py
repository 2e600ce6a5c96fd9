"""JAX kernels: a `lax.scan` recurrence (jit-compatible, differentiable) and distinct
rows outside traced code (see `kernels`)."""

import jax
import jax.numpy as jnp
import numpy as np

from elmo_keras.layers.lstm_projection import LSTMPSteps


def masked_recurrence(step, x_gates, keep, h0, c0):
    """`tensorflow.masked_recurrence`'s contract as one `lax.scan` over time.

    The scan is reverse-mode differentiable, which `lax.while_loop` is not. When traced
    (`jax.jit`, `predict`, gradients) it becomes part of the caller's program. On
    concrete arrays (an eager `model(ids)`), an `LSTMPSteps` step goes into one
    jit-compiled scan, compiled once per shape and clip values and reused from call to
    call (callers that see many lengths bucket them: `elmo_keras.Embedder` pads steps
    to a multiple of 8). Any other step (a closure cannot be a cache key) loops in
    Python, its per-step ops compiled once per shape.
    """
    if isinstance(x_gates[0], jax.core.Tracer):
        return _scan(step, x_gates, keep, h0, c0)
    if isinstance(step, LSTMPSteps):
        return _compiled_scan(step, list(x_gates), keep, list(h0), list(c0))
    return _eager_recurrence(step, x_gates, keep, h0, c0)


def _scan(step, x_gates, keep, h0, c0):
    n = len(x_gates)

    def body(carry, xs):
        h, c = carry
        gates, k = xs
        new_h, new_c = [], []
        for r in range(n):
            h_r, c_r = step(r, gates[r], h[r], c[r])
            new_h.append(jnp.where(k, h_r, h[r]))
            new_c.append(jnp.where(k, c_r, c[r]))
        return (new_h, new_c), new_h

    (h, c), hs = jax.lax.scan(body, (list(h0), list(c0)), (list(x_gates), keep))
    return list(hs), h, c


_compiled_scan = jax.jit(_scan)

# The kernels are the step's data (traced arguments), its clip values part of the
# compiled program (static).
jax.tree_util.register_pytree_node(
    LSTMPSteps,
    lambda s: ((s.recurrent_kernels, s.projection_kernels), (s.cell_clip, s.proj_clip)),
    lambda clips, kernels: LSTMPSteps(*kernels, *clips))


def _eager_recurrence(step, x_gates, keep, h0, c0):
    h, c = list(h0), list(c0)
    hs = [[] for _ in x_gates]
    for t in range(x_gates[0].shape[0]):
        for r, gates in enumerate(x_gates):
            h_r, c_r = step(r, gates[t], h[r], c[r])
            h[r] = jnp.where(keep[t], h_r, h[r])
            c[r] = jnp.where(keep[t], c_r, c[r])
            hs[r].append(h[r])
    h_seq = [jnp.stack(s) if s else jnp.zeros((0,) + h0[r].shape, h0[r].dtype)
             for r, s in enumerate(hs)]
    return h_seq, h, c


def unique_rows(rows):
    """`(unique [U', C], index [N])` of concrete int `rows` `[N, C]`; None when traced
    (`U` would be a data-dependent shape: the caller encodes every row instead).

    `U'` is the number of distinct rows rounded up to a few sizes per power of two,
    the extra rows all zero and never indexed: an eager caller's ops then see a few
    shapes, not one per count, and JAX compiles each op for a few shapes only.
    """
    if isinstance(rows, jax.core.Tracer):
        return None
    # NumPy: jnp.unique on concrete arrays compiles a kernel for every input shape.
    unique, index = np.unique(np.asarray(rows), axis=0, return_inverse=True)
    n = len(unique)
    size = -(-n // max(8, 2 ** (n.bit_length() - 3))) * max(8, 2 ** (n.bit_length() - 3))
    unique = np.pad(unique, ((0, size - n), (0, 0)))
    return jnp.asarray(unique), jnp.asarray(np.reshape(index, (-1,)), dtype="int32")


def assert_at_most(value, limit, message):
    """Checks `value <= limit` (shapes are concrete on this backend)."""
    if int(value) > limit:
        raise ValueError(message)


def compiled(fn, variables, state_variables, jit_compile=True):
    """`fn` under `jax.jit`, its Keras variables passed in as arguments (not compiled
    in as constants) and `state_variables`' new values assigned after each call.

    Args:
        fn: a function of arrays that reads Keras variables (calls layers).
        variables: every Keras variable `fn` reads.
        state_variables: the variables it assigns (a stateful BiLM's states).
        jit_compile: ignored (always compiled).
    """
    import keras

    variables = list(variables) + [v for v in state_variables
                                   if not any(v is w for w in variables)]

    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            out = fn(*args)
            return out, [scope.get_current_value(v) for v in state_variables]

    step = jax.jit(pure)

    def run(*args):
        out, states = step([v.value for v in variables], *args)
        for v, value in zip(state_variables, states):
            v.assign(value)
        return out

    return run


def eager_call(layer, call, inputs):
    """`call(inputs)`, on concrete arrays through one `compiled` copy cached on `layer`.

    Eager JAX compiles every op for every new shape it meets (seconds for one ELMo
    call); the compiled copy compiles the whole call once per input shape. Symbolic or
    traced inputs (a functional model being built, `jax.jit`, `jax.grad`) call as is.
    The layer's non-trainable variables (a stateful BiLM's states among them) are
    assigned their new values after each call.
    """
    if not isinstance(inputs, (np.ndarray, jax.Array)) or isinstance(inputs, jax.core.Tracer):
        return call(inputs)
    run = layer.__dict__.get("_elmo_keras_eager_call")
    if run is None:
        run = compiled(call, layer.variables, layer.non_trainable_variables)
        layer.__dict__["_elmo_keras_eager_call"] = run
    return run(inputs)


def assert_in_range(values, low, high, message):
    """Checks concrete `values` lie in `[low, high]`; a traced value (`jax.jit`)
    cannot raise, so it is not checked."""
    if isinstance(values, jax.core.Tracer):
        return
    values = np.asarray(values)
    if values.size and (values.min() < low or values.max() > high):
        raise ValueError(message)
