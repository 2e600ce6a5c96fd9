"""Training's stateless randomness on each backend: the same seed gives the same numbers,
another seed others; dropout keeps `1 - rate` of the values, scaled; the TensorFlow
backend draws exactly what TensorFlow's stateless ops draw (the TF trainer's numbers
before these functions existed)."""

import textwrap

import numpy as np
import pytest
import tensorflow as tf

from elmo_keras.training import stateless_random
from tests.support.processes import run_python

CHECKS = """
    import numpy as np
    from keras import ops
    from elmo_keras.training import stateless_random as sr

    def arr(x):
        return np.asarray(ops.convert_to_numpy(x))

    a = arr(sr.uniform((1000,), sr.step_seed(0, 5, 2)))
    b = arr(sr.uniform((1000,), sr.step_seed(0, 5, 2)))
    c = arr(sr.uniform((1000,), sr.step_seed(0, 6, 2)))
    assert (a == b).all() and not np.allclose(a, c)
    assert 0 <= a.min() and a.max() < 1 and abs(a.mean() - 0.5) < 0.05
    x = ops.ones((100, 100))
    kept = arr(sr.dropout(x, 0.25, sr.make_seed(1)))
    assert np.allclose(kept[kept > 0], 1 / 0.75)
    assert abs((kept > 0).mean() - 0.75) < 0.03
    ids = arr(sr.log_uniform_candidates(5000, 100, sr.make_seed(3)))
    assert ids.min() >= 0 and ids.max() < 100 and abs((ids == 0).mean() - 0.15) < 0.03
"""


def test_tensorflow_draws_tensorflows_stateless_numbers():
    seed = stateless_random.step_seed(7, 3, 1, 0)
    ref = tf.random.experimental.stateless_fold_in(tf.constant([7, 0], tf.int32), 3)
    for salt in (1, 0):
        ref = tf.random.experimental.stateless_fold_in(ref, salt)
    np.testing.assert_array_equal(seed, ref)
    np.testing.assert_array_equal(stateless_random.uniform((5,), seed),
                                  tf.random.stateless_uniform((5,), seed=ref))
    exec(textwrap.dedent(CHECKS), {})


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_draw_repeatable_numbers(backend):
    run_python(CHECKS, backend=backend)
