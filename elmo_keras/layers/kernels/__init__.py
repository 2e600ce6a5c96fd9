"""Per-backend kernels behind one signature, as `keras/src/backend/<name>/rnn.py` does.

Each backend module (`tensorflow.py`, `jax.py`, `torch.py`) defines:

- `masked_recurrence(step, x_gates, keep, h0, c0, inference=False)`: the biLM's time
  loop (`elmo_keras.layers.bilm.BiLM`), feature-major: each recurrence's `x_gates` is
  one `[features, time * batch]` matrix (step `t` in columns `t * batch` to `(t + 1) *
  batch`: one matmul made it, and a step's block is sliced out where the loop reads it,
  not copied out for all steps ahead), its states `[features, batch]`, `keep`
  `[time, 1, batch]`; `inference` says no gradient will be taken (and the rows come
  longest first, `keep[t]` true on the first columns only, where `inference_rows`
  says `"sorted"`), and the backend may then run a form that is faster only so (JAX:
  each step on the fewest columns of a few widths that hold its real tokens, none for
  a padded step);
- `inference_rows()` (optional; default None): how the inference loop takes a batch's
  rows (`inference_rows` here);
- `input_in_loop()` (optional; default False): the inference loop takes each layer's
  inputs in place of `x_gates` and an `LSTMPSteps` with `biases`, whose step multiplies
  its own input (`input_in_loop` here; JAX);
- `joint_kernel(cell, dtype)` (optional): a cell's kept `[kernel | recurrent_kernel]`
  for such a step, or None (`joint_kernel` here: JAX's `compiled` functions pass them
  in);
- `row_gates(rows, index, kernel, bias)` (optional): for such a loop, the input gates
  of a layer whose step inputs are rows of a table, each row's gates multiplied once
  and looked up where the loop reads them (`row_gates` here: JAX);
- `packed_recurrence(step, x_gates, counts, h0, c0)` (where `inference_rows()` can be
  `"packed"`: TensorFlow, PyTorch): `masked_recurrence` for rows ordered
  longest first, computing real tokens only: step `t`'s real tokens are the
  first `counts[t]` columns of the states (`counts` int `[time]`, non-increasing), and
  each `x_gates` holds just their gates, batch-major, step after step (`[sum(counts),
  features]`: one matmul with the bias fused made them, and a step's rows are a
  contiguous block); `h_seq` is as `masked_recurrence` returns it
  (`BiLM.run_directions` in inference; PyTorch's loop without gradients then runs
  each step on its real rows on oneDNN's prepacked kernels, or on a multiple of 16
  columns on `torch.mm`, and under autograd on exactly the real ones);
- `distinct_rows(rows)` (where `inference_rows()` can be `"packed"`): the first
  position of each distinct row of a float matrix and each row's number among them
  (`distinct_rows` here), for the first layer's input gates in inference;
- `distinct_affine(rows, unique, index, kernel, bias)` (optional): those gates from
  the distinct rows (`distinct_affine` here), in a form the backend's
  `packed_recurrence` takes;
- `encode_distinct(rows, encode)`: `encode(rows)` for an int matrix `rows` `[N, C]`
  with `encode` run once per distinct row (exact; gradients flow), for the char CNN
  (`elmo_keras.layers.character_encoder.CharacterEncoder`): TensorFlow's and PyTorch's
  `unique`, NumPy's on concrete JAX arrays, and in traced JAX (static shapes) a sort
  with the rows past the distinct count skipped chunk by chunk;
- `assert_at_most(value, limit, message)`: a check of a possibly symbolic size;
- `assert_in_range(values, low, high, message)`: a check of possibly symbolic values
  (a graph assertion on TensorFlow, none on traced JAX), for character ids;
- `compiled(fn, variables, state_variables, jit_compile, layers, shapes=None)`: an
  inference function compiled the backend's way (`tf.function`, `jax.jit`, eager
  PyTorch), for `elmo_keras.Embedder` (JAX keeps the joint kernels of the cells in
  `layers`: `joint_kernel`; TensorFlow traces once for `shapes`, each argument's shape
  with None where it varies, where given);
- `eager_call(layer, call, inputs, distinct_call=None)`: `call(inputs)`, where the
  backend would run it op by op on concrete arrays (JAX, TensorFlow) through a compiled
  copy cached on `layer` (`ELMo`'s `__call__`), which runs `distinct_call(ids, rows,
  index)` on the distinct tokens found in NumPy where one is given and the backend
  takes it (JAX; `text.inputs.distinct_tokens`);
- `predict_call(layer, predict, x, *args, **kwargs)` (optional; default:
  `predict(x, *args, **kwargs)`): `Model.predict` on `x`, its shapes bucketed where the
  backend compiles per shape (JAX; an array's batches through `eager_call`'s compiled
  copy when nothing but `batch_size` and `verbose` is given), arrays fed as batches
  with tf.data's autotuning off on TensorFlow (`batched_dataset`) (`ELMo.predict`,
  through `predict_call` here);
- `matmul_add(x, kernel, bias)` (optional; default: `ops.matmul(x, kernel) + bias`):
  the affine map of a 2-D `x` (PyTorch: one `addmm`, no second pass over a fresh
  output; TensorFlow's graph optimizer fuses the add into the matmul), for the
  highway layers and the biLM's input gates in inference (`matmul_add` here);
- `gates_matmul(kernel, columns, bias)` (optional; default: `ops.matmul(kernel,
  columns) + bias[:, None]`): the same, feature-major, for the biLM's input gates
  outside the packed loop (`gates_matmul` here);
- `size_from_value(value)` (optional; default None): a scalar as a size tensors can
  be shaped by, or None where shapes must not depend on values (`size_from_value`
  here), for `conv_max`'s positions;
- `conv_max(x, kernel)` (optional; default: `windows_max`): the max over positions of
  a valid 1-D convolution, for the char CNN (`CharacterEncoder`) (TensorFlow: its
  convolution; JAX, PyTorch: `windows_max`, in blocks of positions where its product
  would be large: `conv_block`).

The layers call `kernels()` and do not know which backend runs.
"""

