"""Loading a model file never runs code from it: SavedModels are read as data, `.keras`
files in safe mode; broken files get one clear error."""

import json
import os
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import elmo_keras
from elmo_keras.apps.cli import main
from elmo_keras.io.saved_model import CONFIG_ASSET
from tests.conftest import TINY


@pytest.fixture(scope="module")
def model():
    return elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")


class _WritesAFile(tf.saved_model.experimental.TrackableResource):
    """A resource whose initializer (run by `tf.saved_model.load`) writes a file."""

    def __init__(self, target):
        self._target = target
        super().__init__()

    def _create_resource(self):
        return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[],
                                      shared_name=f"hostile_{id(self)}")

    def _initialize(self):
        tf.io.write_file(self._target, "code from the model file ran")


class _ListedVariables(tf.Module):
    variables = None  # a saved list instead of tf.Module's computed property


def _hostile_export(model, tmp_path):
    """A directory that looks like an elmo_keras export (config asset, named weights) and
    carries graph code that writes `tmp_path/pwned` when the SavedModel is loaded."""
    config = tmp_path / CONFIG_ASSET
    config.write_text(json.dumps(model.get_config()))
    module = tf.Module()
    module.named_variables = {w.path: w.value for w in model.weights}
    module.config_file = tf.saved_model.Asset(str(config))
    module.hostile = _WritesAFile(str(tmp_path / "pwned"))
    out = tmp_path / "hostile"
    tf.saved_model.save(module, str(out))
    return out


def test_savedmodel_is_read_as_data_never_run(model, tmp_path):
    hostile = _hostile_export(model, tmp_path)
    loaded = elmo_keras.ELMo.from_preset(hostile)
    assert not (tmp_path / "pwned").exists()
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The CLI loads it the same way.
    assert main(["export-hub", str(tmp_path / "re"), "--model", str(hostile)]) == 0
    assert not (tmp_path / "pwned").exists()
    # Positive control: loading the graph does run the code.
    tf.saved_model.load(str(hostile))
    assert (tmp_path / "pwned").read_text() == "code from the model file ran"


@pytest.mark.slow  # two SavedModel exports
def test_exported_weights_are_restored_by_name_not_position(model, tmp_path):
    hub = tmp_path / "hub"
    elmo_keras.export_hub(model, hub)
    reader = tf.train.load_checkpoint(str(hub / "variables" / "variables"))
    keys = reader.get_variable_to_shape_map()
    assert any(k.startswith("named_variables/") for k in keys)
    # A SavedModel listing the same named weights in another order loads the same.
    config = tmp_path / CONFIG_ASSET
    config.write_text(json.dumps(model.get_config()))
    module = tf.Module()
    module.named_variables = {w.path: w.value for w in reversed(model.weights)}
    module.config_file = tf.saved_model.Asset(str(config))
    tf.saved_model.save(module, str(tmp_path / "reordered"))
    # Exports from before `named_variables` (e.g. the shipped elmo-small-en/saved_model)
    # list the weights in model order: still read, with every shape checked.
    old = _ListedVariables()
    old.variables = [w.value for w in model.weights]
    old.config_file = tf.saved_model.Asset(str(config))
    tf.saved_model.save(old, str(tmp_path / "old"))
    for path in (hub, tmp_path / "reordered", tmp_path / "old"):
        got = elmo_keras.load_exported_elmo(path)
        for a, b in zip(got.weights, model.weights):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_broken_savedmodels_get_clear_errors(model, tmp_path):
    hub = tmp_path / "hub"
    elmo_keras.export_hub(model, hub)
    (hub / "assets" / CONFIG_ASSET).write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a valid ELMo config"):
        elmo_keras.load_exported_elmo(hub)
    config = model.get_config() | {"projection_dim": 8}
    (hub / "assets" / CONFIG_ASSET).write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"cannot read the weights of this SavedModel: weight "
                                         r"\S+ has shape \([\d, ]+\), expected"):
        elmo_keras.load_exported_elmo(hub)
    (hub / "assets" / CONFIG_ASSET).write_text(json.dumps(model.get_config()))
    (hub / "variables" / "variables.index").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read the weights of this SavedModel"):
        elmo_keras.load_exported_elmo(hub)


def test_garbage_and_hostile_keras_files(model, tmp_path, capsys):
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(os.urandom(2000))
    with pytest.raises(ValueError, match="not a .keras model file"):
        elmo_keras.ELMo.from_preset(garbage)
    empty_zip = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(ValueError, match="cannot load this .keras file"):
        elmo_keras.ELMo.from_preset(empty_zip)
    # A Lambda layer (code in the file) is refused by safe mode, with the reason.
    inp = keras.Input((3,))
    lam = keras.Model(inp, keras.layers.Lambda(lambda x: x * 2)(inp))
    lam.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="(?i)safe_mode|lambda"):
        elmo_keras.ELMo.from_preset(tmp_path / "lambda.keras")
    out = str(tmp_path / "x")
    assert main(["export-hub", out, "--model", str(garbage)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {garbage}: not a .keras model file (not a zip archive)"
