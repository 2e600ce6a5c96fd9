"""Domain adaptation (`elmo_keras.adapt`, `elmo-keras adapt`) on a tiny biLM with its
softmax and a tiny text: the held-out perplexity drops (both protocols, both
directions), the adapted model saves and reloads as a preset, the same call resumes
(no extra steps once finished), other arguments are refused, a model without a softmax
is refused by name, and the shipped preset carries its softmax."""

import json
import os
import shutil

import h5py
import keras
import numpy as np
import pytest

import elmo_keras
from elmo_keras import ELMo, ELMoTokenizer
from elmo_keras.apps.adaptation import AdaptationError
from tests.conftest import FIXTURES, ROOT
from tests.support.processes import cli

# Sentences written as people write them (no space before the full stop): the tiny
# preset records the corpus tokenizer, which splits the full stop off.
SENTENCES = [line.strip().replace(" .", ".").replace(" ;", ";")
             for line in open(ROOT / "examples" / "sentences.txt", encoding="utf-8")
             if line.strip()]
TEXTS = (SENTENCES * 7)[:40]  # 40 texts: 36 trained on, 4 held out (every 10th)
STEPS = 12
ARGS = dict(steps=STEPS, batch_size=4, learning_rate=0.5, verbose=0)


def _tiny_preset(folder, softmax=True):
    """bilm-tf's tiny training fixture (random weights) as a preset directory with its
    softmax, vocabulary and the corpus tokenizer."""
    fixture = FIXTURES / "bilm_training"
    folder.mkdir()
    for name in ("options.json", "vocab.txt"):
        shutil.copy(fixture / name, folder)
    with h5py.File(fixture / "initial_weights.hdf5", "r") as src, \
            h5py.File(folder / "weights.hdf5", "w") as weights:
        for key in src:
            if key != "softmax":
                src.copy(key, weights)
        if softmax:
            with h5py.File(folder / "softmax.hdf5", "w") as f:
                src.copy("softmax", f)
    tokenizer = keras.saving.serialize_keras_object(ELMoTokenizer(split="corpus"))
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _tiny_preset(tmp_path_factory.mktemp("adapt") / "tiny")


@pytest.fixture(scope="module")
def adapted(tiny, tmp_path_factory):
    """One adaptation through the API, its texts given as a batched `tf.data`."""
    import tensorflow as tf

    out = tmp_path_factory.mktemp("adapt") / "out"
    texts = tf.data.Dataset.from_tensor_slices(TEXTS).batch(3)
    return elmo_keras.adapt(str(tiny), texts, out_dir=out, **ARGS)


def _assert_dropped(before, after):
    for protocol in ("stateless", "stateful"):
        for direction in ("forward", "backward"):
            assert after[protocol][direction] < 0.5 * before[protocol][direction], (
                protocol, direction, before, after)


def test_adapt_lowers_held_out_perplexity_and_returns_a_model_that_saves(adapted, tmp_path):
    r = adapted
    assert r.steps == STEPS and r.held_out == "every 10th text"
    assert r.perplexity_before["n_tokens"] == r.perplexity_after["n_tokens"] > 0
    _assert_dropped(r.perplexity_before, r.perplexity_after)
    # The preset's tokenizer split the texts (the full stop is a token of its own);
    # every 10th text is held out.
    data = os.path.join(r.out_dir, "data")
    train_lines = open(os.path.join(data, "train.txt"), encoding="utf-8").read().splitlines()
    valid_lines = open(os.path.join(data, "valid.txt"), encoding="utf-8").read().splitlines()
    assert (len(train_lines), len(valid_lines)) == (36, 4)
    assert train_lines[0].endswith("the water .")
    # The returned model saves with save_to_preset and reloads with the same outputs.
    ids = elmo_keras.batch_to_ids([["The", "bank", "of", "the", "river", "."]])
    want = keras.ops.convert_to_numpy(r.model(ids)["elmo_representations"][0])
    r.model.save_to_preset(tmp_path / "saved")
    for preset in (tmp_path / "saved", r.preset_dir):
        got = keras.ops.convert_to_numpy(
            ELMo.from_preset(preset)(ids)["elmo_representations"][0])
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert ELMoTokenizer.from_preset(r.preset_dir).split == "corpus"


