"""TensorFlow kernels: a `tf.while_loop` recurrence and `UniqueV2` (see `kernels`), and
`batched_dataset`, the batches `ELMo.predict` feeds Keras on this backend."""

import numpy as np
import tensorflow as tf

from elmo_keras.layers.kernels import packed_loop, time_major

try:  # XLA cannot compile UniqueV2 (its output shape depends on the values).
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
except ImportError:  # pragma: no cover - a TensorFlow without it: assume no XLA.
    def GraphOrParentsInXlaContext(graph):  # noqa: N802
        return False


def masked_recurrence(step, x_gates, keep, h0, c0, inference=False):
    """Runs `step` over time for each recurrence, freezing states where `keep` is false.

    `keras.ops.scan` on TensorFlow needs a static sequence length and keeps its carry in
    TensorArrays; this loop takes any length. It runs several independent recurrences
    (the two directions of a biLM layer, each with its own plain matmuls) in one loop.

    Args:
        step: `(k, gates_t, h, c) -> (h', c')` for recurrence `k`, feature-major.
        x_gates: list of per-recurrence `[features, time * batch]` inputs: step `t` is
            columns `t * batch` to `(t + 1) * batch`. With `inference` the loop slices
            each step's block (copying every step's block out ahead, into a `[time,
            features, batch]` TensorArray, made the original biLM 6% slower here);
            with gradients it reads them from such a TensorArray (the gradient of a
            slice is a zero matrix of the whole size at every step).
        keep: bool `[time, 1, batch]`: false at padded steps, where the state is carried
            unchanged.
        h0, c0: lists of per-recurrence initial states `[features, batch]`.

    Returns:
        `(h_seq, h_last, c_last)`, lists over the recurrences: `h_seq` `[time, features,
        batch]` is the state after each step (the carried state at padded steps).
    """
    n = len(x_gates)
    steps = tf.shape(keep)[0]
    batch = tf.shape(h0[0])[-1]
    ks = tf.TensorArray(keep.dtype, size=steps, infer_shape=False).unstack(keep)
    hs = [tf.TensorArray(h.dtype, size=steps, element_shape=h.shape) for h in h0]
    if inference:
        def gates_at(r, t):
            gates = columns(x_gates[r], t * batch, batch)
            gates.set_shape((x_gates[r].shape[0], h0[r].shape[-1]))  # the slice lost it
            return gates
    else:  # the gradient of a slice is a whole zero matrix a step; a TensorArray's is not
        xs = [tf.TensorArray(x.dtype, size=steps, infer_shape=False).unstack(
            time_major(x, steps)) for x in x_gates]

        def gates_at(r, t):
            return xs[r].read(t)

    def body(t, h, c, hs):
        k = ks.read(t)
        new_h, new_c, new_hs = [], [], []
        for r in range(n):
            h_r, c_r = step(r, gates_at(r, t), h[r], c[r])
            new_h.append(tf.where(k, h_r, h[r]))
            new_c.append(tf.where(k, c_r, c[r]))
            new_hs.append(hs[r].write(t, new_h[r]))
        return t + 1, new_h, new_c, new_hs

    _, h, c, hs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), list(h0), list(c0)) + (hs,),
        maximum_iterations=steps)
    return [a.stack() for a in hs], h, c


def packed_recurrence(step, x_gates, counts, h0, c0):
    """`kernels.packed_recurrence`: each step computes its `counts[t]` real columns
    (rows longest first) and carries the others' states unchanged, as
    `masked_recurrence` with `keep` does. A step's gates are a block of rows of the
    batch-major `x_gates` (a slice of leading rows shares their memory), transposed
    into the feature-major step. Eagerly, a Python loop over the known counts (a
    tensor-bounded slice costs about 0.5 ms eagerly)."""
    if tf.executing_eagerly():
        return packed_loop(step, x_gates, [int(k) for k in np.asarray(counts)], h0, c0)
    n = len(x_gates)
    steps = tf.shape(counts)[0]
    counts = tf.cast(counts, tf.int32)
    offsets = tf.concat([[0], tf.cumsum(counts)], 0)
    hs = [tf.TensorArray(h.dtype, size=steps, element_shape=h.shape) for h in h0]

    def body(t, h, c, hs):
        k, start = counts[t], offsets[t]
        new_h, new_c, new_hs = [], [], []
        for r in range(n):
            gates = tf.transpose(tf.slice(x_gates[r], tf.stack([start, 0]),
                                          tf.stack([k, -1])))
            h_r, c_r = _advance(step, r, gates, h[r], c[r], k)
            new_h.append(h_r)
            new_c.append(c_r)
            new_hs.append(hs[r].write(t, h_r))
        return t + 1, new_h, new_c, new_hs

    _, h, c, hs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), list(h0), list(c0)) + (hs,),
        maximum_iterations=steps)
    return [a.stack() for a in hs], h, c


