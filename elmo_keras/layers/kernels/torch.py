"""PyTorch kernels: an eager loop over time and `torch.unique` (see `kernels`)."""

import torch

from elmo_keras.layers.lstm_projection import FORGET_BIAS, LSTMPSteps


def masked_recurrence(step, x_gates, keep, h0, c0, inference=False):
    """`tensorflow.masked_recurrence`'s contract as a plain loop (autograd records it).

    Without gradients (inference: `torch.no_grad`, `Embedder`, `predict`) an
    `LSTMPSteps` step runs `_lstmp_inference`: every recurrence in one batched matmul a
    step, the gate math in place.
    """
    if isinstance(step, LSTMPSteps) and not torch.is_grad_enabled():
        return _lstmp_inference(step, x_gates, keep, h0, c0)
    n = len(x_gates)
    h, c = list(h0), list(c0)
    hs = [[] for _ in range(n)]
    for t in range(x_gates[0].shape[0]):
        k = keep[t]
        for r in range(n):
            h_r, c_r = step(r, x_gates[r][t], h[r], c[r])
            h[r] = torch.where(k, h_r, h[r])
            c[r] = torch.where(k, c_r, c[r])
            hs[r].append(h[r])
    h_seq = [torch.stack(s) if s else h0[r].new_zeros((0,) + tuple(h0[r].shape))
             for r, s in enumerate(hs)]
    return h_seq, h, c


def _lstmp_inference(step, x_gates, keep, h0, c0):
    """`lstmp_step` (see its gate layout) for all the recurrences of `step` at once:
    the `R` recurrent kernels stacked, `baddbmm_` adds `h @ W` to the input gates
    of all `R` recurrences in one call, in a buffer kept for every step, the gates
    computed in place in it, and
    one `torch.bmm` projects. Masked steps carry the states as the generic loop does."""
    n_steps = x_gates[0].shape[0]
    weights = torch.stack(list(step.recurrent_kernels))          # [R, P, 4U]
    projections = (None if step.projection_kernels[0] is None
                   else torch.stack(list(step.projection_kernels)))  # [R, U, P]
    h, c = torch.stack(list(h0)), torch.stack(list(c0))          # [R, B, P], [R, B, U]
    hs = h.new_empty((n_steps,) + tuple(h.shape))
    # One buffer for every step's gates: a new tensor of this size each step is fresh
    # memory from the OS each time (glibc maps it), and its page faults cost more than
    # the copy (docs/speed.md).
    z = x_gates[0].new_empty((len(x_gates),) + tuple(x_gates[0].shape[1:]))  # [R, B, 4U]
    for t in range(n_steps):
        torch.stack([x[t] for x in x_gates], out=z)
        z.baddbmm_(h, weights)
        i, j, f, o = z.chunk(4, dim=-1)
        c_new = f.add_(FORGET_BIAS).sigmoid_().mul_(c).addcmul_(i.sigmoid_(), j.tanh_())
        if step.cell_clip is not None:
            c_new.clamp_(-step.cell_clip, step.cell_clip)
        m = o.sigmoid_().mul_(torch.tanh(c_new))
        if projections is not None:
            m = torch.bmm(m, projections)
        if step.proj_clip is not None:
            m.clamp_(-step.proj_clip, step.proj_clip)
        k = keep[t]
        h = torch.where(k, m, h)
        c = torch.where(k, c_new, c)
        hs[t] = h
    return list(hs.unbind(1)), list(h.unbind(0)), list(c.unbind(0))


def matmul_add(x, kernel, bias):
    """`x @ kernel + bias` (`x` 2-D) as one `torch.addmm`."""
    return torch.addmm(bias, x, kernel)


def encode_distinct(rows, encode):
    """`kernels.encode_distinct`: `torch.unique` then a gather."""
    unique, index = torch.unique(rows, dim=0, return_inverse=True)
    return encode(unique)[index]


def assert_at_most(value, limit, message):
    """Checks `value <= limit` (shapes are concrete on this backend)."""
    if int(value) > limit:
        raise ValueError(message)


def compiled(fn, variables, state_variables, jit_compile=False):
    """`fn` run eagerly without recording gradients (inference)."""

    def run(*args):
        with torch.no_grad():
            return fn(*args)

    return run


def eager_call(layer, call, inputs):
    """`call(inputs)`: this backend runs an eager call as it is."""
    return call(inputs)


def assert_in_range(values, low, high, message):
    """Checks `values` lie in `[low, high]` (tensors are concrete on this backend)."""
    if values.numel() and (int(values.min()) < low or int(values.max()) > high):
        raise ValueError(message)
