"""Random initial weights skipped where a loader assigns every one of them next.

A model loaded from a file is built first, each weight drawn at random, and then every
weight is overwritten with the file's. The draws are wasted, and on JAX they are slow:
every new weight shape compiles its own random-number program, about 5 s for even the
tiny test model in a fresh process. Inside `weights_assigned_next()` this package's
layers with random initializers (`CharacterEncoder`, `Highway`, `LSTMPCell`) create
those weights as zeros from NumPy instead (nothing compiled; Keras casts them to the
weight's dtype). Weights with constant initializers (biases, `ScalarMix`'s zeros and
ones, a stateful model's states) keep them. The loaders (`load_bilm`, `from_preset` of
a bilm-tf directory, TF Hub module, `export_hub` directory, preset directory or `.keras`
file) build inside it, then assign every one of these weights from the file, and
refuse a file that lacks one.
"""

import contextlib
import contextvars

import numpy as np

_ASSIGNED_NEXT = contextvars.ContextVar("elmo_keras_weights_assigned_next", default=False)


@contextlib.contextmanager
def weights_assigned_next():
    """Within: layers built here get zeros for the weights a loader assigns next."""
    token = _ASSIGNED_NEXT.set(True)
    try:
        yield
    finally:
        _ASSIGNED_NEXT.reset(token)


def initializer(init):
    """`init`, or inside `weights_assigned_next()`, zeros (see the module docstring)."""
    return _zeros if _ASSIGNED_NEXT.get() else init


def _zeros(shape, dtype=None):
    return np.zeros(shape, "float32")