import importlib

import keras
from keras import ops

BACKENDS = ("tensorflow", "jax", "torch")

#: Where a backend compiles per shape (JAX, TensorFlow with XLA), time axes are padded to
#: a multiple of this: one compile per bucket of 4 lengths, not one per length (the
#: padded steps masked). 4, not 8: a compile of the original model took about 1 s, and
#: the padded steps' input matmuls about 8% of a batch at 8 (docs/speed.md). Used by
#: `kernels.jax` (an eager call, `predict`) and `elmo_keras.Embedder`.
STEP_BUCKET = 4


_LOADED = {}


def kernels():
    """The kernel module of the current Keras backend (`keras.backend.backend()`).

    Imported once, then looked up: layers call this inside traced functions, where
    TensorFlow's AutoGraph would try (and warn that it fails) to convert `importlib`."""
    name = keras.backend.backend()
    module = _LOADED.get(name)
    if module is None:
        if name not in BACKENDS:
            raise NotImplementedError(
                f"elmo_keras runs on the Keras backends {', '.join(BACKENDS)}; "
                f"KERAS_BACKEND is {name!r}")
        module = _LOADED[name] = importlib.import_module(f"{__name__}.{name}")
    return module


def predict_call(layer, predict, x, *args, **kwargs):
    """`predict(x, *args, **kwargs)` (the `Model.predict` of `layer`) the current
    backend's way: its `predict_call` where it has one (JAX buckets the steps of an
    array, one compile per bucket; TensorFlow feeds an array as `batched_dataset`),
    else as is."""
    own = getattr(kernels(), "predict_call", None)
    if own is None:
        return predict(x, *args, **kwargs)
    return own(layer, predict, x, *args, **kwargs)


def inference_rows():
    """How the current backend's inference loop takes the rows of a batch: `"packed"`
    (longest first, the real tokens' columns only: its `packed_recurrence`; TensorFlow
    outside XLA, PyTorch), `"sorted"` (longest first: its `masked_recurrence` with
    `inference` uses that; JAX) or None (as given)."""
    own = getattr(kernels(), "inference_rows", None)
    return None if own is None else own()


def input_in_loop():
    """True where the current backend's inference loop multiplies each step's input
    itself (its `masked_recurrence` then gets the layers' inputs, `[input_dim, time *
    batch]`, and an `LSTMPSteps` with `biases`: one joint product a step) rather than
    input gates computed for all steps ahead (JAX; default False)."""
    own = getattr(kernels(), "input_in_loop", None)
    return False if own is None else bool(own())


def joint_kernel(cell, dtype):
    """`[kernel | recurrent_kernel]` of an `LSTMPCell` in `dtype` (`[4 * units, input_dim
    + output_dim]`), for a loop that multiplies each step's input (`input_in_loop`):
    the backend's kept copy where it has one (JAX's `compiled` functions), else
    concatenated here."""
    own = getattr(kernels(), "joint_kernel", None)
    joint = None if own is None else own(cell, dtype)
    if joint is None:
        joint = ops.concatenate([ops.cast(cell.kernel, dtype),
                                 ops.cast(cell.recurrent_kernel, dtype)], axis=1)
    return joint


