"""`ScalarMix`: its start, gamma and mask, bilm-tf's layer norm, its L2 loss and config."""

import numpy as np

from elmo_keras.layers import ScalarMix
from elmo_keras.layers.scalar_mix import masked_layer_norm
from tests.support.layer_checks import check_config, length_mask

RNG = np.random.default_rng(0)


def test_scalar_mix_uniform_start_gamma_and_mask():
    mix = ScalarMix(3)
    layers = [RNG.normal(size=(2, 4, 5)).astype("float32") for _ in range(3)]
    m = length_mask([4, 2], 4)
    out = np.asarray(mix(layers, mask=m))
    expected = np.mean(layers, axis=0) * m[..., None]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    mix.gamma.assign([2.0])
    mix.mix_weights.assign([0.0, 0.0, 50.0])
    np.testing.assert_allclose(np.asarray(mix(layers, mask=m)), 2 * layers[2] * m[..., None],
                               atol=1e-5)


def test_masked_layer_norm_is_bilm_tf_formula():
    x = RNG.normal(loc=3.0, size=(2, 4, 5)).astype("float32")
    m = length_mask([4, 1], 4)
    got = np.asarray(masked_layer_norm(x, m))
    real = x[m]  # statistics over every real token and feature of the batch
    np.testing.assert_allclose(got, (x - real.mean()) / np.sqrt(real.var() + 1e-12),
                               rtol=1e-4, atol=1e-4)
    mix = ScalarMix(2, do_layer_norm=True)
    out = np.asarray(mix([x, x], mask=m))
    np.testing.assert_allclose(out[m], got[m], rtol=1e-4, atol=1e-4)


def test_scalar_mix_l2_loss_and_training_moves_weights():
    mix = ScalarMix(2, l2_coef=0.5)
    mix.build([(None, 3, 4)] * 2)
    mix.mix_weights.assign([1.0, -1.0])
    mix([np.ones((1, 3, 4), "float32")] * 2, mask=np.ones((1, 3), bool))
    assert len(mix.losses) == 1
    np.testing.assert_allclose(float(mix.losses[0]), 0.5 * 2.0, rtol=1e-6)


def test_get_config_round_trip():
    check_config(ScalarMix(3, do_layer_norm=True, l2_coef=0.01))
