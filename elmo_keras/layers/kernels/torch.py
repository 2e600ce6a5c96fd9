"""PyTorch kernels: an eager loop over time and `torch.unique` (see `kernels`)."""

import functools
import weakref

import keras
import torch

from elmo_keras.layers.kernels import (char_windows, conv_block, gathered_affine,
                                       packed_loop, windows_max)
from elmo_keras.layers.lstm_projection import FORGET_BIAS, LSTMPSteps


def masked_recurrence(step, x_gates, keep, h0, c0, inference=False):
    """`tensorflow.masked_recurrence`'s contract as a plain loop (autograd records it).

    Without gradients (`torch.no_grad`) an `LSTMPSteps` step runs `_lstmp_inference`:
    every recurrence in one loop, the gate math in place, each step's columns kept as
    `keep` says. `inference` changes nothing here: this backend's inference rows are
    `"packed"`, so its rows are never promised longest first here
    (`BiLM.run_directions` in inference calls `packed_recurrence`).
    """
    if isinstance(step, LSTMPSteps) and step.biases is None and not torch.is_grad_enabled():
        counts = keep.reshape(keep.shape[0], -1).sum(-1).tolist()
        return _lstmp_inference(step, x_gates, counts, h0, c0, keep=keep)
    n = len(x_gates)
    batch = h0[0].shape[-1]
    h, c = list(h0), list(c0)
    hs = [[] for _ in range(n)]
    for t in range(keep.shape[0]):
        k = keep[t]
        for r in range(n):
            h_r, c_r = step(r, x_gates[r][:, t * batch:(t + 1) * batch], h[r], c[r])
            h[r] = torch.where(k, h_r, h[r])
            c[r] = torch.where(k, c_r, c[r])
            hs[r].append(h[r])
    h_seq = [torch.stack(s) if s else h0[r].new_zeros((0,) + tuple(h0[r].shape))
             for r, s in enumerate(hs)]
    return h_seq, h, c


def packed_recurrence(step, x_gates, counts, h0, c0):
    """`kernels.packed_recurrence`: the input gates were computed for the real tokens
    only (a batch's padding costs no product). Without gradients
    `_lstmp_inference_prepacked` runs each step on its real rows (float32 on a CPU
    with `onednn_linear`), else `_lstmp_inference` on its first `step_width` columns;
    with them (a call with `training` false under autograd) each step runs on its real
    columns and carries the others' states, as TensorFlow's loop does."""
    counts = [int(k) for k in counts.tolist()]
    inference = (isinstance(step, LSTMPSteps) and step.biases is None
                 and not torch.is_grad_enabled())
    if inference and _prepacked_route(h0[0], *step.recurrent_kernels,
                                      *step.projection_kernels):
        return _lstmp_inference_prepacked(step, x_gates, counts, h0, c0)
    x_gates = [g.materialize() if isinstance(g, GatheredRows) else g for g in x_gates]
    if inference:
        return _lstmp_inference(step, [g.t() for g in x_gates], counts, h0, c0,
                                packed=True)
    return packed_loop(step, x_gates, counts, h0, c0)


