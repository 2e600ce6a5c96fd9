"""Google's TF Hub ELMo module read as data (`elmo_keras.io.tfhub_module`).

No download: a replica module is built in the TF1 Hub layout from a small random biLM
(`tests/support/hub_replica.py`: its bilm-tf weights renamed to the module's variable
names, written with `SaveV2`; `saved_model.pb` and `tfhub_module.pb` are empty
placeholders, as the reader never opens them).
"""

import json
import os

import numpy as np
import pytest

import elmo_keras
from elmo_keras.io import tfhub_module as hub
from elmo_keras.models.elmo.elmo_preset_loader import load_preset
from tests.support.hub_replica import (OPTIONS, bilm_datasets, build_replica,
                                       files_under, module_entries, tarball,
                                       write_module)
from tests.support.processes import run_python

SENTENCES = [["The", "bank", "of", "the", "river", "."], ["Hi", "there"], ["x"]]
TOL = 1e-6


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    """A replica module, the bilm-tf files it came from, and its scalar mix."""
    return build_replica(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def tf_results(replica):
    """The module loaded on TensorFlow, its outputs and load_bilm's on the same weights,
    and a preset directory + expected outputs for the other backends."""
    root = replica["root"]
    model = elmo_keras.ELMo.from_preset(replica["module"])  # the module's loader
    reference = elmo_keras.load_bilm(root / "options.json", root / "weights.hdf5")
    ids = elmo_keras.batch_to_ids(SENTENCES)
    out = {k: np.asarray(v) for k, v in model(ids).items() if k != "elmo_representations"}
    out["elmo"] = np.asarray(model(ids)["elmo_representations"][0])
    reference.scalar_mixes[0].mix_weights.assign(replica["mix"])
    reference.scalar_mixes[0].gamma.assign([replica["scaling"]])
    ref = {k: np.asarray(v) for k, v in reference(ids).items()
           if k != "elmo_representations"}
    ref["elmo"] = np.asarray(reference(ids)["elmo_representations"][0])
    preset = model.save_to_preset(root / "preset")
    np.savez(root / "expected.npz", ids=np.asarray(ids), mix=replica["mix"],
             scaling=replica["scaling"], **{f"tf_{k}": v for k, v in out.items()})
    return {"model": model, "out": out, "ref": ref, "preset": preset}


def test_module_reads_as_bilm_options_and_weights(replica):
    options, weights = hub.read_hub_module(replica["module"])
    assert options == OPTIONS
    bilm = replica["bilm_weights"]
    assert sorted(weights) == sorted([*bilm, hub.MIX_WEIGHTS, hub.MIX_SCALING])
    for name, value in bilm.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)
    assert weights["char_embed"].shape == (261, 4)  # the padding row dropped
    np.testing.assert_array_equal(weights[hub.MIX_WEIGHTS], replica["mix"])
    assert weights[hub.MIX_SCALING].shape == ()
    assert weights[hub.MIX_SCALING] == replica["scaling"]


def test_names_map_both_ways():
    pairs = {
        "bilm/char_embed": "char_embed",
        "bilm/CNN/W_cnn_6": "CNN/W_cnn_6",
        "bilm/CNN_high_1/b_transform": "CNN_high_1/b_transform",
        "bilm/CNN_proj/W_proj": "CNN_proj/W_proj",
        "bilm/RNN_1/RNN/MultiRNNCell/Cell1/rnn/lstm_cell/kernel":
            "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0",
        "bilm/RNN_0/RNN/MultiRNNCell/Cell0/rnn/lstm_cell/bias":
            "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/B",
        "bilm/RNN_0/RNN/MultiRNNCell/Cell1/rnn/lstm_cell/projection/kernel":
            "RNN_0/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0",
    }
    for hub_name, bilm_name in pairs.items():
        assert hub.hub_to_bilm_name(hub_name) == bilm_name
        assert hub.bilm_to_hub_name(bilm_name) == hub_name
    assert hub.hub_to_bilm_name("aggregation/weights") is None