def test_the_same_call_resumes_and_other_arguments_are_refused(adapted, tiny):
    out = adapted.out_dir
    history = os.path.join(out, "run", "history.jsonl")
    logged = open(history).read()
    # Finished: the same arguments (the texts as a list now) return it, no step taken.
    again = elmo_keras.adapt(tiny, TEXTS, out_dir=out, **ARGS)
    assert again.steps == STEPS and open(history).read() == logged
    assert again.perplexity_after == adapted.perplexity_after
    # Other arguments: refused by name, the run's data untouched.
    train_text = open(os.path.join(out, "data", "train.txt"), "rb").read()
    with pytest.raises(AdaptationError, match=r"changed: steps \(12 -> 13\)"):
        elmo_keras.adapt(tiny, TEXTS, out_dir=out, **{**ARGS, "steps": 13})
    with pytest.raises(AdaptationError, match=r"changed: held_out_text, train_text\)"):
        elmo_keras.adapt(tiny, TEXTS[:-2], out_dir=out, **ARGS)
    assert open(os.path.join(out, "data", "train.txt"), "rb").read() == train_text
    # Stopped after training, before the preset was written: the same call resumes
    # the run (no step left to take) and finishes.
    record_path = os.path.join(out, "adaptation.json")
    record = json.loads(open(record_path).read())
    del record["perplexity_after"]
    open(record_path, "w").write(json.dumps(record))
    shutil.rmtree(adapted.preset_dir)
    resumed = elmo_keras.adapt(tiny, TEXTS, out_dir=out, **ARGS)
    assert resumed.steps == STEPS
    assert [json.loads(x)["step"] for x in open(history)] == \
        [json.loads(x)["step"] for x in logged.splitlines()]
    assert os.path.isdir(resumed.preset_dir)


def test_adapt_command_lowers_perplexity_and_writes_a_preset(tiny, tmp_path):
    text, valid = tmp_path / "text.txt", tmp_path / "valid.txt"
    text.write_text("\n".join(SENTENCES * 5) + "\n", encoding="utf-8")
    valid.write_text("\n".join(SENTENCES[:3]) + "\n", encoding="utf-8")
    out = tmp_path / "adapted"
    r = cli("adapt", text, "--model", tiny, "--out", out, "--steps", 10, "--batch-size", 4,
            "--learning-rate", 0.5, "--valid", valid)
    assert r.returncode == 0, r.stderr
    lines = {line.split(":")[0]: [float(x) for x in line.split(":")[1].split(" / ")]
             for line in r.stdout.splitlines() if line.startswith("state")}
    for protocol in ("stateless", "stateful"):
        before, after = lines[f"{protocol} before"], lines[f"{protocol} after"]
        assert after[0] < 0.5 * before[0] and after[1] < 0.5 * before[1], r.stdout
    assert "valid_texts" in r.stdout and f"preset in {out / 'preset'}" in r.stderr
    ELMo.from_preset(out / "preset")
    # Other arguments into the same directory: one line, exit status 2.
    r = cli("adapt", text, "--model", tiny, "--out", out, "--steps", 11, "--batch-size", 4,
            "--learning-rate", 0.5, "--valid", valid)
    assert r.returncode == 2 and "changed: steps (10 -> 11)" in r.stderr


def test_a_model_without_softmax_is_refused_by_name(tmp_path):
    bare = _tiny_preset(tmp_path / "bare", softmax=False)
    with pytest.raises(AdaptationError, match="has no softmax.hdf5"):
        elmo_keras.adapt(bare, TEXTS, out_dir=tmp_path / "out", **ARGS)
    with pytest.raises(AdaptationError, match="the given model: has no softmax.hdf5"):
        elmo_keras.adapt(ELMo.from_preset(bare), TEXTS, out_dir=tmp_path / "out1", **ARGS)
    # A published model: said before anything is downloaded.
    with pytest.raises(AdaptationError, match="published models ship no softmax"):
        elmo_keras.adapt("elmo_allennlp_small_en", TEXTS, out_dir=tmp_path / "out2", **ARGS)
    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    r = cli("adapt", text, "--model", bare, "--out", tmp_path / "out3")
    assert r.returncode == 2 and r.stderr.startswith("error:") and "has no softmax" in r.stderr


def test_the_shipped_preset_carries_the_softmax_of_its_vocabulary():
    folder = ROOT / "elmo_keras" / "models" / "elmo" / "presets" / "elmo_small_en"
    rows = len(open(folder / "vocab.txt", encoding="utf-8").read().splitlines())
    with h5py.File(folder / "softmax.hdf5", "r") as f:
        assert f["softmax/W"].shape == (rows, 128) and f["softmax/b"].shape == (rows,)