def _lstmp_inference(step, x_gates, counts, h0, c0, keep=None, packed=False):
    """`lstmp_step` (see its gate layout) for all the recurrences of `step` at once:
    each recurrence's `addmm` adds `W @ h` to its step's input gates straight into one
    buffer kept for every step, the gates of all recurrences computed in place in it,
    and each projected by one `mm` into a second buffer. Masked steps carry the states
    as the generic loop does. (One `baddbmm_` on the kernels stacked ran the original
    biLM's loop 4-13% slower, and stacking copies 64 MB of kernels a layer.) A step no
    row keeps is skipped. `packed` (`packed_recurrence`: the rows come longest first):
    `x_gates` holds the real tokens' columns only, step after step, and a step runs on
    its first `step_width` columns, which hold all its real tokens (`counts[t]` of
    them); the other columns get `W @ h` alone, and their results are not kept.
    Otherwise every step runs on all columns and `keep` says which it keeps."""
    n_steps = len(counts)
    n, batch = len(x_gates), h0[0].shape[-1]
    h, c = torch.stack(list(h0)), torch.stack(list(c0))          # [R, P, B], [R, U, B]
    hs = h.new_empty((n_steps,) + tuple(h.shape))
    # Buffers for every step: a new tensor of this size each step is fresh memory from
    # the OS each time (glibc maps it), and its page faults cost more than the copy
    # (docs/speed.md). A step of `w` columns uses their front as `[R, rows, w]`.
    rows = x_gates[0].shape[0]
    z_buffer = x_gates[0].new_empty(n * rows * batch)
    projected_buffer = (None if step.projection_kernels[0] is None
                        else h.new_empty(h.numel()))
    start = 0  # of step t's columns in `x_gates`
    for t in range(n_steps):
        w = step_width(counts[t], batch) if packed else (batch if counts[t] else 0)
        if w:
            z = z_buffer[:n * rows * w].view(n, rows, w)
            for r in range(n):
                if packed:
                    torch.mm(step.recurrent_kernels[r], h[r, :, :w], out=z[r])
                    z[r, :, :counts[t]].add_(x_gates[r][:, start:start + counts[t]])
                else:
                    torch.addmm(x_gates[r][:, start:start + w],
                                step.recurrent_kernels[r], h[r, :, :w], out=z[r])
            c_new, m = _cell(z.chunk(4, dim=1), c[:, :, :w], step.cell_clip)
            if projected_buffer is not None:
                projected = projected_buffer[:n * h.shape[1] * w].view(n, h.shape[1], w)
                for r in range(n):
                    torch.mm(step.projection_kernels[r], m[r], out=projected[r])
                m = projected
            if step.proj_clip is not None:
                m.clamp_(-step.proj_clip, step.proj_clip)
            if packed:  # rows longest first: the step's real tokens are its first columns
                h[:, :, :counts[t]] = m[:, :, :counts[t]]
                c[:, :, :counts[t]] = c_new[:, :, :counts[t]]
            else:
                k = keep[t][:, :w]
                h[:, :, :w] = torch.where(k, m, h[:, :, :w])
                c[:, :, :w] = torch.where(k, c_new, c[:, :, :w])
        hs[t] = h
        start += counts[t] if packed else batch
    return list(hs.unbind(1)), list(h.unbind(0)), list(c.unbind(0))


def _lstmp_inference_prepacked(step, x_gates, counts, h0, c0):
    """`_lstmp_inference` with `packed`, batch-major on oneDNN's prepacked linear
    (`PackedKernel`): the states are `[batch, features]` and each step's products are
    `h @ kernel.T` on kernels reordered once, which ran the recurrent product `[32,
    512] x [512, 16384]` 1.2-1.3x faster than `torch.mm` (MKL) feature-major
    (docs/speed.md). A step runs on its `counts[t]` real rows (the first ones;
    oneDNN's time grows with the rows, where `torch.mm`'s went in steps of 16 columns).
    `x_gates` batch-major as `packed_recurrence` takes them (a step's gates are rows),
    or `GatheredRows`; the outputs as `_lstmp_inference` returns them (feature-major
    views)."""
    n_steps = len(counts)
    h = torch.stack([s.t() for s in h0])                             # [R, B, P]
    c = torch.stack([s.t() for s in c0])                             # [R, B, U]
    hs = h.new_empty((n_steps,) + tuple(h.shape))
    recurrent = [PackedKernel(k) for k in step.recurrent_kernels]
    projection = (None if step.projection_kernels[0] is None
                  else [PackedKernel(k) for k in step.projection_kernels])
    start = 0  # of step t's rows in `x_gates` (`[tokens, 4 U]`)
    for t, k in enumerate(counts):
        if k:
            for r in range(len(x_gates)):
                z = recurrent[r](h[r, :k])                                 # [k, 4 U]
                _add_rows(z, x_gates[r], start, k)
                c_new, m = _cell(z.chunk(4, dim=1), c[r, :k], step.cell_clip)
                if projection is not None:
                    m = projection[r](m)
                if step.proj_clip is not None:
                    m.clamp_(-step.proj_clip, step.proj_clip)
                h[r, :k] = m
                c[r, :k] = c_new
            start += k
        hs[t] = h
    return ([s.transpose(1, 2) for s in hs.unbind(1)], [s.t() for s in h.unbind(0)],
            [s.t() for s in c.unbind(0)])


