"""`LMSoftmax` against TensorFlow's own softmax losses, the log-uniform sampler, its config,
`.keras` round trip and mask."""

import math

import keras
import numpy as np
import tensorflow as tf

from elmo_keras.layers import LMSoftmax
from elmo_keras.layers.lm_softmax import log_uniform_expected_count
from elmo_keras.training.stateless_random import log_uniform_candidates
from tests.support.layer_checks import check_config


def _layer(vocab=50, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    layer = LMSoftmax(vocab)
    layer.build((None, dim))
    layer.kernel.assign(rng.normal(size=(vocab, dim)).astype("float32"))
    layer.bias.assign(rng.normal(size=(vocab,)).astype("float32"))
    h = rng.normal(size=(12, dim)).astype("float32")
    y = rng.integers(0, vocab, size=12).astype("int32")
    return layer, h, y


def test_full_loss_matches_tf():
    layer, h, y = _layer()
    ref = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=y, logits=h @ layer.kernel.numpy().T + layer.bias.numpy())
    np.testing.assert_allclose(layer.full_loss(h, y), ref, atol=1e-5)


def test_sampled_loss_matches_tf_sampled_softmax_loss():
    layer, h, y = _layer()
    candidates = log_uniform_candidates(20, 50, tf.constant([3, 4]))
    # Make accidental hits certain: a candidate equal to some targets.
    candidates = tf.concat([candidates[:-1], y[:1]], 0)
    ref = tf.nn.sampled_softmax_loss(
        weights=layer.kernel, biases=layer.bias, labels=y[:, None].astype("int64"),
        inputs=h, num_sampled=20, num_classes=50,
        sampled_values=(tf.cast(candidates, tf.int64),
                        log_uniform_expected_count(y[:, None], 20, 50),
                        log_uniform_expected_count(candidates, 20, 50)),
        remove_accidental_hits=True)
    np.testing.assert_allclose(layer.sampled_loss(h, y, candidates), ref, atol=1e-5)


def test_log_uniform_candidates_follow_zipf_and_are_stateless():
    a = log_uniform_candidates(200_000, 1000, tf.constant([1, 2])).numpy()
    b = log_uniform_candidates(200_000, 1000, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < 1000
    for k in (0, 1, 9, 99):
        p = math.log((k + 2) / (k + 1)) / math.log(1001)
        assert abs((a == k).mean() - p) < 4 * math.sqrt(p / 200_000) + 1e-4
    np.testing.assert_allclose(
        log_uniform_expected_count(np.array([0, 5]), 200_000, 1000) / 200_000,
        [math.log(2) / math.log(1001), math.log(7 / 6) / math.log(1001)], rtol=1e-6)


def test_get_config_round_trip():
    check_config(LMSoftmax(37))


def test_lm_softmax_keras_file_round_trip_and_mask(tmp_path):
    inputs = keras.Input((None, 4))
    masked = keras.layers.Masking()(inputs)
    outputs = LMSoftmax(11, name="softmax")(masked)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    x[1, 2] = 0.0
    assert outputs._keras_mask is not None
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded(x), model(x))