def test_outputs_equal_load_bilm_on_tensorflow(tf_results):
    out, ref = tf_results["out"], tf_results["ref"]
    diffs = {k: float(np.abs(out[k] - ref[k]).max())
             for k in ("lm_embeddings", "token_embeddings", "elmo")}
    print("tensorflow max abs diff vs load_bilm:", diffs)
    assert max(diffs.values()) <= TOL, diffs
    np.testing.assert_array_equal(out["mask"], ref["mask"])


def test_scalar_mix_is_the_modules_and_the_model_trains(tf_results, replica):
    import tensorflow as tf

    model = tf_results["model"]
    mix = model.scalar_mixes[0]
    np.testing.assert_array_equal(mix.mix_weights.numpy(), replica["mix"])
    np.testing.assert_array_equal(mix.gamma.numpy(), [replica["scaling"]])
    # what the module computes: scaling * sum_j softmax(weights)_j * layer_j
    out = tf_results["out"]
    s = np.exp(replica["mix"]) / np.exp(replica["mix"]).sum()
    mixed = replica["scaling"] * np.einsum("j,bjtd->btd", s, out["lm_embeddings"])
    # float32 sums in another order (oneDNN on an Intel Xeon): a few ulps of values
    # up to 4, 1.2e-6 seen; a wrong weight or layer is off by tenths
    np.testing.assert_allclose(out["elmo"], mixed * out["mask"][..., None], rtol=1e-6,
                               atol=TOL)
    assert len(model.trainable_weights) == len(model.weights) > 0
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(elmo_keras.batch_to_ids(SENTENCES))
                             ["elmo_representations"][0] ** 2)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads)
    two = load_preset(elmo_keras.ELMo, replica["module"], num_output_representations=2,
                      cell_clip=None)  # None given: no clip (from_preset ignores None)
    assert two.cell_clip is None and two.proj_clip == 3
    for m in two.scalar_mixes:
        np.testing.assert_array_equal(m.mix_weights.numpy(), replica["mix"])
    with pytest.raises(hub.HubModuleError, match="lstm_dim cannot be overridden"):
        elmo_keras.ELMo.from_preset(replica["module"], lstm_dim=32)


def test_save_to_preset_writes_the_same_bilm_weights(tf_results, replica):
    preset = tf_results["preset"]
    assert json.loads((preset / "options.json").read_text())["lstm"] == OPTIONS["lstm"]
    written = bilm_datasets(preset / "weights.hdf5")
    assert sorted(written) == sorted(replica["bilm_weights"])
    for name, value in replica["bilm_weights"].items():
        np.testing.assert_array_equal(written[name], value, err_msg=name)
    again = elmo_keras.ELMo.from_preset(preset)
    ids = elmo_keras.batch_to_ids(SENTENCES)
    np.testing.assert_array_equal(np.asarray(again(ids)["elmo_representations"][0]),
                                  tf_results["out"]["elmo"])


# On JAX / PyTorch (TensorFlow unimportable there): the module's model, saved by the
# TensorFlow test with save_to_preset, against load_bilm on the original bilm-tf files
# with the module's mix (same backend: equal within TOL), and against TensorFlow's
# outputs (other arithmetic: within CROSS_TOL, the parity tests' bound).
PARITY = """
import sys
import numpy as np
import elmo_keras
from keras import ops
preset, root, tol, cross_tol = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
model = elmo_keras.ELMo.from_preset(preset)
reference = elmo_keras.load_bilm(root + "/options.json", root + "/weights.hdf5")
expected = np.load(root + "/expected.npz")
reference.scalar_mixes[0].mix_weights.assign(expected["mix"])
reference.scalar_mixes[0].gamma.assign(expected["scaling"].reshape(1))
out, ref = model(expected["ids"]), reference(expected["ids"])
same, cross = {}, {}
for key, name in (("lm_embeddings", "lm_embeddings"), ("token_embeddings", "token_embeddings"),
                  ("elmo_representations", "elmo")):
    ours = ops.convert_to_numpy(out[key][0] if key == "elmo_representations" else out[key])
    theirs = ops.convert_to_numpy(ref[key][0] if key == "elmo_representations" else ref[key])
    same[name] = float(np.abs(ours - theirs).max())
    cross[name] = float(np.abs(ours - expected["tf_" + name]).max())
print("vs load_bilm", same, "vs tensorflow", cross)
assert max(same.values()) <= tol and max(cross.values()) <= cross_tol, (same, cross)
"""
CROSS_TOL = 1e-5


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_outputs_equal_load_bilm_on_other_backends(tf_results, replica, backend):
    result = run_python(PARITY, tf_results["preset"], replica["root"], TOL, CROSS_TOL,
                        backend=backend)
    print(backend, "max abs diff:", result.stdout.strip())


