"""JAX kernels: a `lax.scan` recurrence (jit-compatible, differentiable) and distinct
rows outside traced code (see `kernels`)."""

import functools
import threading
import weakref

import jax
import jax.numpy as jnp
import keras
import numpy as np

from elmo_keras.layers.kernels import (STEP_BUCKET, char_windows, conv_block, time_major,
                                       windows_max)
from elmo_keras.layers.lstm_projection import LSTMPCell, LSTMPSteps
from elmo_keras.text.inputs import distinct_tokens


def masked_recurrence(step, x_gates, keep, h0, c0, inference=False):
    """`tensorflow.masked_recurrence`'s contract as one `lax.scan` over time.

    The scan is reverse-mode differentiable, which `lax.while_loop` is not. When traced
    (`jax.jit`, `predict`, gradients) it becomes part of the caller's program. On
    concrete arrays (an eager `model(ids)`), an `LSTMPSteps` step goes into one
    jit-compiled scan, compiled once per shape and clip values and reused from call to
    call (callers that see many lengths bucket them: `elmo_keras.Embedder` pads steps
    to a multiple of 4). With `inference` (no gradients, rows longest first), the
    recurrences run one after the other, each step on the fewest of `step_widths`
    columns that hold its real tokens, and steps no row keeps (such padding) are
    skipped (`lax.switch`). Any other step (a closure cannot be a cache key) loops in
    Python, its per-step ops compiled once per shape.
    """
    inference = bool(inference)
    if isinstance(x_gates[0], jax.core.Tracer):
        return _scan(step, x_gates, keep, h0, c0, inference)
    if isinstance(step, LSTMPSteps):
        return _compiled_scan(step, list(x_gates), keep, list(h0), list(c0), inference)
    return _eager_recurrence(step, x_gates, keep, h0, c0)


def _scan(step, x_gates, keep, h0, c0, inference):
    n = len(x_gates)
    if not inference:
        return _scan_together(step, range(n), x_gates, keep, h0, c0, False)
    # One recurrence after the other. Side by side in one loop, XLA's CPU runtime ran the
    # two directions' step matmuls at once, each on one thread, and each took 2.5-3x as
    # long (an Intel Xeon: 7.4 against 2.4-3.3 ms for `[16384, 512] x [512, 32]`); two
    # loops with no data between them could also run at once, hence the barrier.
    h_seq, h_last, c_last = [], [], []
    for r in range(n):
        h_r = h0[r]
        if h_last:
            h_r, _ = jax.lax.optimization_barrier((h_r, h_last[-1]))
        outputs = _scan_together(step, [r], [x_gates[r]], keep, [h_r], [c0[r]], True)
        for done, new in zip((h_seq, h_last, c_last), outputs):
            done.extend(new)
    return h_seq, h_last, c_last


