"""JAX kernels: a `lax.scan` recurrence (jit-compatible, differentiable) and distinct
rows outside traced code (see `kernels`)."""

import jax
import jax.numpy as jnp
import numpy as np


def masked_recurrence(step, x_gates, keep, h0, c0):
    """`tensorflow.masked_recurrence`'s contract: one `lax.scan` over time when traced
    (`jax.jit`, `predict`, gradients), a Python loop over time on concrete arrays.

    The scan compiles once per input shape (callers that see many lengths bucket them:
    `elmo_keras.Embedder` pads steps to a multiple of 8) and is reverse-mode
    differentiable, which `lax.while_loop` is not. Outside `jit` a scan would be traced
    and compiled again on every call (`step` is a new closure each time), so an eager
    call loops in Python, its per-step ops compiled once per shape.
    """
    n = len(x_gates)
    if not isinstance(x_gates[0], jax.core.Tracer):
        return _eager_recurrence(step, x_gates, keep, h0, c0)

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
    """`(unique [U, C], index [N])` of concrete int `rows` `[N, C]`; None when traced
    (`U` would be a data-dependent shape: the caller encodes every row instead)."""
    if isinstance(rows, jax.core.Tracer):
        return None
    # NumPy: jnp.unique on concrete arrays compiles a kernel for every input shape.
    unique, index = np.unique(np.asarray(rows), axis=0, return_inverse=True)
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