def test_other_architecture_is_inferred(tmp_path):
    """No LSTM projection (P == H), no CNN projection (filters sum to P), no highway,
    one layer; a 261-row char_embed is taken as is."""
    options = {
        "char_cnn": {"activation": "relu", "embedding": {"dim": 3},
                     "filters": [[1, 2], [3, 6]], "max_characters_per_token": 50,
                     "n_characters": 262, "n_highway": 0},
        "lstm": {"cell_clip": 3, "dim": 8, "n_layers": 1, "proj_clip": 3,
                 "projection_dim": 8, "use_skip_connections": True},
    }
    model = elmo_keras.ELMo.from_options(options)
    elmo_keras.save_bilm_weights(model, tmp_path / "weights.hdf5")
    variables = {hub.bilm_to_hub_name(n): v
                 for n, v in bilm_datasets(tmp_path / "weights.hdf5").items()}
    variables["aggregation/weights"] = np.zeros(2, "float32")
    variables["aggregation/scaling"] = np.float32(1)
    module = write_module(tmp_path / "module", variables)
    read, weights = hub.read_hub_module(module)
    assert read == options
    assert weights["char_embed"].shape == (261, 3)
    assert "CNN_proj/W_proj" not in weights
    assert "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_0" not in weights


def _broken(tmp_path, replica, drop=(), add=None):
    variables = {k: v for k, v in replica["variables"].items() if k not in drop}
    variables.update(add or {})
    return write_module(tmp_path / "broken", variables)


def test_missing_variables_are_refused_and_listed(tmp_path, replica):
    module = _broken(tmp_path, replica, drop=(
        "bilm/CNN_high_0/b_carry",
        "bilm/RNN_1/RNN/MultiRNNCell/Cell1/rnn/lstm_cell/bias"))
    with pytest.raises(hub.HubModuleError) as e:
        hub.read_hub_module(module)
    message = str(e.value)
    assert "\n" not in message and str(module) in message
    assert "missing variable(s) bilm/CNN_high_0/b_carry, " \
           "bilm/RNN_1/RNN/MultiRNNCell/Cell1/rnn/lstm_cell/bias" in message


def test_unexpected_variables_are_refused_and_listed(tmp_path, replica):
    module = _broken(tmp_path, replica, add={
        "bilm/extra/kernel": np.zeros((4, 16), "float32"),
        "global_step": np.zeros((), "float32")})
    with pytest.raises(hub.HubModuleError,
                       match=r"unexpected variable\(s\) bilm/extra/kernel, global_step"):
        hub.read_hub_module(module)


def test_shapes_that_fit_no_architecture_are_refused(tmp_path, replica):
    module = _broken(tmp_path, replica, add={"aggregation/weights": np.zeros(4, "float32")})
    with pytest.raises(hub.HubModuleError, match=r"'aggregation/weights' \(4,\) "
                                                 r"\(expected \(3,\)\)"):
        hub.read_hub_module(module)


def test_sizes_above_the_bounds_are_refused_before_reading(tmp_path, replica):
    """An LSTM size above `LIMITS` (from one bias's shape) is refused by the options'
    bounds, before the other shapes are compared or any value is read."""
    bias = "bilm/RNN_0/RNN/MultiRNNCell/Cell0/rnn/lstm_cell/bias"
    module = _broken(tmp_path, replica, add={bias: np.zeros(4 * 70000, "float32")})
    with pytest.raises(hub.HubModuleError, match="lstm.dim") as e:
        hub.read_hub_module(module)
    assert str(module) in str(e.value)