def row_gates(rows, index, kernel, bias):
    """The first biLM layer's input gates for a loop that multiplies each step's input
    (`input_in_loop`), when its step inputs are rows of a table: column `k` of
    `[input_dim, time * batch]` inputs is `rows[index[k]]` (`rows` `[U, input_dim]`,
    `index` int `[time * batch]`). The backend's `row_gates` where it has one (JAX:
    `rows @ kernel.T + bias` once, `[U, 4 * units]`, a step's columns looked up in its
    loop, which then multiplies `recurrent_kernel @ h` only), else None (the loop
    multiplies the inputs). Inference only: gradients would reach `rows`."""
    own = getattr(kernels(), "row_gates", None)
    return None if own is None else own(rows, index, kernel, bias)


def matmul_add(x, kernel, bias):
    """`x @ kernel + bias` for a 2-D `x`, the current backend's way: its `matmul_add`
    where it has one (PyTorch's `addmm`: the bias is the product's starting value, so
    the large output is not written twice), else `ops.matmul` and an add."""
    own = getattr(kernels(), "matmul_add", None)
    if own is None:
        return ops.matmul(x, kernel) + bias
    return own(x, kernel, bias)


def distinct_rows(rows):
    """`(first, index)` for a 2-D `rows` `[N, D]`: `first` `[U]` the position of each
    distinct row's first occurrence, `index` `[N]` each row's number among them (so
    `take(rows, first)[index]` is `rows`), the current backend's way (`UniqueV2` on
    TensorFlow, `torch.unique` on PyTorch: the backends whose `inference_rows` is
    `"packed"`). The values are taken from `rows` by the caller, so gradients flow."""
    return kernels().distinct_rows(rows)


def distinct_affine(rows, unique, index, kernel, bias):
    """`rows @ kernel.T + bias` for `packed_recurrence`, computed as `unique @ kernel.T +
    bias` gathered by `index` (`take(unique, index)` equals `rows`), the current
    backend's way: its `distinct_affine` where it has one (PyTorch without gradients:
    the rows gathered where its loop reads them), else gathered here. The gradient is
    the affine map's own, position by position, as if every row had been multiplied: a
    row's gradient is not moved to an equal row elsewhere (whose value the forward pass
    used)."""
    own = getattr(kernels(), "distinct_affine", None)
    if own is not None:
        return own(rows, unique, index, kernel, bias)
    return gathered_affine(rows, unique, index, kernel, bias)


def gathered_affine(rows, unique, index, kernel, bias):
    """`distinct_affine` in `keras.ops`: the gates of the distinct rows gathered for
    every position, the gradient by `ops.custom_gradient`."""

    @ops.custom_gradient
    def affine(rows, kernel, bias):
        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return (ops.matmul(upstream, kernel),
                    ops.matmul(ops.transpose(upstream), rows),
                    ops.sum(upstream, axis=0))

        return ops.take(matmul_add(unique, ops.transpose(kernel), bias), index, axis=0), grad

    return affine(rows, kernel, bias)


def packed_loop(step, x_gates, counts, h0, c0):
    """`packed_recurrence`'s contract as a Python loop over `counts` known as Python
    ints, in `keras.ops`: each step on its real columns, the others' states carried (a
    step with none is skipped). TensorFlow's eager calls and PyTorch under autograd."""
    h, c = list(h0), list(c0)
    hs = [[] for _ in x_gates]
    for r, gates in enumerate(x_gates):
        start = 0
        for k in counts:
            if k:
                h_k, c_k = step(r, ops.transpose(gates[start:start + k]), h[r][:, :k],
                                c[r][:, :k])
                h[r] = ops.concatenate([h_k, h[r][:, k:]], axis=1)
                c[r] = ops.concatenate([c_k, c[r][:, k:]], axis=1)
                start += k
            hs[r].append(h[r])
    h_seq = [ops.stack(s) if s else h0[r][None][:0] for r, s in enumerate(hs)]
    return h_seq, h, c


def time_major(gates, steps):
    """A `masked_recurrence` input, `[features, time * batch]`, as `[time, features,
    batch]`: every step's block copied out ahead, for the loops that take their steps
    from a leading axis (JAX's `lax.scan`; TensorFlow's TensorArray with gradients)."""
    return ops.transpose(ops.reshape(gates, (gates.shape[0], steps, -1)), (1, 0, 2))


def gates_matmul(kernel, columns, bias):
    """`kernel @ columns + bias[:, None]` (`[out, in] @ [in, n]`): the biLM's input gates
    for every step at once, feature-major, the current backend's way: its
    `gates_matmul` where it has one (PyTorch's `addmm`), else `ops.matmul` and an add."""
    own = getattr(kernels(), "gates_matmul", None)
    if own is None:
        return ops.matmul(kernel, columns) + bias[:, None]
    return own(kernel, columns, bias)


