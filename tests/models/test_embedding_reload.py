"""`ELMoEmbedding` saved in a `.keras` file and loaded back computes what it computed
before saving, for each constructor argument that changes numbers or outputs; and each
argument is in effect before saving too (a layer built on a given `ELMo` applies its own
`do_layer_norm` and `l2_coef`, which its config records)."""

import keras
import numpy as np
import pytest

import elmo_keras as ek
from tests.conftest import TINY

IDS = ek.batch_to_ids([["The", "river", "bank", "."], ["Hi"]])
MIX = [0.5, -1.0, 2.0]  # unequal, so that layer norm and the L2 penalty show


@pytest.fixture(scope="module")
def elmo():
    model = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model.scalar_mixes[0].mix_weights.assign(MIX)
    return model


def _numpy(outputs):
    if isinstance(outputs, dict):
        return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
    return keras.ops.convert_to_numpy(outputs)


def _assert_same(a, b):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    else:
        np.testing.assert_array_equal(a, b)


def _reloaded(layer, tmp_path):
    """`(outputs before, the reloaded layer)`: `layer` in a functional model, saved as
    `.keras`, loaded back; its outputs on `IDS` asserted identical."""
    inputs = keras.Input(shape=(None, 50), dtype="int32")
    model = keras.Model(inputs, layer(inputs))
    before = _numpy(model(IDS))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    _assert_same(before, _numpy(loaded(IDS)))
    [again] = [x for x in loaded.layers if isinstance(x, ek.ELMoEmbedding)]
    return before, again


def test_do_layer_norm_on_a_given_model(elmo, tmp_path):
    plain = _numpy(ek.ELMoEmbedding(model=elmo)(IDS))
    layer = ek.ELMoEmbedding(model=elmo, do_layer_norm=True)
    assert layer.elmo.scalar_mixes[0].do_layer_norm
    before, again = _reloaded(layer, tmp_path)
    assert not np.allclose(before, plain)  # in effect before saving, not only after
    assert again.elmo.scalar_mixes[0].do_layer_norm
    # The given model is left as it is, its weights carried over.
    assert not elmo.scalar_mixes[0].do_layer_norm
    np.testing.assert_array_equal(layer.elmo.scalar_mixes[0].mix_weights.numpy(), MIX)


def test_the_layers_own_setting_wins_over_the_given_models(elmo, tmp_path):
    normed = ek.ELMo.from_preset(elmo, do_layer_norm=True, l2_coef=0.5)
    assert normed is not elmo and normed.scalar_mixes[0].do_layer_norm
    layer = ek.ELMoEmbedding(model=normed)  # do_layer_norm=False, l2_coef=None
    assert not layer.elmo.scalar_mixes[0].do_layer_norm
    assert layer.elmo.scalar_mixes[0].l2_coef is None
    before, _ = _reloaded(layer, tmp_path)
    _assert_same(before, _numpy(ek.ELMoEmbedding(model=elmo)(IDS)))
    # A model whose config the layer's arguments do not change is used as it is.
    assert ek.ELMoEmbedding(model=elmo).elmo is elmo


def test_l2_coef(elmo, tmp_path):
    layer = ek.ELMoEmbedding(model=elmo, l2_coef=0.01)
    layer(IDS)
    expected = 0.01 * float(np.sum(np.square(MIX)))
    np.testing.assert_allclose([float(x) for x in layer.losses], [expected], rtol=1e-6)
    _, again = _reloaded(layer, tmp_path)
    again(IDS)
    np.testing.assert_allclose([float(x) for x in again.losses], [expected], rtol=1e-6)


@pytest.mark.parametrize("output", ["word_emb", "lstm_outputs2", "default", "all"])
def test_output(elmo, tmp_path, output):
    layer = ek.ELMoEmbedding(model=elmo, output=output)
    before, again = _reloaded(layer, tmp_path)
    assert again.output_mode == output
    full = _numpy(ek.ELMoEmbedding(model=elmo, output="all")(IDS))
    _assert_same(before, full if output == "all" else full[output])


@pytest.mark.parametrize("trainable_mix, trainable_bilm", [(False, False), (True, True)])
def test_trainable_parts(elmo, tmp_path, trainable_mix, trainable_bilm):
    layer = ek.ELMoEmbedding(model=elmo, trainable_mix=trainable_mix,
                             trainable_bilm=trainable_bilm)
    mix = len(elmo.scalar_mixes[0].weights) if trainable_mix else 0
    bilm = len(elmo.weights) - len(elmo.scalar_mixes[0].weights) if trainable_bilm else 0
    assert len(layer.trainable_weights) == mix + bilm
    _, again = _reloaded(layer, tmp_path)
    assert len(again.trainable_weights) == mix + bilm


def test_dropout(elmo, tmp_path):
    layer = ek.ELMoEmbedding(model=elmo, dropout=0.5)
    train = _numpy(layer(IDS, training=True))
    assert np.mean(train == 0) > np.mean(_numpy(layer(IDS)) == 0)  # in effect
    _, again = _reloaded(layer, tmp_path)  # inference outputs identical
    assert again.dropout_rate == 0.5
    assert np.mean(_numpy(again(IDS, training=True)) == 0) > np.mean(
        _numpy(again(IDS)) == 0)


def test_bilm_files_and_preset_path(tmp_path):
    files = ek.ELMoEmbedding(options=TINY / "options.json", weights=TINY / "lm_weights.hdf5")
    before, _ = _reloaded(files, tmp_path)
    ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5").save_to_preset(
        tmp_path / "preset")
    by_path = ek.ELMoEmbedding(model=str(tmp_path / "preset"), do_layer_norm=True)
    assert by_path.elmo.scalar_mixes[0].do_layer_norm
    _reloaded(by_path, tmp_path / "preset")
    _assert_same(before, _numpy(ek.ELMoEmbedding(model=str(tmp_path / "preset"))(IDS)))
