"""`ELMo` (the backbone): `.keras` round trip, outputs and mask in a downstream model,
dtype policies."""

import numpy as np
import pytest

import keras

import elmo_keras
from tests.conftest import FIXTURES, TINY


def test_keras_file_saved_before_output_major_kernels_loads():
    """A `.keras` file from the code before `LSTMPCell` stored its kernels output-major
    (tests/fixtures/keras_before_output_major) gives that code's embeddings."""
    folder = FIXTURES / "keras_before_output_major"
    model = keras.saving.load_model(folder / "elmo_tiny.keras")
    assert tuple(model.bilm.forward_cells[0].recurrent_kernel.shape) == (256, 16)
    ids = elmo_keras.batch_to_ids([["The", "cat", "sat", "."], ["Hello", "world"]])
    got = model.predict(ids, verbose=0)["lm_embeddings"]
    np.testing.assert_allclose(got, np.load(folder / "lm_embeddings.npy"), atol=1e-5)


def test_elmo_keras_file_round_trip(tmp_path):
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5",
                                 num_output_representations=2, do_layer_norm=True)
    model.scalar_mixes[1].mix_weights.assign([0.3, -0.2, 0.1])
    ids = elmo_keras.batch_to_ids([["A", "river", "bank", "."], ["Hello"]])
    before = model(ids)
    path = tmp_path / "elmo.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, elmo_keras.ELMo)
    after = loaded(ids)
    for key in ("token_embeddings", "lm_embeddings", "mask"):
        np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(before[key]))
    for a, b in zip(after["elmo_representations"], before["elmo_representations"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    assert loaded.get_config() == model.get_config()


def test_elmo_outputs_and_mask_in_a_downstream_model():
    elmo = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    ids = elmo_keras.batch_to_ids([["The", "bank", "."], ["Hi"]])
    out = elmo(ids)
    lm = np.asarray(out["lm_embeddings"])
    assert lm.shape == (2, 3, 3, 32)
    np.testing.assert_array_equal(lm[:, 0, :, :16], lm[:, 0, :, 16:])  # duplicated tokens
    np.testing.assert_array_equal(lm[:, 0, :, :16], np.asarray(out["token_embeddings"]))
    assert np.all(lm[1, :, 1:] == 0)
    rep = np.asarray(out["elmo_representations"][0])
    np.testing.assert_allclose(rep, lm.mean(axis=1), atol=1e-6)
    # the keras mask reaches a downstream layer
    inp = keras.Input((None, 50), dtype="int32")
    feats = elmo(inp)
    pooled = keras.layers.GlobalAveragePooling1D()(
        feats["elmo_representations"][0], mask=feats["mask"])
    head = keras.Model(inp, pooled)
    np.testing.assert_allclose(np.asarray(head(ids))[1], rep[1, 0], atol=1e-6)


@pytest.mark.parametrize("dtype,atol", [("float64", 1e-5), ("mixed_bfloat16", 0.05)])
def test_dtype_policies(dtype, atol):
    ref = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5", dtype=dtype,
                                 stateful=True)
    ids = elmo_keras.batch_to_ids([["The", "bank", "of", "the", "river"], ["Hi"]])
    got = model(ids)["lm_embeddings"]
    assert got.dtype.name == keras.DTypePolicy(dtype).compute_dtype
    np.testing.assert_allclose(np.asarray(got, "float64"), np.asarray(ref(ids)["lm_embeddings"]),
                               atol=atol)