def columns(x, start, count):
    """Columns `start` to `start + count` of the matrix `x`, by `tf.slice` (`Slice`),
    which copied the biLM's per-step gates (`[16384, 32]` of `[16384, 714]`) in 0.20 ms
    where `x[:, a:b]` (`StridedSlice`) took 0.27; the original model's `Embedder` ran
    4-6% faster (docs/speed.md)."""
    return tf.slice(x, tf.stack([0, start]), tf.stack([-1, count]))


def _advance(step, r, gates, h, c, k):
    """Recurrence `r`'s step on the first `k` columns of `h` and `c`, the others
    carried."""
    (h_k, h_rest), (c_k, c_rest) = (tf.split(s, [k, -1], axis=1) for s in (h, c))
    h_k, c_k = step(r, gates, h_k, c_k)
    new_h, new_c = tf.concat([h_k, h_rest], axis=1), tf.concat([c_k, c_rest], axis=1)
    new_h.set_shape(h.shape)
    new_c.set_shape(c.shape)
    return new_h, new_c


def distinct_rows(rows):
    """`kernels.distinct_rows`: `UniqueV2`, then each distinct row's first position."""
    unique, index = tf.raw_ops.UniqueV2(x=rows, axis=[0])
    return (tf.math.unsorted_segment_min(tf.range(tf.shape(index)[0]), index,
                                         tf.shape(unique)[0]), index)


def inference_rows():
    """`kernels.inference_rows`: packed, except in a function XLA compiles (static
    shapes), where the rows stay as given."""
    return None if _in_xla() else "packed"


def _in_xla():
    return not tf.executing_eagerly() and GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph())


def size_from_value(value):
    """`kernels.size_from_value`: an int eagerly, the graph tensor in a `tf.function`,
    None under XLA."""
    if tf.executing_eagerly():
        return int(value)
    return None if _in_xla() else value


def conv_max(x, kernel):
    """`kernels.conv_max` with TensorFlow's convolution (faster here than one matmul
    over the windows)."""
    return tf.reduce_max(tf.nn.conv1d(x, kernel, stride=1, padding="VALID"), axis=1)


def encode_distinct(rows, encode):
    """`kernels.encode_distinct`: `UniqueV2` then a gather; under XLA (no
    data-dependent shapes) every row is encoded."""
    if _in_xla():
        return encode(rows)
    unique, index = tf.raw_ops.UniqueV2(x=rows, axis=[0])
    return tf.gather(encode(unique), index)


def assert_at_most(value, limit, message):
    """Fails at run time when the graph value `value` exceeds `limit`."""
    return tf.debugging.assert_less_equal(value, limit, message=message)


def compiled(fn, variables, state_variables, jit_compile=False, layers=(), shapes=None):
    """`fn` as a `tf.function` (XLA with `jit_compile`); variables are read and
    assigned in the graph, so `variables`/`state_variables` (and `layers`) need no
    plumbing.

    With `shapes` (per argument, its shape with None where it varies between calls, or
    None for an argument given as None), the first call traces `fn` for those shapes
    and every later call of the same dtypes runs that one graph. Without, it is traced
    for the first call's shapes and again as each dimension first differs
    (`reduce_retracing`): `elmo-keras embed` traced the `Embedder`'s function 3 times,
    1-5 s each on the tiny model (as the machine was loaded)."""
    function = tf.function(fn, reduce_retracing=True, jit_compile=bool(jit_compile))
    if shapes is None:
        return function

    def run(*args):
        if not run.traced:
            function.get_concrete_function(*[
                a if shape is None else tf.TensorSpec(shape, tf.as_dtype(a.dtype))
                for a, shape in zip(args, shapes)])
            run.traced = True
        return function(*args)

    run.traced = False
    return run


def eager_call(layer, call, inputs, distinct_call=None):
    """`call(inputs)`, an eager call on concrete ids through one `tf.function` of it
    cached on `layer` (`reduce_retracing`: traced for the first shape, then again when
    the batch size or the length first differs: at most three traces, about 1 s
    each). Eagerly every op returns to Python and the biLM's loop runs in Python: the
    original model's `model(ids)` on `benchmarks/inference.py`'s 32 sentences took 1.8
    s against 0.8 for `predict` and the `Embedder` (a 2-core Intel Xeon). The graph is
    `predict`'s: variables read and assigned in it (a stateful model's states
    carry from call to call), gradients recorded by a tape around the call. Symbolic
    inputs, a call inside a user's `tf.function` and a layer not yet built (its first
    call creates its variables) call as is, and so does a call inside an outer layer's
    call in training (the graph is traced in inference; a training call takes
    the biLM's loop that `training=True` gives). The char CNN finds the distinct tokens
    in the graph (`UniqueV2`): `distinct_call` is not used."""
    if (not tf.executing_eagerly() or not getattr(layer, "built", False)
            or not isinstance(inputs, (np.ndarray, tf.Tensor)) or _in_training_call()):
        return call(inputs)
    run = layer.__dict__.get("_elmo_keras_eager_call")
    if run is None:
        run = layer.__dict__["_elmo_keras_eager_call"] = tf.function(
            call, reduce_retracing=True)
    return run(tf.convert_to_tensor(inputs))


