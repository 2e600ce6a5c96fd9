"""Loaders build their model without random initial weights (`layers.weight_init`): the
file's values replace every one of them, and on JAX each new weight shape's random
draw compiled a program (about 5 s a model in a fresh process)."""

import numpy as np

import elmo_keras
from elmo_keras.layers.weight_init import weights_assigned_next
from tests.conftest import SMALL_OPTIONS
from tests.support.processes import run_python

#: Not the other tests' sizes: no JAX program made for them already in the worker.
ODD_OPTIONS = {
    "char_cnn": {**SMALL_OPTIONS["char_cnn"], "embedding": {"dim": 3},
                 "filters": [[1, 5], [2, 7]]},
    "lstm": {**SMALL_OPTIONS["lstm"], "dim": 11, "projection_dim": 5},
}


def test_random_weights_are_zeros_for_a_loader_and_the_others_keep_their_own():
    with weights_assigned_next():
        model = elmo_keras.ELMo.from_options(SMALL_OPTIONS)
    drawn = elmo_keras.ELMo.from_options(SMALL_OPTIONS)  # outside: random, as before
    kept = ("carry_bias", "mix_weights", "gamma")  # constants, and not in a bilm-tf file
    checked = 0
    for w, d in zip(model.weights, drawn.weights):
        value, usual = np.asarray(w.numpy()), np.asarray(d.numpy())
        if any(k in w.path for k in kept):
            np.testing.assert_array_equal(value, usual, err_msg=w.path)
        elif np.any(usual != 0):  # a random weight: zeros here
            assert not np.any(value), w.path
            checked += 1
    # the embedding, 2 convolutions, the projection, 1 highway (2), 2 x 2 LSTMs (3 each)
    assert checked == 18, checked


def test_loading_draws_nothing_on_jax(tmp_path):
    """`load_bilm` and `from_preset` of a `.keras` file."""
    model = elmo_keras.ELMo.from_options(ODD_OPTIONS)
    elmo_keras.save_bilm(model, tmp_path / "options.json", tmp_path / "weights.hdf5")
    model.save(tmp_path / "model.keras")
    run_python("""
        import logging, sys
        import jax
        import numpy as np
        import elmo_keras

        compiled = []
        handler = logging.Handler()
        handler.emit = lambda record: compiled.append(record.getMessage())
        logging.getLogger("jax").addHandler(handler)
        with jax.log_compiles(True):
            model = elmo_keras.load_bilm(sys.argv[1], sys.argv[2])
            keras_file = elmo_keras.ELMo.from_preset(sys.argv[3])
        random = [m for m in compiled if "_uniform" in m or "_normal" in m]
        assert not random, random
        for a, b in zip(model.weights, keras_file.weights):  # both the saved weights
            assert np.array_equal(np.asarray(a.value), np.asarray(b.value)), a.path
        print("ok")
        """, tmp_path / "options.json", tmp_path / "weights.hdf5", tmp_path / "model.keras",
               backend="jax")
