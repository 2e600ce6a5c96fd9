"""Per-backend kernels behind one signature, as `keras/src/backend/<name>/rnn.py` does.

Each backend module (`tensorflow.py`, `jax.py`, `torch.py`) defines:

- `masked_recurrence(step, x_gates, keep, h0, c0)`: the biLM's time loop
  (`elmo_keras.layers.bilm.BiLM`);
- `unique_rows(rows)`: the distinct rows of an int matrix and each row's index among
  them, or None where the backend cannot give them here (a traced JAX function: its
  shapes must be static), for the distinct-token char CNN
  (`elmo_keras.layers.character_encoder.CharacterEncoder`);
- `assert_at_most(value, limit, message)`: a check of a possibly symbolic size;
- `assert_in_range(values, low, high, message)`: a check of possibly symbolic values
  (a graph assertion on TensorFlow, none on traced JAX), for character ids;
- `compiled(fn, variables, state_variables, jit_compile)`: an inference function
  compiled the backend's way (`tf.function`, `jax.jit`, eager PyTorch), for
  `elmo_keras.Embedder`;
- `eager_call(layer, call, inputs)`: `call(inputs)`, where the backend would run it op
  by op on concrete arrays (JAX) through a compiled copy cached on `layer` (`ELMo`'s
  `__call__`);
- `predict_call(layer, predict, x, *args, **kwargs)` (optional; default:
  `predict(x, *args, **kwargs)`): `Model.predict` on `x`, its shapes bucketed where the
  backend compiles per shape (JAX), arrays fed as batches with tf.data's autotuning off
  on TensorFlow (`batched_dataset`) (`ELMo.predict`, through `predict_call` here).

The layers call `kernels()` and do not know which backend runs.
"""

import importlib

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def kernels():
    """The kernel module of the current Keras backend (`keras.backend.backend()`)."""
    name = keras.backend.backend()
    if name not in BACKENDS:
        raise NotImplementedError(
            f"elmo_keras runs on the Keras backends {', '.join(BACKENDS)}; "
            f"KERAS_BACKEND is {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


def predict_call(layer, predict, x, *args, **kwargs):
    """`predict(x, *args, **kwargs)` (the `Model.predict` of `layer`) the current
    backend's way: its `predict_call` where it has one (JAX buckets the steps of an
    array, one compile per bucket; TensorFlow feeds an array as `batched_dataset`),
    else as is."""
    own = getattr(kernels(), "predict_call", None)
    if own is None:
        return predict(x, *args, **kwargs)
    return own(layer, predict, x, *args, **kwargs)