def _scan_together(step, recurrences, x_gates, keep, h0, c0, inference):
    """The recurrences numbered `recurrences` (`step`'s first argument) side by side in
    one `lax.scan`; `x_gates`, `h0`, `c0` are theirs, in that order."""
    recurrences = list(recurrences)
    steps, batch = keep.shape[0], keep.shape[-1]

    def advance(width, h, c, gates, k):
        """The step on the first `width` columns (all when `width` is the batch)."""
        if width == 0:
            return h, c
        new_h, new_c = [], []
        for i, r in enumerate(recurrences):
            h_r, c_r = step(r, gates[i][:, :width], h[i][:, :width], c[i][:, :width])
            h_r = jnp.where(k[:, :width], h_r, h[i][:, :width])
            c_r = jnp.where(k[:, :width], c_r, c[i][:, :width])
            if width < batch:
                h_r = jnp.concatenate([h_r, h[i][:, width:]], axis=1)
                c_r = jnp.concatenate([c_r, c[i][:, width:]], axis=1)
            new_h.append(h_r)
            new_c.append(c_r)
        return new_h, new_c

    widths = step_widths(batch)

    def body(carry, xs):
        step_input, k = xs
        if inference:
            # Each step's block sliced here (`step_input` is the step's number): copying
            # every step's block out ahead (`time_major`) took a third of the loop's time
            # on an Intel Xeon. (With gradients a slice's cotangent would be a whole
            # zero matrix a step.)
            gates = [g.columns(step_input * batch, batch) if isinstance(g, RowGates)
                     else jax.lax.dynamic_slice_in_dim(g, step_input * batch, batch, axis=1)
                     for g in x_gates]
            # Rows come longest first: the step runs on the fewest columns of `widths`
            # that hold its real tokens (`lax.switch` runs one branch); a step no row
            # keeps (the padding of a bucketed length) is skipped.
            branch = jnp.sum(jnp.asarray(widths) < jnp.sum(k))
            h, c = jax.lax.switch(branch, [functools.partial(advance, w) for w in widths],
                                  *carry, gates, k)
        else:  # a cond made a training step 19% slower (docs/speed.md)
            h, c = advance(batch, *carry, step_input, k)
        return (h, c), h

    xs = jnp.arange(steps) if inference else [time_major(g, steps) for g in x_gates]
    (h, c), hs = jax.lax.scan(body, (list(h0), list(c0)), (xs, keep))
    return list(hs), h, c


class RowGates:
    """Input gates kept once per row of a table (`row_gates`): column `k` of the
    `[4 * units, time * batch]` gates is row `index[k]` of `table` `[U, 4 * units]`.
    The inference scan looks a step's columns up where it reads them (`columns`). A
    pytree: it passes into the compiled scan as data."""

    def __init__(self, table, index):
        self.table, self.index = table, index

    def columns(self, start, size):
        """Columns `start` to `start + size`: `[4 * units, size]`."""
        rows = jax.lax.dynamic_slice_in_dim(self.index, start, size)
        return jnp.take(self.table, rows, axis=0).T


jax.tree_util.register_pytree_node(
    RowGates, lambda g: ((g.table, g.index), None), lambda _, leaves: RowGates(*leaves))


def row_gates(rows, index, kernel, bias):
    """`kernels.row_gates`: `rows @ kernel.T + bias` once (`[U, 4 * units]`: the
    `Embedder`'s batch has about 300 distinct tokens among 778 positions), looked up
    step by step (`RowGates`). The loop's step then multiplies `[16384, 512]`, not the
    joint `[16384, 1024]`: on a 2-core Intel Xeon 2.6 against 4.1 ms a full step, the
    two tables about 50 ms; the first layer alone 1.07x faster, the `Embedder` 1.03x
    (docs/speed.md)."""
    return RowGates(jnp.matmul(rows, kernel.T) + bias, jnp.asarray(index, "int32"))


def inference_rows():
    """`kernels.inference_rows`: longest first, for `step_widths`."""
    return "sorted"


def input_in_loop():
    """`kernels.input_in_loop`: yes. XLA's CPU matmul ran the `[16384, 512] x [512,
    864]` input gates ahead at 180-250 GFLOP/s on a 2-core Intel Xeon, and one step's
    `[16384, 1024] x [1024, 32]` joint product at about 330; a layer's loop with the
    inputs multiplied in it took 221-250 ms against 320-334 ms (docs/speed.md)."""
    return True


