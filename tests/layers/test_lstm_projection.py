"""LSTMPCell against TF1's `tf.compat.v1.nn.rnn_cell.LSTMCell(num_proj=...)`: bilm-tf's cell."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from elmo_keras.layers import LSTMPCell
from tests.support.layer_checks import check_config

_TF1_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    cfg = json.loads(sys.argv[1])
    rng = np.random.default_rng(cfg["seed"])
    units, proj, n_in, steps, batch = cfg["units"], cfg["proj"], cfg["n_in"], 6, 3
    cell = tf.compat.v1.nn.rnn_cell.LSTMCell(
        units, num_proj=proj, cell_clip=cfg["cell_clip"], proj_clip=cfg["proj_clip"])
    out_dim = proj or units
    x = rng.normal(size=(steps, batch, n_in)).astype("float32")
    state = cell.get_initial_state(batch_size=batch, dtype=tf.float32)
    cell(tf.constant(x[0]), state)  # build
    weights = [rng.normal(scale=cfg["scale"], size=w.shape).astype("float32")
               for w in cell.weights]
    for w, v in zip(cell.weights, weights):
        w.assign(v)
    outs = []
    for t in range(steps):
        o, state = cell(tf.constant(x[t]), state)
        outs.append(o.numpy())
    np.savez(cfg["out"], x=x, outs=np.stack(outs), c=state.c.numpy(), h=state.h.numpy(),
             **{f"w{i}": v for i, v in enumerate(weights)})
""")


@pytest.mark.parametrize("units,proj,cell_clip,proj_clip,scale", [
    (8, 4, 0.5, 0.3, 1.0),      # clips bind
    (8, 4, None, None, 0.5),
    (6, None, 3.0, None, 0.5),  # no projection
])
def test_matches_tf1_lstmcell(tmp_path, units, proj, cell_clip, proj_clip, scale):
    out = tmp_path / "ref.npz"
    cfg = dict(seed=1, units=units, proj=proj, n_in=5, cell_clip=cell_clip,
               proj_clip=proj_clip, scale=scale, out=str(out))
    subprocess.run([sys.executable, "-c", _TF1_SCRIPT, json.dumps(cfg)], check=True)
    ref = np.load(out)
    cell = LSTMPCell(units, proj, cell_clip=cell_clip, proj_clip=proj_clip)
    cell.build((None, 5))
    kernel = ref["w0"]  # TF1 stacks [input; h] x 4*units, gates i, j, f, o
    cell.kernel.assign(kernel[:5])
    cell.recurrent_kernel.assign(kernel[5:])
    cell.bias.assign(ref["w1"])
    if proj:
        cell.projection_kernel.assign(ref["w2"])
    states = cell.get_initial_state(batch_size=3)
    for t in range(ref["x"].shape[0]):
        o, states = cell(ref["x"][t], states)
        np.testing.assert_allclose(np.asarray(o), ref["outs"][t], atol=1e-5)
    np.testing.assert_allclose(np.asarray(states[1]), ref["c"], atol=1e-5)
    if cell_clip is not None and scale >= 1.0:
        assert np.abs(ref["c"]).max() == pytest.approx(cell_clip)  # the clip did bind


def test_cell_in_keras_rnn_and_config_round_trip():
    cell = LSTMPCell(8, 4, cell_clip=3.0, proj_clip=3.0)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 7, 5)).astype("float32")
    y = layer(x)
    assert y.shape == (2, 7, 4)
    clone = LSTMPCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()


def test_projection_larger_than_units_is_rejected():
    with pytest.raises(ValueError, match="projection_dim=16 is larger than units=8"):
        LSTMPCell(8, 16)


def test_get_config_round_trip():
    check_config(LSTMPCell(8, 4, cell_clip=3, proj_clip=None))