class GatheredRows:
    """Rows `index` of `table` (`[rows, features]`), gathered where a loop reads them
    (`_add_rows`), not all at once: the first layer's input gates, computed once per
    distinct input row (`distinct_affine`)."""

    def __init__(self, table, index):
        self.table, self.index = table, index

    def materialize(self):
        return self.table.index_select(0, self.index)


def _add_rows(z, gates, start, count):
    """`z += gates[start:start + count]` for a matrix or `GatheredRows`."""
    if isinstance(gates, GatheredRows):
        z.add_(gates.table.index_select(0, gates.index[start:start + count]))
    else:
        z.add_(gates[start:start + count])


def _cell(gates, c, cell_clip):
    """`lstmp_update`'s gate math in place in the pre-activations `gates` (`(i, j, f,
    o)`): the new cell state and the unprojected output."""
    i, j, f, o = gates
    c_new = f.add_(FORGET_BIAS).sigmoid_().mul_(c).addcmul_(i.sigmoid_(), j.tanh_())
    if cell_clip is not None:
        c_new.clamp_(-cell_clip, cell_clip)
    return c_new, o.sigmoid_().mul_(torch.tanh(c_new))


@functools.cache
def onednn_linear():
    """`(linear, reorder)`: PyTorch's oneDNN linear on a prepacked weight
    (`torch.ops.mkldnn._linear_pointwise`, `_reorder_linear_weight`), or None where this
    PyTorch lacks them or they do not match `torch.mm` on a small check."""
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        linear = torch.ops.mkldnn._linear_pointwise
        reorder = torch.ops.mkldnn._reorder_linear_weight
        g = torch.Generator().manual_seed(0)
        w, x = torch.randn(48, 40, generator=g), torch.randn(40, 21, generator=g)
        packed = reorder(w, 32)
        for n in (1, 5, 16, 21):
            y = linear(x[:, :n].t(), packed, None, "none", [], "")
            if not torch.allclose(y, (w @ x[:, :n]).t(), rtol=1e-5, atol=1e-5):
                return None
    except (AttributeError, RuntimeError):
        return None
    return linear, reorder


def _prepacked_route(x, *weights):
    """Whether inference on `x` with `weights` runs on packed kernels (`PackedKernel`):
    float32 on a CPU with oneDNN's, and no weight made under
    `torch.inference_mode` (such a tensor has no version counter for `PackedKernel` to
    see writes by)."""
    return (x.dtype == torch.float32 and x.device.type == "cpu"
            and onednn_linear() is not None
            and not any(w is not None and w.is_inference() for w in weights))


class PackedKernel:
    """`x @ weight.T` for a `weight` `[out, in]` on oneDNN's prepacked linear
    (`onednn_linear`), the weight reordered once into oneDNN's blocked layout. The copy
    is made at the first use, kept while the weight lives and made again when it
    changes (its `_version`, which PyTorch bumps on every in-place write, and its
    storage): one reorder of the original biLM's recurrent kernel took 10-17 ms, a
    tenth of a layer's loop, so it is not redone per call. Kept beside the weight, not
    on it (an attribute on a parameter would travel into a user's `torch.save`).
    (MKL's packed GEMM, `torch.ops.mkl._mkl_linear`, ran the `[32, 512] x [512, 16384]`
    step 1.04-1.23x faster, but takes exactly the rows it was packed for and its copy is
    1.5x the weight; with oneDNN's beside it for the narrower steps, the `Embedder` ran
    0.95-1.15x, median 1.00x, in one process alternating: not kept, docs/speed.md.)"""

    def __init__(self, weight):
        key = (weight._version, weight.data_ptr(), tuple(weight.shape), weight.dtype)
        kept = _PREPACKED.get(id(weight))
        if kept is None or kept[0]() is not weight or kept[1] != key:
            ref = weakref.ref(weight, lambda _, i=id(weight): _PREPACKED.pop(i, None))
            kept = _PREPACKED[id(weight)] = (ref, key,
                                             onednn_linear()[1](weight.detach(), 32))
        self.packed = kept[2]

    def __call__(self, x):
        return onednn_linear()[0](x, self.packed, None, "none", [], "")


#: `PackedKernel`'s copies: `id(weight)` -> `(weakref to the weight, its version key,
#: reordered)`; an entry goes when its weight does.
_PREPACKED = {}


