"""Unit tests of the layers: masks, padding invariance, state, mixes, serialization."""

import numpy as np
import pytest

import keras

import elmo_keras
from elmo_keras.layers import BiLM, CharacterEncoder, Highway, LMSoftmax, LSTMPCell, ScalarMix
from elmo_keras.layers.bilm import reverse_padded
from elmo_keras.layers.scalar_mix import masked_layer_norm
from tests.conftest import TINY

RNG = np.random.default_rng(0)


def _ids(batch, steps, lengths, chars=50):
    ids = np.zeros((batch, steps, chars), "int32")
    for b, n in enumerate(lengths):
        ids[b, :n] = RNG.integers(1, 262, size=(n, chars))
    return ids


# ---------------------------------------------------------------- char encoder
@pytest.mark.parametrize("activation,n_highway", [("relu", 2), ("tanh", 0), ("tanh", 1)])
def test_character_encoder_shapes_mask_and_padding(activation, n_highway):
    enc = CharacterEncoder([[1, 4], [2, 8], [3, 4]], 4, 8, n_highway=n_highway,
                           activation=activation)
    ids = _ids(3, 5, [5, 2, 0])
    out = np.asarray(enc(ids))
    assert out.shape == (3, 5, 8)
    mask = np.asarray(enc.compute_mask(ids))
    np.testing.assert_array_equal(mask, [[1] * 5, [1, 1, 0, 0, 0], [0] * 5])
    assert np.all(out[~mask] == 0)
    # each token is encoded on its own: a token's vector does not depend on its batch
    alone = np.asarray(enc(ids[1:2, :2]))
    np.testing.assert_allclose(alone[0], out[1, :2], atol=1e-6)


def test_character_encoder_without_projection_when_filters_sum_to_projection_dim():
    enc = CharacterEncoder([[1, 4], [2, 4]], 4, 8)
    enc.build((None, None, 50))
    assert not enc.use_projection
    assert "projection_kernel" not in [w.path.split("/")[-1] for w in enc.weights]
    with pytest.raises(ValueError, match="fewer than projection_dim"):
        CharacterEncoder([[1, 4]], 4, 8)


def test_character_encoder_rejects_wrong_char_dim():
    enc = CharacterEncoder([[1, 4]], 4, 4)
    with pytest.raises(ValueError, match=r"\[batch, time, 50\]"):
        enc(np.zeros((1, 2, 40), "int32"))


def test_highway_formula():
    hw = Highway()
    x = RNG.normal(size=(4, 6)).astype("float32")
    y = np.asarray(hw(x))
    wc, bc = hw.carry_kernel.numpy(), hw.carry_bias.numpy()
    wt, bt = hw.transform_kernel.numpy(), hw.transform_bias.numpy()
    g = 1 / (1 + np.exp(-(x @ wc + bc)))
    np.testing.assert_allclose(y, g * np.maximum(x @ wt + bt, 0) + (1 - g) * x, atol=1e-5)
    np.testing.assert_array_equal(bc, -2.0)


# ------------------------------------------------------------------------ biLM
def test_reverse_padded_is_reverse_sequence():
    x = np.arange(2 * 5, dtype="float32").reshape(2, 5, 1)
    r = np.asarray(reverse_padded(x, np.array([3, 0])))[..., 0]
    np.testing.assert_array_equal(r, [[2, 1, 0, 3, 4], [5, 6, 7, 8, 9]])


def _bilm(**kw):
    args = dict(lstm_dim=12, projection_dim=6, n_layers=2, cell_clip=3, proj_clip=3,
                use_skip_connections=True)
    args.update(kw)
    layer = BiLM(**args)
    layer.build((None, None, 6))
    for w in layer.trainable_weights:  # non-trivial weights
        w.assign(RNG.normal(scale=0.5, size=w.shape).astype("float32"))
    return layer


def _mask(lengths, steps):
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


@pytest.mark.parametrize("skip,n_layers", [(True, 2), (False, 3), (True, 1)])
def test_bilm_padding_never_changes_real_outputs(skip, n_layers):
    layer = _bilm(use_skip_connections=skip, n_layers=n_layers)
    x = RNG.normal(size=(3, 7, 6)).astype("float32")
    lengths = [7, 4, 1]
    x_junk = x.copy()
    m = _mask(lengths, 7)
    x_junk[~m] = 100.0  # garbage in padded steps must be ignored
    out = [np.asarray(o) for o in layer(x_junk, mask=m)]
    assert len(out) == n_layers
    for b, n in enumerate(lengths):
        alone = layer(x[b:b + 1, :n], mask=np.ones((1, n), bool))
        for o_all, o_alone in zip(out, alone):
            np.testing.assert_allclose(o_all[b, :n], np.asarray(o_alone)[0], atol=1e-5)
            assert np.all(o_all[b, n:] == 0)


