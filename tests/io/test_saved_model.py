"""The TF Hub-style SavedModel: signatures, Reusable SavedModel interface, loaders."""

import json
import os
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import elmo_keras
from elmo_keras.apps.cli import main
from elmo_keras.models.elmo.elmo_outputs import hub_outputs
from tests.conftest import TINY
from tests.support.processes import run

BATCH = ["The river bank was muddy .", "I went to the bank", "", "Café naïve 東京 😀 ok"]
OUTPUT_KEYS = {"word_emb", "lstm_outputs1", "lstm_outputs2", "elmo", "default", "sequence_len"}


@pytest.fixture(scope="module")
def model():
    return elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "elmo"
    assert main(["export-hub", str(out), "--options", str(TINY / "options.json"),
                 "--weights", str(TINY / "lm_weights.hdf5")]) == 0
    return out


def _expected(model, sentences):
    toks = [s.split() for s in sentences]
    out = model(elmo_keras.batch_to_ids(toks))
    return {k: np.asarray(v) for k, v in hub_outputs(out).items()}


def test_signatures_match_in_process_model(model, hub_dir):
    loaded = tf.saved_model.load(str(hub_dir))
    assert set(loaded.signatures) == {"default", "tokens"}
    ref = _expected(model, BATCH)
    got = loaded.signatures["default"](strings=tf.constant(BATCH))
    assert set(got) == OUTPUT_KEYS
    for key in OUTPUT_KEYS:
        np.testing.assert_allclose(got[key].numpy(), ref[key], atol=1e-5, err_msg=key)
    toks = [s.split() for s in BATCH]
    width = max(map(len, toks))
    got = loaded.signatures["tokens"](
        tokens=tf.constant([t + [""] * (width - len(t)) for t in toks]),
        sequence_len=tf.constant([len(t) for t in toks], tf.int32))
    for key in OUTPUT_KEYS:
        np.testing.assert_allclose(got[key].numpy(), ref[key], atol=1e-5, err_msg=key)
    assert got["word_emb"].shape == (4, width, 16)
    assert np.all(got["elmo"].numpy()[2] == 0)  # the empty sentence: zeros
    np.testing.assert_array_equal(got["sequence_len"].numpy(), [6, 5, 0, 5])


def test_reusable_savedmodel_interface(model, hub_dir):
    loaded = tf.saved_model.load(str(hub_dir))
    assert len(loaded.variables) == len(model.weights)
    assert sorted(v.shape.as_list() for v in loaded.trainable_variables) == [[1], [3]]
    assert list(loaded.regularization_losses) == []
    for training in (False, True):
        out = loaded(tf.constant(BATCH[:2]), training=training)
        np.testing.assert_allclose(out["default"].numpy(), _expected(model, BATCH[:2])["default"],
                                   atol=1e-5)


def test_serving_edge_cases(model, hub_dir):
    sig = tf.saved_model.load(str(hub_dir)).signatures
    empty = sig["default"](strings=tf.constant([], tf.string))
    assert empty["elmo"].shape == (0, 0, 32) and empty["default"].shape == (0, 32)
    blank = sig["default"](strings=tf.constant(["", "  "]))
    assert blank["elmo"].shape == (2, 0, 32)
    np.testing.assert_array_equal(blank["default"].numpy(), 0)
    zero_len = sig["tokens"](tokens=tf.constant([["a", "b"], ["c", "d"]]),
                             sequence_len=tf.constant([2, 0]))
    assert np.all(zero_len["elmo"].numpy()[1] == 0) and zero_len["elmo"].shape == (2, 2, 32)
    long = " ".join(["word"] * 300)
    out = sig["default"](strings=tf.constant([long, "short one"]))
    assert out["elmo"].shape == (2, 300, 32)
    np.testing.assert_allclose(out["elmo"].numpy()[1, :2], _expected(model, ["short one"])["elmo"][0],
                               atol=1e-5)
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError),
                       match="(?i)string"):
        sig["default"](strings=tf.constant([1, 2]))
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError),
                       match="must be a vector, got shape: \\[1,1\\]"):
        sig["default"](strings=tf.constant([["a"]]))


_FRESH = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    import tf_keras
    path, ref_path = sys.argv[1], sys.argv[2]
    ref = np.load(ref_path)
    batch = json.loads(sys.argv[3])
    report = {}
    for name, obj in (("saved_model", tf.saved_model.load(path)), ("hub", hub.load(path))):
        out = obj.signatures["default"](strings=tf.constant(batch))
        report[name] = float(max(np.abs(out[k].numpy() - ref[k]).max() for k in ref.files))
    # hub.KerasLayer in a tf_keras model: a training step moves the mix and lowers the loss
    layer = hub.KerasLayer(path, trainable=True, output_key="default")
    inp = tf_keras.Input(shape=(), dtype=tf.string)
    model = tf_keras.Model(inp, tf_keras.layers.Dense(1, activation="sigmoid")(layer(inp)))
    model.compile(tf_keras.optimizers.Adam(0.05), "binary_crossentropy")
    x = tf.constant(["good fine great movie", "bad awful movie", "great fun", "awful bad"] * 4)
    y = tf.constant([1.0, 0.0, 1.0, 0.0] * 4)
    mix = [v for v in layer.trainable_weights if v.shape == (3,)][0]
    before_w = mix.numpy().copy()
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    report["keras_layer_trainable"] = len(layer.trainable_weights)
    report["loss_before"], report["loss_after"] = before, model.evaluate(x, y, verbose=0)
    report["mix_moved"] = float(np.abs(mix.numpy() - before_w).max())
    report["elmo_keras_imported"] = "elmo_keras" in sys.modules
    print(json.dumps(report))
""")


@pytest.mark.slow
def test_fresh_process_without_package_hub_load_and_keras_layer(model, hub_dir, tmp_path):
    ref = _expected(model, BATCH)
    np.savez(tmp_path / "ref.npz", **ref)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # A new process that never imports the package.
    proc = run([sys.executable, "-c", _FRESH, hub_dir, tmp_path / "ref.npz", json.dumps(BATCH)],
               env=env, cwd=tmp_path)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["elmo_keras_imported"] is False
    assert report["saved_model"] < 1e-5 and report["hub"] < 1e-5
    assert report["keras_layer_trainable"] == 2
    assert report["mix_moved"] > 1e-4
    assert report["loss_after"] < report["loss_before"]


def test_export_refuses_stateful_and_existing(hub_dir):
    with pytest.raises(FileExistsError):
        elmo_keras.export_hub(elmo_keras.load_exported_elmo(hub_dir), hub_dir)
    stateful = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5", stateful=True)
    with pytest.raises(ValueError, match="stateless"):
        elmo_keras.export_hub(stateful, hub_dir.parent / "x")


def test_cli_export_from_keras_file(model, tmp_path, capsys):
    model.save(tmp_path / "elmo.keras")
    out = tmp_path / "hub"
    assert main(["export-hub", str(out), "--model", str(tmp_path / "elmo.keras")]) == 0
    sig = tf.saved_model.load(str(out)).signatures["default"]
    np.testing.assert_allclose(sig(strings=tf.constant(BATCH))["elmo"].numpy(),
                               _expected(model, BATCH)["elmo"], atol=1e-5)
    assert main(["export-hub", str(tmp_path / "x"), "--model", str(tmp_path / "no.keras")]) == 2
    assert "no.keras': no such file or directory" in capsys.readouterr().err