def _in_training_call():
    """Whether an outer Keras layer's call in training is running (Keras' call context,
    which an inner call without `training` inherits)."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - a Keras without it: no outer context known
        return False
    context = global_state.get_global_attribute("current_call_ctx")
    return bool(context is not None and context.training)


def assert_in_range(values, low, high, message):
    """Fails at run time when a graph value lies outside `[low, high]` (the graph-mode
    half of `elmo_keras.text.char_ids.validate_char_ids`; XLA drops the check)."""
    return [tf.debugging.assert_greater_equal(values, tf.cast(low, values.dtype),
                                              message=message),
            tf.debugging.assert_less_equal(values, tf.cast(high, values.dtype),
                                           message=message)]


def batched_dataset(x, y=None, sample_weight=None, batch_size=32, shuffle=False, seed=None):
    """Arrays as a `tf.data.Dataset` of batches with tf.data's autotuning off: give it
    to a Keras model's `fit`, `evaluate` or `predict` on TensorFlow instead of the arrays.

    Keras turns NumPy inputs into a tf.data pipeline with autotuning on. On a 2-core CPU
    that pipeline often halves the speed of an ELMo model while it runs: most `predict`
    calls on an array took 1.30 s instead of 0.66-0.80 s for 32 sentences of the
    original model, and an epoch of `fit` on 64 sentences with `elmo_small_en` 0.13-0.35
    s instead of 0.09-0.16 s; with autotuning off no call was slow (docs/speed.md).
    `ELMo.predict` (arrays, tensors) and the task models (strings) do this by
    themselves; a model of your own that holds an `ELMoEmbedding` gets it with
    `model.fit(batched_dataset(texts, labels, shuffle=True))` and
    `model.predict(batched_dataset(texts))`.

    Args:
        x: inputs: an array, a tensor, a list of strings, or a dict/tuple of arrays
            with the same first dimension (char ids, or strings for `ELMoEmbedding`).
        y, sample_weight: None or arrays of as many rows (`sample_weight` needs `y`).
        batch_size: rows a batch (the last may be smaller).
        shuffle: a new order every epoch (each pass over the dataset); else in order.
        seed: the shuffle's seed.

    Returns:
        A `tf.data.Dataset` of `x` batches, or `(x, y)` / `(x, y, sample_weight)`.

    Example:
    ```python
    model.fit(elmo_keras.batched_dataset(texts, labels, shuffle=True), epochs=5)
    model.predict(elmo_keras.batched_dataset(texts))
    ```
    `fit` then warns that its own `shuffle` argument is ignored for a dataset: this
    dataset shuffles itself.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if sample_weight is not None and y is None:
        raise ValueError("sample_weight given without y")
    if isinstance(x, list):  # a list of strings, as `Model.predict` takes it
        x = np.asarray(x, dtype=object)
    parts = tuple(a for a in (x, y, sample_weight) if a is not None)
    dataset = tf.data.Dataset.from_tensor_slices(parts if len(parts) > 1 else x)
    if shuffle:
        dataset = dataset.shuffle(int(dataset.cardinality()), seed=seed,
                                  reshuffle_each_iteration=True)
    return without_autotuning(dataset.batch(int(batch_size)))


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning and default graph rewrites off (see
    `batched_dataset` for why)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    return dataset.with_options(options)


def predict_call(layer, predict, x, *args, **kwargs):
    """`predict(x, ...)` with an array or tensor `x` fed as `batched_dataset(x,
    batch_size=...)` (Keras' own pipeline for arrays slows the model: see there);
    datasets and generators as they are."""
    if not (isinstance(x, np.ndarray) or tf.is_tensor(x)):
        return predict(x, *args, **kwargs)
    if args:  # `predict(x, batch_size, verbose, steps, callbacks)` positionally
        kwargs.update(zip(("batch_size", "verbose", "steps", "callbacks"), args))
    batch_size = kwargs.pop("batch_size", None) or 32
    return predict(batched_dataset(x, batch_size=batch_size), **kwargs)