def step_width(count, batch):
    """The columns an inference step with `count` real tokens (rows longest first) runs
    on: a multiple of 16, or the batch. PyTorch's CPU matmul `[16384, 512] x [512, k]`
    ran fastest at 16 and slower at most other `k` below 32 than at 32 (docs/speed.md)."""
    return min(batch, -(-count // 16) * 16)


def inference_rows():
    """`kernels.inference_rows`: longest first, the input gates for the real tokens only
    (`packed_recurrence`; each step then on `step_width` columns)."""
    return "packed"


def matmul_add(x, kernel, bias):
    """`x @ kernel + bias` (`x` 2-D) as one `torch.addmm`."""
    return torch.addmm(bias, x, kernel)


def gates_matmul(kernel, columns, bias):
    """`kernel @ columns + bias[:, None]` as one `torch.addmm`."""
    return torch.addmm(bias[:, None], kernel, columns)


def distinct_rows(rows):
    """`kernels.distinct_rows`: `torch.unique`, then each distinct row's first position."""
    unique, index = torch.unique(rows.detach(), dim=0, return_inverse=True)
    first = torch.full((len(unique),), len(rows), dtype=index.dtype, device=index.device)
    return first.scatter_reduce_(0, index, torch.arange(len(rows), device=index.device),
                                 "amin"), index


def distinct_affine(rows, unique, index, kernel, bias):
    """`kernels.distinct_affine`: without gradients `GatheredRows`, which the prepacked
    loop gathers step by step (gathering all `[778, 16384]` ahead took 5-15 ms a
    direction, in fresh memory) and `packed_recurrence` gathers at once for the other
    loops; with gradients `kernels`' own."""
    if not torch.is_grad_enabled():
        return GatheredRows(matmul_add(unique, kernel.t(), bias), index)
    return gathered_affine(rows, unique, index, kernel, bias)


def size_from_value(value):
    """`kernels.size_from_value`: an int (arrays are concrete here)."""
    return int(value)


def conv_max(x, kernel):
    """`kernels.conv_max`: `kernels.windows_max`'s one matmul over the windows, or,
    without gradients and where `kernels.conv_block` says so, the same matmul on a few
    positions at a time under a running max (the original model's width-7 filters on
    321 tokens: 12-14 against 26-27 ms on a 2-core Intel Xeon). `torch.conv1d` ran
    these shapes 2x slower than the one matmul."""
    kernel = keras.ops.convert_to_tensor(kernel)  # a Keras variable's value
    block = conv_block(x, kernel)
    if block is None or (torch.is_grad_enabled()
                         and (x.requires_grad or kernel.requires_grad)):
        return windows_max(x, kernel)
    width, dim, filters = kernel.shape
    positions = x.shape[1] - width + 1
    windows = char_windows(x, width, positions)
    matrix = kernel.reshape(width * dim, filters)
    best = None
    for start in range(0, positions, block):
        part = windows[:, start:start + block]
        y = torch.amax((part.reshape(-1, width * dim) @ matrix).reshape(
            x.shape[0], -1, filters), dim=1)
        best = y if best is None else torch.maximum(best, y, out=best)
    return best


def encode_distinct(rows, encode):
    """`kernels.encode_distinct`: `torch.unique` then a gather."""
    unique, index = torch.unique(rows, dim=0, return_inverse=True)
    return encode(unique)[index]


def assert_at_most(value, limit, message):
    """Checks `value <= limit` (shapes are concrete on this backend)."""
    if int(value) > limit:
        raise ValueError(message)


def compiled(fn, variables, state_variables, jit_compile=False, layers=(), shapes=None):
    """`fn` run eagerly without recording gradients (inference); `layers` and `shapes`
    unused."""

    def run(*args):
        with torch.no_grad():
            return fn(*args)

    return run


def eager_call(layer, call, inputs, distinct_call=None):
    """`call(inputs)`: this backend runs an eager call as it is (its char CNN finds
    the distinct tokens itself; `distinct_call` is not used)."""
    return call(inputs)


def assert_in_range(values, low, high, message):
    """Checks `values` lie in `[low, high]` (tensors are concrete on this backend)."""
    if values.numel() and (int(values.min()) < low or int(values.max()) > high):
        raise ValueError(message)
