"""Hostile model files and inputs (issue 22, round two): FIFOs and endless devices are
refused before they are opened, JSON files have a size cap, every size has a bound checked
before a model is built, NaN/inf weights are refused on every route, every `from_preset`
resolves and fails the same way, and every input route checks char ids."""

import contextlib
import json
import os
import shutil
import threading
import time
import zipfile

import h5py
import numpy as np
import pytest
import tensorflow as tf

import elmo_keras as ek
from elmo_keras.io.bilm_hdf5 import WeightFileError
from elmo_keras.io.bilm_options import LIMITS, MAX_PARAMETERS, check_model_config
from elmo_keras.io.model_files import MAX_JSON_BYTES
from elmo_keras import load_exported_elmo
from elmo_keras.io.saved_model import CONFIG_ASSET
from elmo_keras.models.elmo.elmo_presets import PRESETS_DIR
from tests.conftest import TINY
from tests.support.processes import run_python
from tests.support.special_files import ZERO, char_device

IDS = ek.batch_to_ids([["The", "bank", "."], ["Hi"]])
OPTIONS = json.loads((TINY / "options.json").read_text())
NOT_REGULAR = "not a regular file; refusing to read it"


@pytest.fixture(scope="module")
def model():
    return ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")


@pytest.fixture(scope="module")
def saved_preset(model, tmp_path_factory):
    return model.save_to_preset(tmp_path_factory.mktemp("preset") / "p")


@pytest.fixture
def preset(saved_preset, tmp_path):
    """A fresh copy of a saved preset (config.json, model.weights.h5, tokenizer.json,
    metadata.json, options.json, weights.hdf5) to break."""
    shutil.copytree(saved_preset, tmp_path / "p")
    return tmp_path / "p"


@contextlib.contextmanager
def fifo(path):
    """`path` replaced by a FIFO for the block (removed after). Should the code under
    test open it anyway, a writer opens and closes it after a few seconds: the read ends
    (at EOF) and the test fails instead of hanging."""
    if os.path.lexists(path):
        os.unlink(path)
    os.mkfifo(path)
    done = threading.Event()

    def unblock():
        while not done.wait(3):
            with contextlib.suppress(OSError):  # ENXIO: no reader waiting
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join()
        os.unlink(path)


def _options_dir(tmp_path, options):
    d = tmp_path / "bilm"
    d.mkdir()
    (d / "options.json").write_text(json.dumps(options))
    shutil.copy(TINY / "lm_weights.hdf5", d / "weights.hdf5")
    return d


def _set_preset_config(preset, **changes):
    path = preset / "config.json"
    config = json.loads(path.read_text())
    config["config"].update(changes)
    path.write_text(json.dumps(config))


# ---------------------------------------------------------------- 1. file types, sizes
@pytest.mark.parametrize("name, error", [
    ("config.json", ek.PresetError),
    ("model.weights.h5", ek.PresetError),
    ("tokenizer.json", ek.PresetError),
])
def test_fifo_preset_files_are_refused_not_opened(preset, name, error):
    with fifo(preset / name):
        load = ek.ELMoTokenizer.from_preset if name == "tokenizer.json" else ek.ELMo.from_preset
        with pytest.raises(error, match=f"{name}: .* is a FIFO \\(named pipe\\), {NOT_REGULAR}"):
            load(preset)


def test_fifo_bilm_files_are_refused_not_opened(tmp_path):
    d = _options_dir(tmp_path, OPTIONS)
    with fifo(d / "options.json"):
        with pytest.raises(ek.OptionsError, match="options.json: options file is a FIFO"):
            ek.ELMo.from_preset(d)
    (d / "options.json").write_text(json.dumps(OPTIONS))
    with fifo(d / "weights.hdf5"):
        with pytest.raises(WeightFileError, match="weights.hdf5: weight file is a FIFO"):
            ek.ELMo.from_preset(d)


def test_a_keras_fifo_is_refused_not_opened(tmp_path):
    with fifo(tmp_path / "m.keras") as path:
        with pytest.raises(ek.PresetError, match="m.keras: .keras file is a FIFO"):
            ek.ELMo.from_preset(path)


