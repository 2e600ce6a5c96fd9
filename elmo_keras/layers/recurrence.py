"""The time loop of the biLM (TensorFlow plumbing; the step math is `lstmp_step`).

`keras.ops.scan` on the TensorFlow backend needs a static sequence length and keeps its
carry in TensorArrays; this loop takes any length and keeps only what is needed.
"""

import tensorflow as tf


def run_masked_recurrence(step, x_gates, keep, h0, c0):
    """Runs `step` over time, freezing the state where `keep` is false.

    Args:
        step: `(gates_t, h, c) -> (h', c')`.
        x_gates: `[time, ...]` per-step inputs.
        keep: bool `[time, ...]`, broadcastable to the states: false at padded steps,
            where the state is carried unchanged.
        h0, c0: initial states.

    Returns:
        `(h_seq, h_last, c_last)`: `h_seq` `[time, *h.shape]` is the state after each
        step (equal to the carried state at padded steps).
    """
    steps = tf.shape(x_gates)[0]
    xs = tf.TensorArray(x_gates.dtype, size=steps, infer_shape=False).unstack(x_gates)
    ks = tf.TensorArray(keep.dtype, size=steps, infer_shape=False).unstack(keep)
    hs = tf.TensorArray(h0.dtype, size=steps, element_shape=h0.shape)

    def body(t, h, c, hs):
        h_new, c_new = step(xs.read(t), h, c)
        k = ks.read(t)
        h = tf.where(k, h_new, h)
        c = tf.where(k, c_new, c)
        return t + 1, h, c, hs.write(t, h)

    _, h, c, hs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), h0, c0, hs),
        maximum_iterations=steps)
    return hs.stack(), h, c
