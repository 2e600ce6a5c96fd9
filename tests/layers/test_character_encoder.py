"""`CharacterEncoder`: each distinct token once (exact, gradients), any leading shape,
config / `.keras` round trips and its mask."""

import numpy as np
import tensorflow as tf

import elmo_keras
from elmo_keras.layers import CharacterEncoder
from tests.support.layer_checks import check_layer

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