def test_links_to_an_endless_device_are_refused(preset, tmp_path):
    zero = char_device(tmp_path / "zero", ZERO)  # an endless file
    for name in ("config.json", "tokenizer.json"):
        kept = (preset / name).read_bytes()
        (preset / name).unlink()
        (preset / name).symlink_to(zero)
        load = ek.ELMoTokenizer.from_preset if name == "tokenizer.json" else ek.ELMo.from_preset
        with pytest.raises(ek.PresetError,
                           match=f"{name}: .* is a character device \\(a symbolic link to "
                                 f"{zero}\\), {NOT_REGULAR}"):
            load(preset)
        (preset / name).unlink()
        (preset / name).write_bytes(kept)
    d = _options_dir(tmp_path, OPTIONS)
    (d / "options.json").unlink()
    (d / "options.json").symlink_to(zero)
    with pytest.raises(ek.OptionsError, match="options file is a character device"):
        ek.load_options(d / "options.json")


def test_json_files_have_a_size_cap(preset, tmp_path):
    big = b'{"pad": "' + b"x" * MAX_JSON_BYTES + b'"}'
    (preset / "config.json").write_bytes(big)
    with pytest.raises(ek.PresetError, match=rf"config.json: model config holds {len(big)} "
                                             rf"bytes, above the bound of {MAX_JSON_BYTES}"):
        ek.ELMo.from_preset(preset)
    (preset / "tokenizer.json").write_bytes(big)
    with pytest.raises(ek.PresetError, match="tokenizer config holds .* above the bound"):
        ek.ELMoTokenizer.from_preset(preset)
    (tmp_path / "options.json").write_bytes(big)
    with pytest.raises(ek.OptionsError, match="options file holds .* above the bound"):
        ek.load_options(tmp_path / "options.json")


def test_an_exports_config_is_read_safely(tmp_path):
    """The export route reads assets/elmo_config.json through the same reader and
    checks its sizes before it touches the checkpoint (none here)."""
    hub = tmp_path / "hub"
    (hub / "assets").mkdir(parents=True)
    (hub / "saved_model.pb").write_bytes(b"not read")
    config = ek.load_options(OPTIONS).model_kwargs() | {"num_output_representations": 10**6}
    (hub / "assets" / CONFIG_ASSET).write_text(json.dumps(config))
    with pytest.raises(ek.PresetError, match="num_output_representations is 1000000, above "
                                             "the bound 64"):
        ek.ELMo.from_preset(hub)
    with fifo(hub / "assets" / CONFIG_ASSET):
        with pytest.raises(ek.PresetError, match="export config is a FIFO"):
            load_exported_elmo(hub)
    (hub / "assets" / CONFIG_ASSET).write_bytes(b" " * (MAX_JSON_BYTES + 1))
    with pytest.raises(ValueError, match="export config holds .* above the bound"):
        load_exported_elmo(hub)


# ------------------------------------------------------------------------- 2. bounds
@pytest.mark.parametrize("section, key, value, message", [
    ("lstm", "dim", 1e7, "lstm.dim is 10000000, above the bound 65536"),
    ("lstm", "n_layers", 1e5, "lstm.n_layers is 100000, above the bound 64"),
    ("char_cnn", "filters", [[1, 1e9]],
     "the sum of the char_cnn.filters counts is 1000000000, above the bound 65536"),
    ("char_cnn", "max_characters_per_token", 1e9,
     "char_cnn.max_characters_per_token is 1000000000, above the bound 1000"),
    ("char_cnn", "embedding", {"dim": 1e9},
     "char_cnn.embedding.dim is 1000000000, above the bound 4096"),
    ("char_cnn", "n_highway", 1e5, "char_cnn.n_highway is 100000, above the bound 64"),
    ("char_cnn", "filters", [[1, 4]] * 100,
     "char_cnn.filters has 100 \\[width, num_filters\\] pairs, above the bound 64"),
    ("lstm", "dim", 1e400, "lstm.dim is inf; expected an integer"),
    ("lstm", "dim", 64.5, "lstm.dim is 64.5; expected an integer"),
    ("lstm", "n_layers", "2", "lstm.n_layers is '2'; expected an integer"),
    ("lstm", "cell_clip", float("nan"),
     "lstm.cell_clip is nan; expected a positive finite number or null"),
    ("lstm", "proj_clip", float("inf"),
     "lstm.proj_clip is inf; expected a positive finite number or null"),
])
def test_absurd_options_are_refused_before_building(tmp_path, section, key, value, message):
    options = json.loads(json.dumps(OPTIONS))
    options[section][key] = value
    d = _options_dir(tmp_path, options)
    start = time.monotonic()
    with pytest.raises(ek.OptionsError, match=f"options.json: {message}"):
        ek.ELMo.from_preset(d)
    assert time.monotonic() - start < 5  # refused, not allocated