def conv_max(x, kernel, tail=None):
    """`[N, n]`: the max over positions of the valid 1-D convolution of `x` `[N, L, D]`
    with `kernel` `[w, D, n]` (no bias), the current backend's way: its `conv_max`
    where it has one (TensorFlow's convolution, JAX's and PyTorch's blocks), else
    `windows_max`; on the positions `x` needs (`needed_positions`) where its sizes
    may come from its values. `tail`: `varying_positions(x)` where the caller has it
    (the char CNN's filters all run on one `x`: it is found once, not per filter)."""
    width = kernel.shape[0]
    needed = size_from_value(needed_positions(x, width, tail))
    if needed is not None:
        x = x[:, :needed]
    own = getattr(kernels(), "conv_max", None)
    if own is None:
        return windows_max(x, kernel)
    return own(x, kernel)


def needed_positions(x, width, tail=None):
    """The leading positions of `x` `[N, L, D]` whose windows of `width` give the max
    over all of them (`conv_max`): after the last position where some row's vector
    differs from that row's last vector (`tail`), every window holds one repeated
    vector, the same window at every start, so the first such window stands for the
    others: `min(L, tail + width)`. ELMo's tokens are characters padded to 50 with one
    padding character: the 297 distinct tokens of `benchmarks/inference.py`'s batch
    end by position 13, and the widest filter's windows go from 44 to 15
    (TensorFlow's seven convolutions 28.6 against 11.8 ms; docs/speed.md). The max is
    the same: the windows left out equal one kept. `tail`: `varying_positions(x)`,
    if already found."""
    if tail is None:
        tail = varying_positions(x)
    return ops.minimum(tail + width, ops.shape(x)[1])


def varying_positions(x):
    """`tail` of `needed_positions`: 1 + the last position of `x` `[N, L, D]` where some
    row's vector differs from that row's last vector (0 if none), an int32 scalar."""
    steps = ops.shape(x)[1]
    differs = ops.any(ops.not_equal(x, x[:, -1:]), axis=(0, 2))  # [L]
    return ops.max(ops.where(differs, ops.arange(1, steps + 1, dtype="int32"), 0))


def size_from_value(value):
    """`value` (a scalar) as a size the current backend can shape a tensor by: its
    `size_from_value` (a Python int where arrays are concrete, TensorFlow's graph
    tensor outside XLA), or None where shapes must not depend on values (XLA, traced
    JAX; the default)."""
    own = getattr(kernels(), "size_from_value", None)
    return None if own is None else own(value)


#: A char-CNN convolution whose outputs (all positions of all rows) would take more
#: bytes than this runs in blocks of positions (`conv_block`).
CONV_BLOCKING_BYTES = 32 << 20
#: The outputs of one such block: about this many bytes.
CONV_BLOCK_BYTES = 3 << 20


def conv_block(x, kernel):
    """Positions per block for `conv_max` on `x` `[N, L, D]` and `kernel` `[w, D, n]`,
    or None for one matmul over all windows (`windows_max`). The original model's
    width-7 filters on the 321 distinct tokens of an `Embedder` batch write 58 MB in
    one matmul; in blocks of 3 positions (4 MB) under a running max JAX ran them 1.4-2x
    faster and PyTorch 1.9x on a 2-core Intel Xeon (docs/speed.md). The backends
    whose `conv_max` loops over blocks (JAX, PyTorch) ask this."""
    width, _, filters = kernel.shape
    position_bytes = x.shape[0] * filters * x.dtype.itemsize
    positions = x.shape[1] - width + 1
    block = max(1, CONV_BLOCK_BYTES // max(1, position_bytes))
    if positions * position_bytes <= CONV_BLOCKING_BYTES or block >= positions:
        return None
    return block


def char_windows(x, width, positions):
    """`[N, positions, width * D]`: the `width` characters of `x` `[N, L, D]` from each
    of the first `positions` positions, side by side (`x` holds at least `positions +
    width - 1` characters): what `windows_max` and the backends' blocks multiply."""
    return ops.concatenate([x[:, i:i + positions] for i in range(width)], axis=-1)


def windows_max(x, kernel):
    """`conv_max` as one matmul: each position's window of `w` characters side by side
    (`[N * (L - w + 1), w * D]`) times the kernel as a `[w * D, n]` matrix. On JAX and
    PyTorch this measured faster than their convolutions on the char CNN's shapes
    (docs/speed.md); TensorFlow's convolution is faster there."""
    width, dim, n = kernel.shape
    positions = ops.shape(x)[1] - width + 1
    windows = char_windows(x, width, positions)
    y = ops.matmul(ops.reshape(windows, (-1, width * dim)),
                   ops.reshape(kernel, (width * dim, n)))
    return ops.max(ops.reshape(y, (-1, positions, n)), axis=1)
