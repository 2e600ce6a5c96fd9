"""`ELMo.from_preset` on every accepted form (each with its error case), `ELMo.presets`,
`save_to_preset`, and the entry points that resolve through it."""

import json
import shutil

import numpy as np
import pytest

import keras

import elmo_keras as ek
from elmo_keras.models.elmo.elmo_preset_loader import resolve_model
from elmo_keras.models.elmo.elmo_presets import PRESETS_DIR
from tests.conftest import TINY

IDS = ek.batch_to_ids([["The", "river", "bank", "."], ["Hi"]])


def _tiny():
    return ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a(IDS)["lm_embeddings"]),
                                  np.asarray(b(IDS)["lm_embeddings"]))


def test_presets_lists_the_shipped_model():
    presets = ek.ELMo.presets
    assert list(presets) == ["elmo_small_en", "elmo_allennlp_small_en",
                             "elmo_allennlp_medium_en", "elmo_allennlp_original_en",
                             "elmo_allennlp_original_5_5b_en"]  # the bundled one first
    assert [name for name, e in presets.items() if e["bundled"]] == ["elmo_small_en"]
    entry = presets["elmo_small_en"]
    assert entry["params"] == 2996452 and "English" in entry["description"]
    assert entry["path"] == str(PRESETS_DIR / "elmo_small_en")


def test_registered_name_and_its_error():
    model = ek.ELMo.from_preset("elmo_small_en")
    shipped = PRESETS_DIR / "elmo_small_en"
    _same(model, ek.load_bilm(shipped / "options.json", shipped / "weights.hdf5"))
    assert model.count_params() == ek.ELMo.presets["elmo_small_en"]["params"]
    with pytest.raises(ek.PresetError, match=r"'elmo-small-en': not a registered name.*"
                       r"Accepted: a registered name \(elmo_small_en, elmo_allennlp_medium_en"):
        ek.ELMo.from_preset("elmo-small-en")
    with pytest.raises(ek.PresetError, match="must be a name or a path, got int"):
        ek.ELMo.from_preset(3)


def test_bilm_directory_and_its_error(tmp_path):
    shutil.copy(TINY / "options.json", tmp_path / "options.json")
    shutil.copy(TINY / "lm_weights.hdf5", tmp_path / "weights.hdf5")
    model = ek.ELMo.from_preset(tmp_path, stateful=True, max_batch_size=4)
    assert model.stateful and model.max_batch_size == 4
    _same(ek.ELMo.from_preset(str(tmp_path)), _tiny())
    (tmp_path / "weights.hdf5").unlink()
    with pytest.raises(ek.PresetError, match=r"a directory holding options.json; none of "
                                             r"the model layouts\. Accepted:"):
        ek.ELMo.from_preset(tmp_path)
    with pytest.raises(ek.PresetError, match="no such file or directory. Accepted"):
        ek.ELMo.from_preset(tmp_path / "missing")


def test_preset_directory_round_trip_and_its_errors(tmp_path):
    model = _tiny()
    model.save_to_preset(tmp_path / "p", tokenizer=ek.ELMoTokenizer(split="corpus"))
    files = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert files == ["config.json", "metadata.json", "model.weights.h5", "options.json",
                     "tokenizer.json", "weights.hdf5"]
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert metadata["parameter_count"] == model.count_params()
    _same(ek.ELMo.from_preset(tmp_path / "p"), model)
    # the bilm-tf files are the same model, for bilm-tf and AllenNLP
    _same(ek.load_bilm(tmp_path / "p" / "options.json", tmp_path / "p" / "weights.hdf5"),
          model)
    assert ek.ELMoTokenizer.from_preset(tmp_path / "p").split == "corpus"
    with pytest.raises(FileExistsError, match="already holds config.json"):
        model.save_to_preset(tmp_path / "p")
    (tmp_path / "p" / "model.weights.h5").unlink()
    _same(ek.ELMo.from_preset(tmp_path / "p"), model)  # falls back to weights.hdf5
    (tmp_path / "p" / "weights.hdf5").unlink()
    with pytest.raises(ek.PresetError, match="has config.json but neither"):
        ek.ELMo.from_preset(tmp_path / "p")
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "config.json").write_text('{"class_name": "Dense", "config": {}}')
    with pytest.raises(ek.PresetError, match="holds a 'Dense' config, not an ELMo"):
        ek.ELMo.from_preset(tmp_path / "q")
    (tmp_path / "q" / "config.json").write_text("{not json")
    with pytest.raises(ek.PresetError, match="not a valid JSON model config"):
        ek.ELMo.from_preset(tmp_path / "q")