def test_a_combination_of_allowed_sizes_is_bounded_by_the_parameter_count():
    options = json.loads(json.dumps(OPTIONS))
    options["lstm"].update(dim=65536, projection_dim=16384, n_layers=8)  # each allowed
    options["char_cnn"]["filters"] = [[1, 16384]]
    with pytest.raises(ek.OptionsError, match=rf"options: these sizes make a model of \d+ "
                                              rf"parameters, above the bound {MAX_PARAMETERS}"):
        ek.load_options(options)


@pytest.mark.parametrize("changes, message", [
    (dict(lstm_dim=10**7), "lstm_dim is 10000000, above the bound 65536"),
    (dict(n_layers=10**5), "n_layers is 100000, above the bound 64"),
    (dict(num_output_representations=10**6),
     "num_output_representations is 1000000, above the bound 64"),
    (dict(filters=[[1, 10**9]]),
     "the sum of the filters counts is 1000000000, above the bound 65536"),
    (dict(max_characters_per_token=10**9),
     "max_characters_per_token is 1000000000, above the bound 1000"),
    (dict(char_embedding_dim=10**9), "char_embedding_dim is 1000000000, above the bound 4096"),
    (dict(n_highway=10**5), "n_highway is 100000, above the bound 64"),
    (dict(max_batch_size=10**9), "max_batch_size is 1000000000, above the bound 1048576"),
    (dict(cell_clip=float("nan")), "cell_clip is nan; expected a positive finite number"),
    (dict(stateful=True, max_batch_size=2**20, lstm_dim=4096, projection_dim=64, n_layers=64),
     "these sizes make a model of 558649908822 values \\(weights and kept states\\), "
     "above the bound 1073741824"),
    (dict(evil=1), "unknown ELMo config key\\(s\\) evil"),
])
def test_absurd_preset_configs_are_refused_before_building(preset, changes, message):
    _set_preset_config(preset, **changes)
    start = time.monotonic()
    with pytest.raises(ek.PresetError, match=f"config.json: {message}"):
        ek.ELMo.from_preset(preset)
    assert time.monotonic() - start < 5


def test_every_published_size_fits_and_the_count_is_exact(model):
    original = {  # the largest published ELMo, "original" (5.5B has the same sizes)
        "char_cnn": {"activation": "relu", "embedding": {"dim": 16}, "n_characters": 262,
                     "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512],
                                 [7, 1024]], "max_characters_per_token": 50, "n_highway": 2},
        "lstm": {"cell_clip": 3, "dim": 4096, "n_layers": 2, "proj_clip": 3,
                 "projection_dim": 512, "use_skip_connections": True}}
    assert ek.load_options(original).parameter_count() == 93600868
    assert ek.load_options(OPTIONS).parameter_count() == model.count_params()
    shipped = ek.load_options(PRESETS_DIR / "elmo_small_en" / "options.json")
    assert shipped.parameter_count() == 2996452
    assert max(LIMITS.values()) <= MAX_PARAMETERS
    check_model_config(model.get_config(), "tiny")


# ------------------------------------------------------------------- 3. NaN and inf
def _poison(path, dataset_filter=lambda name: True):
    """Sets one value of the first float dataset of an HDF5 file to NaN; its name."""
    names = []
    with h5py.File(path, "r+") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                     and o.dtype.kind == "f" and o.size and dataset_filter(n) else None)
        ds = f[names[0]]
        value = ds[...]
        value.flat[0] = np.nan
        ds[...] = value
    return names[0]


def test_nan_in_a_presets_weights_is_refused(preset):
    _poison(preset / "model.weights.h5")
    with pytest.raises(ek.PresetError, match=r"model.weights.h5: weight '\S+' holds 1 NaN or "
                                             r"infinite value\(s\)"):
        ek.ELMo.from_preset(preset)


def test_nan_in_a_bilm_weight_file_is_refused(tmp_path):
    d = _options_dir(tmp_path, OPTIONS)
    name = _poison(d / "weights.hdf5")
    with pytest.raises(WeightFileError, match=f"dataset '{name}' holds NaN or inf"):
        ek.ELMo.from_preset(d)