def step_widths(batch):
    """The column counts an inference step of a `batch`-column recurrence runs on: 0 (a
    padded step), half the batch from 16 rows on, the batch. (Quarters too ran a batch of
    mixed lengths of the original biLM 1.10-1.16x faster than all columns, halves
    1.08-1.13x; each width compiles the step once more: +1.3 s against +0.6 s a shape.
    Below 16 rows a narrower product saves little and the compile time stays.)"""
    return [0, batch] if batch < 16 else [0, -(-batch // 2), batch]


_compiled_scan = jax.jit(_scan, static_argnums=5)


# The kernels are the step's data (traced arguments), its clip values part of the
# compiled program (static).
jax.tree_util.register_pytree_node(
    LSTMPSteps,
    lambda s: ((s.recurrent_kernels, s.projection_kernels, s.biases),
               (s.cell_clip, s.proj_clip)),
    lambda clips, leaves: LSTMPSteps(*leaves[:2], *clips, biases=leaves[2]))


def _eager_recurrence(step, x_gates, keep, h0, c0):
    h, c = list(h0), list(c0)
    steps = keep.shape[0]
    x_gates = [time_major(g, steps) for g in x_gates]
    hs = [[] for _ in x_gates]
    for t in range(steps):
        for r, gates in enumerate(x_gates):
            h_r, c_r = step(r, gates[t], h[r], c[r])
            h[r] = jnp.where(keep[t], h_r, h[r])
            c[r] = jnp.where(keep[t], c_r, c[r])
            hs[r].append(h[r])
    h_seq = [jnp.stack(s) if s else jnp.zeros((0,) + h0[r].shape, h0[r].dtype)
             for r, s in enumerate(hs)]
    return h_seq, h, c


def size_from_value(value):
    """`kernels.size_from_value`: an int on concrete arrays, None when traced."""
    return None if isinstance(value, jax.core.Tracer) else int(value)


def conv_max(x, kernel):
    """`kernels.conv_max`: `kernels.windows_max`'s one matmul over the windows, or,
    where `kernels.conv_block` says so, the same matmul on a few positions at a time
    under a running max (`lax.fori_loop`; unrolled, XLA ran the blocks no faster than
    one matmul). Only the values come from the blocks: under differentiation the one
    matmul runs (its gradient, ties at a max included)."""
    block = conv_block(x, kernel)
    if block is None:
        return windows_max(x, kernel)
    # A Keras variable's value: `custom_vjp` takes arrays only.
    return _blocked_conv_max(x, keras.ops.convert_to_tensor(kernel), block)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _blocked_conv_max(x, kernel, block):
    width, dim, filters = kernel.shape
    rows, length = x.shape[0], x.shape[1]
    positions = length - width + 1
    blocks = -(-positions // block)
    # Positions past the last valid one (the last block's) read zero rows, then -inf.
    x = jnp.pad(x, ((0, 0), (0, blocks * block + width - 1 - length), (0, 0)))
    windows = char_windows(x, width, blocks * block)
    matrix = kernel.reshape(width * dim, filters)

    def body(b, best):
        y = jax.lax.dynamic_slice_in_dim(windows, b * block, block, axis=1)
        y = (y.reshape(rows * block, width * dim) @ matrix).reshape(rows, block, filters)
        valid = (b * block + jnp.arange(block) < positions)[None, :, None]
        return jnp.maximum(best, jnp.max(jnp.where(valid, y, -jnp.inf), axis=1))

    return jax.lax.fori_loop(0, blocks, body,
                             jnp.full((rows, filters), -jnp.inf, matrix.dtype))


def _blocked_conv_max_forward(x, kernel, block):
    return jax.vjp(windows_max, x, kernel)


_blocked_conv_max.defvjp(_blocked_conv_max_forward, lambda block, vjp, g: vjp(g))


#: Rows per char-CNN call in a traced `encode_distinct`: the distinct rows are encoded
#: this many at a time, and the chunks past the distinct count are skipped.
DISTINCT_CHUNK = 128


def encode_distinct(rows, encode):
    """`kernels.encode_distinct`. Concrete `rows` `[N, C]` (an eager call): NumPy's
    unique, the distinct rows padded with zero rows to a few sizes per power of two
    (each op then compiles for a few shapes, not one per count). Traced rows (`jax.jit`,
    `predict`, `fit`): the number of distinct rows is data, not a shape, so the rows
    are sorted (every column a key: exact for any ids), each run of equal rows given
    one slot, and the slots encoded `DISTINCT_CHUNK` at a time in a `lax.map`, a
    `lax.cond` skipping the chunks past the distinct count."""
    if not isinstance(rows, jax.core.Tracer):
        # NumPy: jnp.unique on concrete arrays compiles a kernel for every input shape.
        unique, index = np.unique(np.asarray(rows), axis=0, return_inverse=True)
        n = len(unique)
        step = max(8, 2 ** (n.bit_length() - 3))
        unique = np.pad(unique, ((0, -n % step), (0, 0)))
        return jnp.take(encode(jnp.asarray(unique)),
                        jnp.asarray(np.reshape(index, (-1,)), dtype="int32"), axis=0)
    n, width = rows.shape
    if n <= DISTINCT_CHUNK:
        return encode(rows)
    columns = jax.lax.sort([rows[:, k] for k in range(width)]
                           + [jax.lax.iota(jnp.int32, n)], num_keys=width)
    ordered, order = jnp.stack(columns[:width], axis=1), columns[width]
    starts = jnp.concatenate([jnp.ones((1,), bool),
                              jnp.any(ordered[1:] != ordered[:-1], axis=1)])
    slot = jnp.cumsum(starts.astype("int32")) - 1  # of each sorted row
    count = slot[-1] + 1
    chunks = -(-n // DISTINCT_CHUNK)
    distinct = jnp.zeros((chunks * DISTINCT_CHUNK, width), rows.dtype).at[slot].set(ordered)
    index = jnp.zeros((n,), "int32").at[order].set(slot)
    out = jax.eval_shape(encode, jax.ShapeDtypeStruct((DISTINCT_CHUNK, width), rows.dtype))

    def chunk(args):
        k, ids = args
        return jax.lax.cond(k * DISTINCT_CHUNK < count, encode,
                            lambda ids: jnp.zeros(out.shape, out.dtype), ids)

    vectors = jax.lax.map(chunk, (jnp.arange(chunks),
                                  distinct.reshape(chunks, DISTINCT_CHUNK, width)))
    return jnp.take(vectors.reshape((-1,) + out.shape[1:]), index, axis=0)


def assert_at_most(value, limit, message):
    """Checks `value <= limit` (shapes are concrete on this backend)."""
    if int(value) > limit:
        raise ValueError(message)


def compiled(fn, variables, state_variables, jit_compile=True, layers=(), shapes=None):
    """`fn` under `jax.jit`, its Keras variables passed in as arguments (not compiled
    in as constants) and `state_variables`' new values assigned after each call.

    The joint kernels of the `LSTMPCell`s in `layers` (`joint_kernel`) are passed in
    too, made once and again only when their weights change, not concatenated in
    every call.

    Args:
        fn: a function of arrays that reads Keras variables (calls layers).
        variables: every Keras variable `fn` reads.
        state_variables: the variables it assigns (a stateful BiLM's states).
        jit_compile: ignored (always compiled).
        layers: layers whose cells' joint kernels to keep.
        shapes: ignored (compiled per shape; callers bucket the shapes).
    """
    variables = list(variables) + [v for v in state_variables
                                   if not any(v is w for w in variables)]
    cells = [cell for layer in layers  # Keras' walk over a layer and its sublayers
             for cell in getattr(layer, "_flatten_layers", lambda: [layer])()
             if isinstance(cell, LSTMPCell)]

    def pure(values, joints, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope, \
                _JointKernels({id(cell): j for cell, j in zip(cells, joints)}):
            out = fn(*args)
            return out, [scope.get_current_value(v) for v in state_variables]

    step = jax.jit(pure)

    def run(*args):
        out, states = step([v.value for v in variables],
                           [_kept_joint(cell) for cell in cells], *args)
        for v, value in zip(state_variables, states):
            v.assign(value)
        return out

    return run


def joint_kernel(cell, dtype):
    """`kernels.joint_kernel`: inside a `compiled` function, the cell's joint kernel
    passed in, else None (the caller concatenates). Concatenated in every call, the
    four `[16384, 1024]` joint kernels of the original biLM cost the `Embedder` about 70
    ms a batch (writing 256 MB): with them passed in, its biLM ran 1.06-1.28x faster on a
    2-core Intel Xeon (docs/speed.md)."""
    joint = (getattr(_PROVIDED, "joints", None) or {}).get(id(cell))
    return joint if joint is not None and joint.dtype == dtype else None


_PROVIDED = threading.local()  # the joint kernels of the `compiled` call being traced
#: `id(cell)` -> `(weak references to the kernel's and recurrent kernel's values,
#: dtype, joint kernel)`: one kept joint kernel per cell (shared by its `compiled`
#: functions), made again when either weight's value is another array (JAX arrays are
#: immutable: an assignment is a new array) or the compute dtype changes.
_JOINTS = {}


def _kept_joint(cell):
    kernel, recurrent = cell.kernel.value, cell.recurrent_kernel.value
    dtype = cell.compute_dtype
    kept = _JOINTS.get(id(cell))
    if (kept is None or kept[0]() is not kernel or kept[1]() is not recurrent
            or kept[2] != dtype):
        if kept is None:  # the entry goes with the cell
            weakref.finalize(cell, _JOINTS.pop, id(cell), None)
        joint = jnp.concatenate([kernel.astype(dtype), recurrent.astype(dtype)], axis=1)
        kept = _JOINTS[id(cell)] = (weakref.ref(kernel), weakref.ref(recurrent), dtype,
                                    joint)
    return kept[3]


class _JointKernels:
    """Makes `joint_kernel` find these joint kernels while a `compiled` function is
    traced."""

    def __init__(self, joints):
        self.joints = joints

    def __enter__(self):
        self.saved = getattr(_PROVIDED, "joints", None)
        _PROVIDED.joints = self.joints

    def __exit__(self, *exc):
        _PROVIDED.joints = self.saved


# An eager call or `predict` pads its ids' steps to a multiple of `STEP_BUCKET`
# (padded steps are masked: the outputs at the real steps are those of the unpadded
# ids, a stateful model's states carried over them).


def _bucketed(layer, run, ids):
    """`run(ids)` on `ids` `[batch, time, ...]` padded with zeros to a multiple of
    `STEP_BUCKET` steps, its outputs cut back to `time` along the axes that
    `layer.output` (a functional model's symbolic outputs) leaves unsized after the
    batch; as is when the layer has no symbolic outputs or the ids no time axis."""
    try:
        spec = layer.output
    except (AttributeError, ValueError):
        return run(ids)
    if np.ndim(ids) < 2 or not -ids.shape[1] % STEP_BUCKET:
        return run(ids)
    steps = ids.shape[1]
    pad = [(0, 0)] * np.ndim(ids)
    pad[1] = (0, -steps % STEP_BUCKET)
    outputs = keras.tree.flatten(run(np.pad(np.asarray(ids), pad)))
    axes = tuple(tuple(k for k, d in enumerate(s.shape) if k and d is None)
                 for s in keras.tree.flatten(spec))
    if all(isinstance(v, np.ndarray) for v in outputs):  # `predict`'s
        outputs = _cut(outputs, axes, steps)
    else:  # one small program per length, not one per output and length
        outputs = _compiled_cut(outputs, axes, steps)
    return keras.tree.pack_sequence_as(spec, outputs)


def _cut(values, axes, steps):
    """`values[k]` cut to `steps` along each of the axes `axes[k]`."""
    return [v[tuple(slice(None, steps) if k in ax else slice(None) for k in range(v.ndim))]
            for v, ax in zip(values, axes)]


_compiled_cut = jax.jit(_cut, static_argnums=(1, 2))


def eager_call(layer, call, inputs, distinct_call=None):
    """`call(inputs)`, on concrete arrays through one `compiled` copy cached on `layer`.

    Eager JAX compiles every op for every new shape it meets (seconds for one ELMo
    call); the compiled copy compiles the whole call once per input shape, the steps
    bucketed (`STEP_BUCKET`). With `distinct_call` (`ELMo`), the copy runs
    `distinct_call(ids, rows, index)` on the ids' distinct tokens found in NumPy
    (`elmo_keras.text.inputs.distinct_tokens`), the same outputs as `call`: traced, the
    char CNN could only sort the tokens and run on chunks of 128 rows, and the biLM's
    first layer could not multiply each distinct token once (`row_gates`); `predict`
    on the original model ran about 1.09x faster. The rows are padded to few sizes
    (`_with_distinct_tokens`): a batch with more distinct tokens than any before of its
    shape compiles the call once more. Symbolic or traced inputs (a functional model
    being built, `jax.jit`, `jax.grad`) call as is. The layer's non-trainable variables
    (a stateful BiLM's states among them) are assigned their new values after each
    call.
    """
    if not isinstance(inputs, (np.ndarray, jax.Array)) or isinstance(inputs, jax.core.Tracer):
        return call(inputs)
    run = layer.__dict__.get("_elmo_keras_eager_call")
    if run is None:
        run = compiled(call if distinct_call is None else distinct_call, layer.variables,
                       layer.non_trainable_variables, layers=[layer])
        if distinct_call is not None:
            run = functools.partial(_with_distinct_tokens, run, {})
        layer.__dict__["_elmo_keras_eager_call"] = run
    return _bucketed(layer, run, inputs)


def _with_distinct_tokens(run, rows_by_shape, ids):
    """`run(ids, rows, index)` on `distinct_tokens(ids)`, the rows padded to the most
    any call of this ids shape has had: one more compile only when a batch has more
    distinct tokens (to 8, 16, 32, 64 rows, then multiples of 64) than any batch of its
    shape before."""
    rows, index = distinct_tokens(ids)
    shape = np.shape(ids)[:2]
    most = rows_by_shape[shape] = max(rows_by_shape.get(shape, 0), len(rows))
    return run(ids, np.pad(rows, ((0, most - len(rows)), (0, 0))), index)


def predict_call(layer, predict, x, *args, **kwargs):
    """`predict(x, ...)` for `layer` (an `ELMo`). An array with no argument but
    `batch_size` and `verbose` runs batch by batch through the layer's eager call
    (`eager_call`: its compiled copy takes the joint kernels kept from call to call,
    which Keras' own program concatenates in every batch; the original model's
    `predict` ran 1.12x faster so), with Keras' progress bar; the outputs are the same
    (training off, a stateful model's states carried from batch to batch, NumPy
    arrays). Other arrays go to `predict` with their steps bucketed as `eager_call`
    buckets them (`Model.predict` compiles its step once per input shape); datasets
    and generators as they are."""
    if not isinstance(x, (np.ndarray, jax.Array)):
        return predict(x, *args, **kwargs)
    if args or set(kwargs) - {"batch_size", "verbose"} or not len(x):
        return _bucketed(layer, lambda ids: predict(ids, *args, **kwargs), x)
    batch_size = kwargs.get("batch_size") or 32
    verbose = kwargs.get("verbose", "auto")
    starts = range(0, len(x), batch_size)
    bar = keras.utils.Progbar(len(starts)) if verbose in ("auto", 1, True) else None
    outputs = []
    for k, start in enumerate(starts):
        outputs.append(keras.tree.map_structure(
            np.asarray, layer(x[start:start + batch_size])))
        if bar is not None:
            bar.update(k + 1)
    return keras.tree.map_structure(lambda *parts: np.concatenate(parts), *outputs)


def assert_in_range(values, low, high, message):
    """Checks concrete `values` lie in `[low, high]`; a traced value (`jax.jit`)
    cannot raise, so it is not checked."""
    if isinstance(values, jax.core.Tracer):
        return
    values = np.asarray(values)
    if values.size and (values.min() < low or values.max() > high):
        raise ValueError(message)
