"""LSTMPCell against TF1's `tf.compat.v1.nn.rnn_cell.LSTMCell(num_proj=...)`: bilm-tf's cell."""

import numpy as np
import pytest

import keras

from elmo_keras.layers import LSTMPCell
from elmo_keras.layers.lstm_projection import LSTMPSteps
from tests.conftest import FIXTURES
from tests.support.layer_checks import check_config

REFERENCES = FIXTURES / "tf1_lstm_cell"  # made by its make_reference.py (PROVENANCE.md)


@pytest.mark.parametrize("case,units,proj,cell_clip,proj_clip,scale", [
    ("clips_bind", 8, 4, 0.5, 0.3, 1.0),
    ("projection_no_clip", 8, 4, None, None, 0.5),
    ("no_projection", 6, None, 3.0, None, 0.5),
])
def test_matches_tf1_lstmcell(case, units, proj, cell_clip, proj_clip, scale):
    ref = np.load(REFERENCES / f"{case}.npz")
    n_in = ref["x"].shape[-1]
    cell = LSTMPCell(units, proj, cell_clip=cell_clip, proj_clip=proj_clip)
    cell.build((None, n_in))
    kernel = ref["w0"]  # TF1 stacks [input; h] x 4*units, gates i, j, f, o
    cell.kernel.assign(kernel[:n_in].T)  # the cell stores them output-major
    cell.recurrent_kernel.assign(kernel[n_in:].T)
    cell.bias.assign(ref["w1"])
    if proj:
        cell.projection_kernel.assign(ref["w2"].T)
    states = cell.get_initial_state(batch_size=ref["x"].shape[1])
    for t in range(ref["x"].shape[0]):
        o, states = cell(ref["x"][t], states)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(o), ref["outs"][t], atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(states[1]), ref["c"], atol=1e-5)
    if cell_clip is not None and scale >= 1.0:
        assert np.abs(ref["c"]).max() == pytest.approx(cell_clip)  # the clip did bind


@pytest.mark.parametrize("case,proj,cell_clip,proj_clip", [
    ("clips_bind", 4, 0.5, 0.3), ("projection_no_clip", 4, None, None),
    ("no_projection", None, 3.0, None)])
def test_steps_with_the_input_in_the_step_match_tf1_lstmcell(case, proj, cell_clip,
                                                              proj_clip):
    # `LSTMPSteps(..., biases=...)` (JAX's inference loop): TF1's `W_0` is the joint
    # `[input; h]` kernel, input-major; each step takes its input feature-major.
    ref = np.load(REFERENCES / f"{case}.npz")
    joint = keras.ops.convert_to_tensor(ref["w0"].T)
    projection = None if proj is None else keras.ops.convert_to_tensor(ref["w2"].T)
    steps = LSTMPSteps([joint], [projection], cell_clip, proj_clip,
                       biases=[keras.ops.convert_to_tensor(ref["w1"])])
    batch, units = ref["x"].shape[1], ref["w0"].shape[1] // 4
    h = np.zeros((proj or units, batch), "float32")
    c = np.zeros((units, batch), "float32")
    for t in range(ref["x"].shape[0]):
        h, c = steps(0, keras.ops.convert_to_tensor(ref["x"][t].T), h, c)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(h).T, ref["outs"][t], atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(c).T, ref["c"], atol=1e-5)


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


@pytest.mark.parametrize("input_dim", [5, 32])  # 32 = 4 * units: a square kernel
def test_weights_saved_input_major_load_transposed(input_dim):
    """A `.keras` file from before the kernels were stored output-major still loads."""
    cell = LSTMPCell(8, 4)
    cell.build((None, input_dim))
    rng = np.random.default_rng(0)
    values = [rng.normal(size=v.shape).astype("float32") for v in cell.variables]
    old_layout = {str(k): v.T if v.ndim == 2 else v for k, v in enumerate(values)}
    for store in (old_layout, {str(k): v for k, v in enumerate(values)}):
        clone = LSTMPCell(8, 4)
        clone.build((None, input_dim))
        clone.load_own_variables(store)
        for var, value in zip(clone.variables, values):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(var), value)
