"""The time loop of the biLM (TensorFlow plumbing; the step math is `lstmp_step`).

`keras.ops.scan` on the TensorFlow backend needs a static sequence length and keeps its
carry in TensorArrays; this loop takes any length and keeps only what is needed. It can
run several independent recurrences (the two directions of a biLM layer, each with its
own plain matmuls) in the same loop.
"""

import tensorflow as tf


def run_masked_recurrence(step, x_gates, keep, h0, c0):
    """Runs `step` over time for each recurrence, freezing states where `keep` is false.

    Args:
        step: `(k, gates_t, h, c) -> (h', c')` for recurrence `k`.
        x_gates: list of per-recurrence `[time, batch, ...]` inputs (time-major).
        keep: bool `[time, ...]`, broadcastable to the states: false at padded steps,
            where the state is carried unchanged.
        h0, c0: lists of per-recurrence initial states `[batch, ...]`.

    Returns:
        `(h_seq, h_last, c_last)`, lists over the recurrences: `h_seq` `[time, batch,
        ...]` is the state after each step (the carried state at padded steps).
    """
    n = len(x_gates)
    steps = tf.shape(x_gates[0])[0]
    xs = [tf.TensorArray(x.dtype, size=steps, infer_shape=False).unstack(x) for x in x_gates]
    ks = tf.TensorArray(keep.dtype, size=steps, infer_shape=False).unstack(keep)
    hs = [tf.TensorArray(h.dtype, size=steps, element_shape=h.shape) for h in h0]

    def body(t, h, c, hs):
        k = ks.read(t)
        new_h, new_c, new_hs = [], [], []
        for r in range(n):
            h_r, c_r = step(r, xs[r].read(t), h[r], c[r])
            new_h.append(tf.where(k, h_r, h[r]))
            new_c.append(tf.where(k, c_r, c[r]))
            new_hs.append(hs[r].write(t, new_h[r]))
        return t + 1, new_h, new_c, new_hs

    _, h, c, hs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), list(h0), list(c0), hs),
        maximum_iterations=steps)
    return [a.stack() for a in hs], h, c