def test_keras_file_and_its_errors(tmp_path):
    model = _tiny()
    model.save(tmp_path / "elmo.keras")
    _same(ek.ELMo.from_preset(tmp_path / "elmo.keras"), model)
    assert ek.ELMo.from_preset(tmp_path / "elmo.keras", stateful=True).stateful
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other.save(tmp_path / "dense.keras")
    with pytest.raises(ek.PresetError, match="holds a Sequential, not an ELMo"):
        ek.ELMo.from_preset(tmp_path / "dense.keras")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ek.PresetError, match="a file that is not .keras"):
        ek.ELMo.from_preset(tmp_path / "notes.txt")


@pytest.mark.slow
def test_export_hub_directory_and_its_error(tmp_path):
    model = _tiny()
    ek.export_hub(model, tmp_path / "hub")
    _same(ek.ELMo.from_preset(tmp_path / "hub"), model)
    (tmp_path / "hub" / "assets" / "elmo_config.json").unlink()
    with pytest.raises(ValueError, match="not one written by elmo_keras.export_hub"):
        ek.ELMo.from_preset(tmp_path / "hub")


@pytest.mark.slow
def test_train_output_directory_and_its_error(tmp_path):
    from elmo_keras.training import build_vocabulary, train
    from elmo_keras.training.vocabulary import count_tokens

    corpus = ek.datasets.alice_dir() / "valid.txt"
    build_vocabulary(count_tokens(open(corpus)), min_count=3).save(tmp_path / "vocab.txt")
    options = json.loads((TINY / "options.json").read_text())
    options.update(batch_size=4, unroll_steps=5, n_negative_samples_batch=32)
    options["char_cnn"]["n_characters"] = 261
    (tmp_path / "options.json").write_text(json.dumps(options))
    train(tmp_path / "run", str(corpus), tmp_path / "options.json", tmp_path / "vocab.txt",
          max_steps=2, verbose=0)
    model = ek.ELMo.from_preset(tmp_path / "run")
    _same(model, ek.load_bilm(tmp_path / "run" / "options.json",
                              tmp_path / "run" / "weights.hdf5"))
    (tmp_path / "run" / "weights.hdf5").unlink()
    with pytest.raises(ek.PresetError, match="none of the model layouts"):
        ek.ELMo.from_preset(tmp_path / "run")


def test_the_entry_points_resolve_through_from_preset():
    layer = ek.ELMoEmbedding.from_preset("elmo_small_en", output="default")
    assert layer(keras.ops.convert_to_tensor(["The bank ."])).shape == (1, 256)
    with pytest.raises(ek.PresetError, match="no such file or directory"):
        ek.ELMoEmbedding(model="nowhere/elmo.keras")
    with pytest.raises(ek.PresetError, match="not both"):
        resolve_model(ek.ELMo, "elmo_small_en", options="o.json", weights="w.hdf5")
    with pytest.raises(ek.PresetError, match="go together"):
        resolve_model(ek.ELMo, options="o.json")


def test_cli_reports_a_bad_model_in_one_line(capsys):
    from elmo_keras.apps.cli import main

    assert main(["demo", "--model", "elmo-small-en"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 'elmo-small-en': not a registered name") and "Accepted" in err


def test_demo_on_another_model_keeps_the_nearest_neighbours(tmp_path, capsys):
    from elmo_keras.apps.cli import main

    shutil.copy(TINY / "options.json", tmp_path / "options.json")
    shutil.copy(TINY / "lm_weights.hdf5", tmp_path / "weights.hdf5")
    assert main(["demo", "--model", str(tmp_path), "--corpus-sentences", "20"]) == 0
    out = capsys.readouterr().out
    assert '"bank" in 4 sentences' in out and 'nearest neighbours of "bank"' in out
