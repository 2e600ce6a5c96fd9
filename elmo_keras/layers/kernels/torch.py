"""PyTorch kernels: an eager loop over time and `torch.unique` (see `kernels`)."""

import torch


def masked_recurrence(step, x_gates, keep, h0, c0):
    """`tensorflow.masked_recurrence`'s contract as a plain loop (autograd records it)."""
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


def unique_rows(rows):
    """`(unique [U, C], index [N])` of int `rows` `[N, C]`."""
    return torch.unique(rows, dim=0, return_inverse=True)


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