def test_nan_in_a_keras_file_is_refused(model, tmp_path):
    bad = ek.ELMo.from_config(model.get_config())
    for a, b in zip(bad.weights, model.weights):
        a.assign(b)
    value = np.asarray(bad.char_encoder.char_embeddings)
    value[3, 0] = np.inf
    bad.char_encoder.char_embeddings.assign(value)
    bad.save(tmp_path / "bad.keras")
    with pytest.raises(ek.PresetError, match=r"bad.keras: weight '\S*char_embeddings' holds 1 "
                                             r"NaN or infinite"):
        ek.ELMo.from_preset(tmp_path / "bad.keras")


def test_nan_in_an_export_is_refused(model, tmp_path):
    config = tmp_path / CONFIG_ASSET
    config.write_text(json.dumps(model.get_config()))
    module = tf.Module()
    values = {w.path: np.array(w) for w in model.weights}
    first = next(iter(values))
    values[first].flat[0] = np.nan
    module.named_variables = {k: tf.Variable(v) for k, v in values.items()}
    module.config_file = tf.saved_model.Asset(str(config))
    tf.saved_model.save(module, str(tmp_path / "hub"))
    with pytest.raises(ValueError, match=f"cannot read the weights of this SavedModel: weight "
                                         f"'{first}' holds 1 NaN"):
        ek.ELMo.from_preset(tmp_path / "hub")


def test_a_weight_file_cannot_unpack_into_more_than_the_model(preset):
    with h5py.File(preset / "model.weights.h5", "a") as f:  # 2^31 zeros in a few KB
        f.create_dataset("bomb", shape=(2**31,), dtype="float32", chunks=(2**20,),
                         compression="gzip", fillvalue=0)
    with pytest.raises(ek.PresetError, match=r"weights file holds \d+ values \(dataset 'bomb' "
                                             r"alone 2147483648\), above the bound"):
        ek.ELMo.from_preset(preset)


def test_a_keras_files_weights_cannot_unpack_into_more_than_the_model(model, tmp_path):
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    (tmp_path / "w.h5").write_bytes(members["model.weights.h5"])
    with h5py.File(tmp_path / "w.h5", "a") as f:
        f.create_dataset("bomb", shape=(2**31,), dtype="float32", chunks=(2**20,),
                         compression="gzip", fillvalue=0)
    members["model.weights.h5"] = (tmp_path / "w.h5").read_bytes()
    with zipfile.ZipFile(tmp_path / "bomb.keras", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ek.PresetError, match=r"bomb.keras/model.weights.h5: .keras file's "
                                             r"weights holds \d+ values \(dataset 'bomb'"):
        ek.ELMo.from_preset(tmp_path / "bomb.keras")


# -------------------------------------------------------- 4. one resolution, one error
@pytest.mark.parametrize("preset", [None, 3, "elmo_smal_en", "/nonexistent", "https://x/y"])
def test_every_from_preset_refuses_the_same_way(preset):
    with pytest.raises(ek.PresetError) as expected:
        ek.ELMo.from_preset(preset)
    for load in (ek.ELMoTokenizer.from_preset, ek.ELMoEmbedding.from_preset,
                 lambda p: ek.ELMoTextClassifier.from_preset(p, num_classes=2),
                 ek.ELMoTextEmbedder.from_preset):
        with pytest.raises(ek.PresetError) as got:
            load(preset)
        assert str(got.value) == str(expected.value)


def test_a_tokenizer_json_out_of_bounds_is_refused(preset):
    path = preset / "tokenizer.json"
    data = json.loads(path.read_text())
    data["config"]["max_characters_per_token"] = 10**9
    path.write_text(json.dumps(data))
    with pytest.raises(ek.PresetError, match=r"tokenizer.json: max_characters_per_token is "
                                             r"1000000000; expected an integer in \[3, 1000\]"):
        ek.ELMoTokenizer.from_preset(preset)
    data["config"].update(max_characters_per_token=50, split="sentencepiece")
    path.write_text(json.dumps(data))
    with pytest.raises(ek.PresetError, match="tokenizer.json: split is 'sentencepiece'"):
        ek.ELMoTokenizer.from_preset(preset)
    assert ek.ELMoTokenizer.from_preset("elmo_small_en").split == "corpus"