def test_bilm_fused_and_per_direction_loops_agree_with_states_and_masks():
    layer = _bilm(n_layers=2)
    x = RNG.normal(size=(2, 3, 6, 6)).astype("float32")  # [direction, batch, time, dim]
    m = _mask([6, 3, 0], 6)
    h0, c0 = (RNG.normal(size=s.shape).astype("float32") for s in layer.zero_states(3))
    a, (ha, ca) = layer.run_directions(x, m, (h0, c0))
    b, (hb, cb) = layer.run_directions(x, m, (h0, c0), fused_directions=True)
    for u, v in zip(a + [ha, ca], b + [hb, cb]):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)
    # the empty row keeps its initial states; padded outputs are zero
    np.testing.assert_allclose(np.asarray(ha)[:, :, 2], h0[:, :, 2])
    assert np.all(np.asarray(a[-1])[:, 1, 3:] == 0)


def test_bilm_forward_half_matches_keras_rnn_and_backward_reads_from_last_token():
    layer = _bilm(n_layers=1)
    x = RNG.normal(size=(1, 5, 6)).astype("float32")
    out = np.asarray(layer(x[:, :3], mask=np.ones((1, 3), bool))[0])
    fw = keras.layers.RNN(layer.forward_cells[0], return_sequences=True)
    bw = keras.layers.RNN(layer.backward_cells[0], return_sequences=True, go_backwards=True)
    np.testing.assert_allclose(out[0, :, :6], np.asarray(fw(x[:, :3]))[0], atol=1e-5)
    np.testing.assert_allclose(out[0, :, 6:], np.asarray(bw(x[:, :3]))[0, ::-1], atol=1e-5)


def test_bilm_stateful_carries_rows_and_resets():
    layer = _bilm(stateful=True, max_batch_size=4)
    x1 = RNG.normal(size=(3, 4, 6)).astype("float32")
    x2 = RNG.normal(size=(2, 4, 6)).astype("float32")
    m = np.ones((3, 4), bool)
    first = np.asarray(layer(x1, mask=m)[-1])
    second = np.asarray(layer(x2, mask=m[:2])[-1])
    layer.reset_state()
    again = np.asarray(layer(x1, mask=m)[-1])
    np.testing.assert_allclose(again, first, atol=1e-6)  # reset == fresh start
    stateless = BiLM(12, 6, 2, 3, 3, True)
    stateless.build((None, None, 6))
    stateless.set_weights([w.numpy() for w in layer.trainable_weights])
    np.testing.assert_allclose(np.asarray(stateless(x1, mask=m)[-1]), first, atol=1e-6)
    assert not np.allclose(np.asarray(stateless(x2, mask=m[:2])[-1]), second, atol=1e-4)
    # row 2 was not in the second batch: its state stays from the first call
    h = np.asarray(layer.states[0])
    assert np.any(h[:, :, 2] != 0) and np.all(h[:, :, 3] == 0)
    # state, not weights (as Keras' stateful RNNs): not saved, not trained
    assert not {id(v) for v in layer.states} & {id(w) for w in layer.weights}
    with pytest.raises(ValueError, match="max_batch_size=4"):
        layer(RNG.normal(size=(5, 2, 6)).astype("float32"), mask=np.ones((5, 2), bool))


# ------------------------------------------------------------------- scalar mix
def test_scalar_mix_uniform_start_gamma_and_mask():
    mix = ScalarMix(3)
    layers = [RNG.normal(size=(2, 4, 5)).astype("float32") for _ in range(3)]
    m = _mask([4, 2], 4)
    out = np.asarray(mix(layers, mask=m))
    expected = np.mean(layers, axis=0) * m[..., None]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    mix.gamma.assign([2.0])
    mix.mix_weights.assign([0.0, 0.0, 50.0])
    np.testing.assert_allclose(np.asarray(mix(layers, mask=m)), 2 * layers[2] * m[..., None],
                               atol=1e-5)


def test_masked_layer_norm_is_bilm_tf_formula():
    x = RNG.normal(loc=3.0, size=(2, 4, 5)).astype("float32")
    m = _mask([4, 1], 4)
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


# -------------------------------------------------------------- serialization
@pytest.mark.parametrize("layer", [
    Highway(carry_bias_initializer=-1.0),
    CharacterEncoder([[1, 4], [2, 8]], 4, 8, n_highway=1, activation="tanh"),
    LSTMPCell(8, 4, cell_clip=3, proj_clip=None),
    BiLM(8, 4, n_layers=3, use_skip_connections=False, stateful=True, max_batch_size=7),
    ScalarMix(3, do_layer_norm=True, l2_coef=0.01),
    LMSoftmax(37),
])
def test_get_config_round_trip(layer):
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


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


@pytest.mark.parametrize("layer", [
    elmo_keras.layers.AddSentenceBoundaries(20),
    elmo_keras.layers.RemoveSentenceBoundaries(),
])
def test_boundary_layers_config(layer):
    assert layer.__class__.from_config(layer.get_config()).get_config() == layer.get_config()
