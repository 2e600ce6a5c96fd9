"""`CharacterEncoder`: each distinct token once (exact, gradients), any leading shape,
config / `.keras` round trips, shapes, masks and padding, its projection and errors."""

import numpy as np
import pytest
import tensorflow as tf

import elmo_keras
from elmo_keras.layers import CharacterEncoder
from tests.support.layer_checks import check_config, check_layer

RNG = np.random.default_rng(0)

WORDS = [["the", "bank", "the", "river", "bank"], ["the", "", "", "", ""]]


def _ids():
    return elmo_keras.batch_to_ids([[w for w in row if w] for row in WORDS])


def _encoder():
    return CharacterEncoder([[1, 4], [2, 8], [3, 8]], 4, 12, n_highway=1)


def test_distinct_tokens_give_every_token_its_own_vector(tmp_path):
    encoder = _encoder()
    ids = _ids()
    out = check_layer(encoder, ids, tmp_path, expected_mask=np.any(ids > 0, axis=-1))
    # each position as if encoded alone (no sharing of rows)
    alone = np.stack([np.asarray(encoder.encode_rows(row)) for row in ids])
    mask = np.any(ids > 0, axis=-1)[..., None]
    np.testing.assert_allclose(out, alone * mask, atol=1e-6)
    np.testing.assert_array_equal(out[0, 0], out[0, 2])  # "the" twice: one vector
    assert np.all(out[1, 1:] == 0)
    # any leading shape: training's [2, batch, time, chars]
    both = np.asarray(encoder(np.stack([ids, ids[:, ::-1]])))
    np.testing.assert_allclose(both[0], out, atol=1e-6)


def test_gradients_flow_through_the_distinct_rows():
    encoder = _encoder()
    ids = _ids()
    with tf.GradientTape(persistent=True) as tape:
        shared = tf.reduce_sum(encoder(ids) ** 2)
        flat = tf.reshape(ids, (-1, ids.shape[-1]))
        every = tf.reduce_sum((encoder.encode_rows(flat)
                               * tf.cast(tf.reduce_any(flat > 0, -1), tf.float32)[:, None]) ** 2)
    for a, b in zip(tape.gradient(shared, encoder.trainable_weights),
                    tape.gradient(every, encoder.trainable_weights)):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), atol=1e-5)


def _random_ids(batch, steps, lengths, chars=50):
    ids = np.zeros((batch, steps, chars), "int32")
    for b, n in enumerate(lengths):
        ids[b, :n] = RNG.integers(1, 262, size=(n, chars))
    return ids


@pytest.mark.parametrize("activation,n_highway", [("relu", 2), ("tanh", 0), ("tanh", 1)])
def test_character_encoder_shapes_mask_and_padding(activation, n_highway):
    enc = CharacterEncoder([[1, 4], [2, 8], [3, 4]], 4, 8, n_highway=n_highway,
                           activation=activation)
    ids = _random_ids(3, 5, [5, 2, 0])
    out = np.asarray(enc(ids))
    assert out.shape == (3, 5, 8)
    mask = np.asarray(enc.compute_mask(ids))
    np.testing.assert_array_equal(mask, [[1] * 5, [1, 1, 0, 0, 0], [0] * 5])
    assert np.all(out[~mask] == 0)
    # each token is encoded on its own: a token's vector does not depend on its batch
    alone = np.asarray(enc(ids[1:2, :2]))
    np.testing.assert_allclose(alone[0], out[1, :2], atol=1e-6)


def test_character_encoder_without_projection_when_filters_sum_to_projection_dim():
    enc = CharacterEncoder([[1, 4], [2, 4]], 4, 8)
    enc.build((None, None, 50))
    assert not enc.use_projection
    assert "projection_kernel" not in [w.path.split("/")[-1] for w in enc.weights]
    with pytest.raises(ValueError, match="fewer than projection_dim"):
        CharacterEncoder([[1, 4]], 4, 8)


def test_character_encoder_rejects_wrong_char_dim():
    enc = CharacterEncoder([[1, 4]], 4, 4)
    with pytest.raises(ValueError, match=r"\[batch, time, 50\]"):
        enc(np.zeros((1, 2, 40), "int32"))


def test_get_config_round_trip():
    check_config(CharacterEncoder([[1, 4], [2, 8]], 4, 8, n_highway=1, activation="tanh"))


@pytest.mark.parametrize("width", [1, 3, 7])
def test_conv_max_and_windows_max_match_a_numpy_sliding_window(width):
    """The char CNN's max over a valid 1-D convolution: the backend's `conv_max`
    (TensorFlow's convolution here) and `windows_max` (one matmul over the windows,
    what JAX and PyTorch run) both equal a plain NumPy loop over the positions."""
    from elmo_keras.layers.kernels import conv_max, windows_max

    x = RNG.normal(size=(5, 10, 4)).astype("float32")
    kernel = RNG.normal(size=(width, 4, 6)).astype("float32")
    expected = np.stack([
        np.einsum("nwd,wdk->nk", x[:, p:p + width], kernel) for p in range(10 - width + 1)
    ]).max(axis=0)
    for fn in (conv_max, windows_max):
        np.testing.assert_allclose(np.asarray(fn(tf.constant(x), tf.constant(kernel))),
                                   expected, rtol=1e-5, atol=1e-5)
