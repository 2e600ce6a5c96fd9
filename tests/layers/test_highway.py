"""`Highway`: bilm-tf's formula and its config."""

import numpy as np

from elmo_keras.layers import Highway
from tests.support.layer_checks import check_config

RNG = np.random.default_rng(0)


def test_highway_formula():
    hw = Highway()
    x = RNG.normal(size=(4, 6)).astype("float32")
    y = np.asarray(hw(x))
    wc, bc = hw.carry_kernel.numpy(), hw.carry_bias.numpy()
    wt, bt = hw.transform_kernel.numpy(), hw.transform_bias.numpy()
    g = 1 / (1 + np.exp(-(x @ wc + bc)))
    np.testing.assert_allclose(y, g * np.maximum(x @ wt + bt, 0) + (1 - g) * x, atol=1e-5)
    np.testing.assert_array_equal(bc, -2.0)


def test_get_config_round_trip():
    check_config(Highway(carry_bias_initializer=-1.0))