# ------------------------------------------------------------ 5. one input validator
def _bad_ids():
    bad = IDS.copy()
    bad[1, 0, :] = -1  # a token of all negative ids: would be masked to zero
    return bad


def test_negative_ids_are_refused_on_every_eager_route(model):
    message = r"character id -1 at \[1, 0, 0\] is out of range \[0, 261\] \(50 such id"
    for call in (lambda x: model(x), lambda x: model(tf.constant(x)),
                 lambda x: model(tf.constant(x), training=False),
                 lambda x: model.predict(tf.constant(x), verbose=0),
                 lambda x: ek.ELMoEmbedding(model=model)(x),
                 lambda x: ek.ELMoEmbedding(model=model)(tf.constant(x))):
        with pytest.raises(ValueError, match=message):
            call(_bad_ids())
    too_big = IDS.copy()
    too_big[0, 2, 5] = 262
    with pytest.raises(ValueError, match=r"character id 262 at \[0, 2, 5\] is out of range"):
        model(tf.constant(too_big))
    with pytest.raises(ValueError, match="character ids must be integers, got dtype float32"):
        model(tf.constant(IDS, dtype=tf.float32))
    # Good ids still give the same output on every route.
    np.testing.assert_array_equal(np.asarray(model(tf.constant(IDS))["lm_embeddings"]),
                                  np.asarray(model(IDS)["lm_embeddings"]))


def _ids_with_a_hole():
    """Row 0's middle token emptied (all ids 0, padding's mark) with a real token after
    it: the backward LM, which reads a row from its last real token, would mix the
    rows' positions (silently wrong outputs), so every route refuses it."""
    holed = IDS.copy()
    holed[0, 1, :] = 0
    return holed


def test_padding_before_a_rows_last_token_is_refused(model):
    message = (r"token 1 of row 0 is empty \(all ids 0, which marks padding\) but token "
               r"2 after it is not")
    for call in (lambda x: model(x), lambda x: model(tf.constant(x)),
                 lambda x: model.predict(x, verbose=0),
                 lambda x: ek.ELMoEmbedding(model=model)(x)):
        with pytest.raises(ValueError, match=message):
            call(_ids_with_a_hole())
    run = tf.function(lambda x: model(x)["lm_embeddings"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="padding must come after"):
        run(tf.constant(_ids_with_a_hole()))
    # Padding at the end of a row (row 1) and a row of padding only are fine.
    padded = np.concatenate([IDS, np.zeros_like(IDS[:1])])
    np.testing.assert_allclose(run(tf.constant(padded)).numpy()[:2], run(IDS).numpy(),
                               atol=1e-6)


def test_graph_mode_asserts_when_the_graph_runs(model):
    run = tf.function(lambda x: model(x)["lm_embeddings"])
    np.testing.assert_allclose(run(tf.constant(IDS)).numpy(),
                               np.asarray(model(IDS)["lm_embeddings"]), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"character ids out of range \[0, 261\]"):
        run(tf.constant(_bad_ids()))
    batches = tf.data.Dataset.from_tensor_slices(_bad_ids()).batch(2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="character ids out of range"):
        model.predict(batches, verbose=0)
    layer = ek.ELMoEmbedding(model=model)
    with pytest.raises(tf.errors.InvalidArgumentError, match="character ids out of range"):
        tf.function(layer)(tf.constant(_bad_ids()))


def test_the_validator_on_jax():
    run_python("""
        import jax, jax.numpy as jnp, numpy as np
        import elmo_keras as ek
        from tests.conftest import TINY

        model = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
        ids = ek.batch_to_ids([["The", "bank", "."], ["Hi"]])
        bad = ids.copy()
        bad[1, 0, :] = -1
        for call in (lambda x: model(jnp.asarray(x)),
                     lambda x: ek.ELMoEmbedding(model=model)(x),
                     lambda x: ek.ELMoEmbedding(model=model)(jnp.asarray(x))):
            try:
                call(bad)
            except ValueError as e:
                assert "character id -1 at [1, 0, 0] is out of range" in str(e), e
            else:
                raise AssertionError("negative ids accepted")
        # Under jax.jit the ids are traced: not checked, and tracing still works.
        masks = jax.jit(lambda x: model(x)["mask"])(jnp.asarray(ids))
        np.testing.assert_array_equal(np.asarray(masks), (ids > 0).any(-1))
        """, backend="jax")
