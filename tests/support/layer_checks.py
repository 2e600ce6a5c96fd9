"""Reusable checks for Keras layers: config round trip, `.keras` round trip, masks."""

import keras
import numpy as np
from keras import ops


def _arrays(x):
    """A layer's output (a tensor or a list of them) as a list of NumPy arrays."""
    return [ops.convert_to_numpy(v) for v in (x if isinstance(x, (list, tuple)) else [x])]


def _assert_same(a, b, atol):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol)


def check_layer(layer, inputs, tmp_path, expected_mask=None, atol=1e-6):
    """Calls `layer` on `inputs` (one array), then checks that

    - `from_config(get_config())` with the same weights gives the same outputs;
    - a functional model holding it saves to `.keras` and loads back with the same
      outputs;
    - its Keras mask (`compute_mask`, the first one for a list) equals `expected_mask`
      when given.

    Returns the layer's output as NumPy (a list for a list output).
    """
    out = layer(inputs)
    arrays = _arrays(out)
    clone = layer.__class__.from_config(layer.get_config())
    clone(inputs)
    clone.set_weights(layer.get_weights())
    _assert_same(arrays, _arrays(clone(inputs)), atol)
    x = keras.Input(batch_shape=(None,) + tuple(np.shape(inputs))[1:],
                    dtype=str(np.asarray(inputs).dtype))
    path = tmp_path / f"{layer.name}.keras"
    keras.Model(x, layer(x)).save(path)
    _assert_same(arrays, _arrays(keras.models.load_model(path)(inputs)), atol)
    if expected_mask is not None:
        mask = _arrays(layer.compute_mask(inputs))[0]
        np.testing.assert_array_equal(mask, expected_mask)
    return arrays if isinstance(out, (list, tuple)) else arrays[0]


def check_config(layer):
    """`from_config(get_config())` and Keras (de)serialization give back `layer`'s class
    and config."""
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def length_mask(lengths, steps):
    """The `[batch, steps]` boolean mask of rows with these lengths."""
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
