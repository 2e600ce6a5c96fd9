"""bilm-tf weight files: loading, writing, round trips and errors."""

import json
import shutil

import h5py
import numpy as np
import pytest

import elmo_keras
from elmo_keras import OptionsError, WeightFileError
from tests.conftest import TINY

# The published ELMo architectures (their options.json files), random weights here.
PUBLISHED_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]
PUBLISHED = {
    "small_2x1024_128": (1024, 128, 1),
    "medium_2x2048_256": (2048, 256, 1),
    "original_2x4096_512_1highway": (4096, 512, 1),
    "original_2x4096_512_2highway": (4096, 512, 2),
}


def published_options(dim, proj, n_highway):
    return {
        "char_cnn": {"activation": "relu", "embedding": {"dim": 16},
                     "filters": PUBLISHED_FILTERS, "max_characters_per_token": 50,
                     "n_characters": 262, "n_highway": n_highway},
        "lstm": {"cell_clip": 3, "dim": dim, "n_layers": 2, "proj_clip": 3,
                 "projection_dim": proj, "use_skip_connections": True},
    }


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[...]) if isinstance(o, h5py.Dataset)
                     else None)
    return out


def test_tiny_round_trip_is_exact(tmp_path):
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    elmo_keras.save_bilm(model, tmp_path / "options.json", tmp_path / "weights.hdf5")
    original, written = _datasets(TINY / "lm_weights.hdf5"), _datasets(tmp_path / "weights.hdf5")
    assert sorted(original) == sorted(written)
    for name in original:
        np.testing.assert_array_equal(original[name], written[name], err_msg=name)
    reloaded = elmo_keras.load_bilm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    for a, b in zip(model.weights, reloaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert json.loads((tmp_path / "options.json").read_text()) == json.loads(
        (TINY / "options.json").read_text())


@pytest.mark.parametrize("name", [
    "small_2x1024_128",
    pytest.param("medium_2x2048_256", marks=pytest.mark.slow),
    pytest.param("original_2x4096_512_1highway", marks=pytest.mark.slow),
    pytest.param("original_2x4096_512_2highway", marks=pytest.mark.slow),
])
def test_published_architectures_write_and_load(tmp_path, name):
    options = published_options(*PUBLISHED[name])
    model = elmo_keras.ELMo.from_options(options)
    (tmp_path / "options.json").write_text(json.dumps(options))
    elmo_keras.save_bilm_weights(model, tmp_path / "weights.hdf5")
    data = _datasets(tmp_path / "weights.hdf5")
    dim, proj, n_highway = PUBLISHED[name]
    assert data["char_embed"].shape == (261, 16)
    assert data["CNN/W_cnn_6"].shape == (1, 7, 16, 1024)
    assert data["CNN_proj/W_proj"].shape == (2048, proj)
    assert f"CNN_high_{n_highway - 1}/W_carry" in data and f"CNN_high_{n_highway}/W_carry" not in data
    cell = "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell"
    assert data[f"{cell}/W_0"].shape == (2 * proj, 4 * dim)
    assert data[f"{cell}/W_P_0"].shape == (dim, proj)
    loaded = elmo_keras.load_bilm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    out = loaded(elmo_keras.batch_to_ids([["a", "test"]]))
    assert out["lm_embeddings"].shape == (1, 3, 2, 2 * proj)


@pytest.fixture
def tiny_copy(tmp_path):
    shutil.copy(TINY / "options.json", tmp_path / "options.json")
    shutil.copy(TINY / "lm_weights.hdf5", tmp_path / "weights.hdf5")
    return tmp_path


def test_missing_dataset_is_named(tiny_copy):
    with h5py.File(tiny_copy / "weights.hdf5", "a") as f:
        del f["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0"]
    with pytest.raises(WeightFileError, match=r"weights.hdf5: missing dataset "
                       r"'RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0'"):
        elmo_keras.load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")


def test_wrong_shape_names_expected_and_found(tiny_copy):
    with h5py.File(tiny_copy / "weights.hdf5", "a") as f:
        del f["CNN/W_cnn_2"]
        f["CNN/W_cnn_2"] = np.zeros((1, 3, 4, 17), "float32")
    with pytest.raises(WeightFileError, match=r"'CNN/W_cnn_2' has shape \(1, 3, 4, 17\), "
                       r"expected \(1, 3, 4, 16\)"):
        elmo_keras.load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")


def test_options_inconsistent_with_weights(tiny_copy):
    opts = json.loads((tiny_copy / "options.json").read_text())
    opts["lstm"]["projection_dim"] = 32
    (tiny_copy / "options.json").write_text(json.dumps(opts))
    with pytest.raises(WeightFileError, match="CNN_proj/W_proj' has shape"):
        elmo_keras.load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")
    opts["lstm"]["projection_dim"] = 16
    opts["char_cnn"]["n_highway"] = 1
    (tiny_copy / "options.json").write_text(json.dumps(opts))
    with pytest.raises(WeightFileError, match="'CNN_high_1'.*n_highway=1"):
        elmo_keras.load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")
    opts["char_cnn"]["n_highway"] = 2
    opts["lstm"]["n_layers"] = 1
    (tiny_copy / "options.json").write_text(json.dumps(opts))
    with pytest.raises(WeightFileError, match="Cell1.*n_layers=1"):
        elmo_keras.load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")


def test_options_missing_key_and_bad_values(tiny_copy):
    path = tiny_copy / "options.json"
    opts = json.loads(path.read_text())
    del opts["lstm"]["projection_dim"]
    path.write_text(json.dumps(opts))
    with pytest.raises(OptionsError, match=r"options.json: missing key 'lstm.projection_dim'"):
        elmo_keras.load_bilm(path, tiny_copy / "weights.hdf5")
    opts["lstm"]["projection_dim"] = 16
    opts["char_cnn"]["activation"] = "gelu"
    path.write_text(json.dumps(opts))
    with pytest.raises(OptionsError, match="activation is 'gelu'"):
        elmo_keras.load_options(path)
    path.write_text("{not json")
    with pytest.raises(OptionsError, match="not a valid JSON"):
        elmo_keras.load_options(path)
    with pytest.raises(OptionsError, match="does not exist"):
        elmo_keras.load_options(tiny_copy / "nope.json")


def test_not_hdf5_and_missing_file(tiny_copy):
    bad = tiny_copy / "weights.hdf5"
    bad.write_bytes(b"this is not hdf5")
    with pytest.raises(WeightFileError, match="weights.hdf5: not an HDF5 file"):
        elmo_keras.load_bilm(tiny_copy / "options.json", bad)
    with pytest.raises(WeightFileError, match="does not exist"):
        elmo_keras.load_bilm(tiny_copy / "options.json", tiny_copy / "missing.hdf5")


def test_training_options_keys_are_kept(tmp_path):
    opts = json.loads((TINY / "options.json").read_text())
    opts.update(batch_size=128, n_epochs=10, dropout=0.1, unroll_steps=20)
    opts["char_cnn"]["n_characters"] = 261  # a bilm-tf training file
    parsed = elmo_keras.load_options(opts)
    elmo_keras.save_options(parsed, tmp_path / "o.json")
    written = json.loads((tmp_path / "o.json").read_text())
    assert written["batch_size"] == 128 and written["unroll_steps"] == 20
    assert written["char_cnn"]["n_characters"] == 262