def test_unreadable_values_are_refused(tmp_path, replica):
    """A data file cut short (the index intact): one line naming the variable."""
    module = _broken(tmp_path, replica)
    data = next((module / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(hub.HubModuleError, match=r"variable '.*' cannot be read") as e:
        hub.read_hub_module(module)
    assert "\n" not in str(e.value) and str(module) in str(e.value)


def test_not_a_module_is_refused(tmp_path):
    with pytest.raises(hub.HubModuleError, match="no variables/variables.index"):
        hub.read_hub_module(tmp_path)
    (tmp_path / "variables").mkdir()
    (tmp_path / "variables" / "variables.index").write_bytes(b"garbage")
    with pytest.raises(hub.HubModuleError, match="not a readable TensorFlow checkpoint"):
        hub.read_hub_module(tmp_path)


def test_reading_needs_tensorflow(replica):
    code = """
    import sys
    from elmo_keras.io.tfhub_module import read_hub_module
    try:
        read_hub_module(sys.argv[1])
    except ImportError as e:
        print(e)
    """
    out = run_python(code, replica["module"], backend="jax").stdout
    assert "reading a TF Hub module needs TensorFlow" in out


# ---------------------------------------------------------------- safe_extract

@pytest.mark.parametrize("entry, why", [
    (("../evil", "file", b"x"), "absolute path or '..'"),
    (("ok/../../evil", "file", b"x"), "absolute path or '..'"),
    (("/tmp/evil_abs_elmo_hub", "file", b"x"), "absolute path or '..'"),
    (("link", "symlink", "../evil"), "is a symlink"),
    (("hard", "hardlink", "/etc/passwd"), "is a hard link"),
    (("dev", "device", None), "is a device"),
])
def test_safe_extract_refuses_unsafe_entries(tmp_path, entry, why):
    archive = tarball(tmp_path / "m.tar.gz", [("tfhub_module.pb", "file", b""), entry])
    target = tmp_path / "out" / "target"
    with pytest.raises(hub.HubModuleError, match=why) as e:
        hub.safe_extract(archive, target)
    assert str(archive) in str(e.value) and "\n" not in str(e.value)
    assert not target.exists()  # checked before anything is written
    assert files_under(tmp_path) == ["m.tar.gz"]
    assert not os.path.lexists("/tmp/evil_abs_elmo_hub")


def test_safe_extract_never_writes_through_a_symlink_in_target(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "sub").symlink_to(outside)
    (target / "f").symlink_to(outside / "f")
    for name in ("sub/evil", "f"):
        archive = tarball(tmp_path / "m.tar.gz", [(name, "file", b"x")])
        with pytest.raises(hub.HubModuleError):
            hub.safe_extract(archive, target)
    assert list(outside.iterdir()) == []


def test_safe_extract_unpacks_a_module_tarball_that_loads(tmp_path, replica):
    module = replica["module"]
    archive = tarball(tmp_path / "elmo_3.tar.gz", module_entries(module))
    out = hub.safe_extract(archive, tmp_path / "unpacked")
    assert files_under(out) == files_under(module)
    assert hub.is_hub_module(out)
    options, _ = hub.read_hub_module(archive)  # a tarball is unpacked to a temporary dir
    assert options == OPTIONS
    with pytest.raises(hub.HubModuleError, match="more than 10 bytes"):
        hub.safe_extract(archive, tmp_path / "small", max_bytes=10)


def test_from_preset_resolves_a_module_directory(replica, tf_results):
    """`ELMo.from_preset(DIR)` (every entry point's resolver) reads a directory holding
    `tfhub_module.pb` as a hub module, not as an export (it holds saved_model.pb too)."""
    from elmo_keras.models.elmo.elmo_preset_loader import resolve_preset

    assert resolve_preset(replica["module"])[0] == "tfhub"
    model = elmo_keras.ELMo.from_preset(replica["module"])
    out = model(elmo_keras.batch_to_ids(SENTENCES))
    np.testing.assert_array_equal(np.asarray(out["lm_embeddings"]),
                                  tf_results["out"]["lm_embeddings"])
