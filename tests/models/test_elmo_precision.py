"""`dtype="auto"` (`elmo_keras/models/elmo/elmo_precision.py`): bfloat16 only where the
CPU has bfloat16 units and the outputs stay within the bound, float32 elsewhere."""

import logging

import h5py
import keras
import numpy as np
import pytest

import elmo_keras
from elmo_keras.models.elmo import elmo_precision
from elmo_keras.models.elmo.elmo_embedder import Embedder
from elmo_keras.models.elmo.elmo_precision import bfloat16_error, cpu_supports_bfloat16
from tests.support.processes import cli

SENTENCES = [["The", "cat", "sat", "."], ["Alice", "was", "beginning", "to", "get", "tired"]]


def _load(tiny_dir, **kwargs):
    return elmo_keras.load_bilm(tiny_dir / "options.json", tiny_dir / "lm_weights.hdf5",
                                **kwargs)


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(elmo_precision, "cpu_supports_bfloat16", lambda: True)


def test_auto_keeps_float32_without_bfloat16_units(tiny_dir, monkeypatch, caplog):
    monkeypatch.setattr(elmo_precision, "cpu_supports_bfloat16", lambda: False)
    monkeypatch.setattr(elmo_precision, "BFLOAT16_MAX_ERROR", 1e9)  # speed alone decides
    caplog.set_level(logging.INFO, logger="elmo_keras")
    model = _load(tiny_dir, dtype="auto")
    assert model.dtype_policy.name == "float32"
    assert "dtype='auto': float32" in caplog.text


def test_auto_picks_bfloat16_within_a_loose_bound(tiny_dir, bf16_cpu, monkeypatch, caplog):
    monkeypatch.setattr(elmo_precision, "BFLOAT16_MAX_ERROR", 0.1)
    caplog.set_level(logging.INFO, logger="elmo_keras")
    model = _load(tiny_dir, dtype="auto")
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert "dtype='auto': mixed_bfloat16" in caplog.text and "bound 0.1" in caplog.text
    reference = _load(tiny_dir)
    for w, r in zip(model.weights, reference.weights):  # the same float32 weights
        np.testing.assert_array_equal(np.asarray(w.value), np.asarray(r.value))
    assert 0 < bfloat16_error(reference, model, SENTENCES) <= 0.1


def test_auto_falls_back_to_float32_above_the_bound(tiny_dir, bf16_cpu, monkeypatch,
                                                    caplog):
    monkeypatch.setattr(elmo_precision, "BFLOAT16_MAX_ERROR", 0.0)
    caplog.set_level(logging.INFO, logger="elmo_keras")
    model = elmo_keras.ELMo.from_preset(_load(tiny_dir), dtype="auto")
    assert model.dtype_policy.name == "float32"
    assert "bound 0" in caplog.text


def test_auto_chosen_model_saves_and_loads_with_its_dtype(tiny_dir, bf16_cpu, monkeypatch,
                                                          tmp_path):
    monkeypatch.setattr(elmo_precision, "BFLOAT16_MAX_ERROR", 0.1)
    model = _load(tiny_dir, dtype="auto")
    model.save_to_preset(tmp_path / "preset")
    loaded = elmo_keras.ELMo.from_preset(tmp_path / "preset")
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    ids = elmo_keras.batch_to_ids(SENTENCES)
    np.testing.assert_array_equal(np.asarray(loaded(ids)["lm_embeddings"], "float32"),
                                  np.asarray(model(ids)["lm_embeddings"], "float32"))


def test_stateful_calibration_leaves_no_state(tiny_dir, bf16_cpu, monkeypatch):
    # Rows beyond max_batch_size go in further batches; the states end cleared.
    monkeypatch.setattr(elmo_precision, "BFLOAT16_MAX_ERROR", 0.1)
    monkeypatch.setattr(elmo_precision, "CALIBRATION_SENTENCES", 6)  # 2 batches of <= 4
    model = _load(tiny_dir, dtype="auto", stateful=True, max_batch_size=4)
    assert model.dtype_policy.name == "mixed_bfloat16"
    fresh = _load(tiny_dir, dtype="mixed_bfloat16", stateful=True, max_batch_size=4)
    ids = elmo_keras.batch_to_ids(SENTENCES)
    np.testing.assert_array_equal(np.asarray(model(ids)["lm_embeddings"], "float32"),
                                  np.asarray(fresh(ids)["lm_embeddings"], "float32"))


def test_cpu_flags(tmp_path):
    with_amx = tmp_path / "amx"
    with_amx.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n")
    without = tmp_path / "avx2"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    # Measured (and so True) only under TensorFlow on a CPU.
    assert cpu_supports_bfloat16(with_amx) == (keras.backend.backend() == "tensorflow")
    assert not cpu_supports_bfloat16(without)
    assert not cpu_supports_bfloat16(tmp_path / "missing")


def test_embed_dtype_option_writes_float32(tiny_dir, tmp_path):
    text, out = tmp_path / "in.txt", tmp_path / "out.h5"
    text.write_text("the cat sat .\nhello world\n", encoding="utf-8")
    result = cli("embed", text, out, "--options", tiny_dir / "options.json",
                 "--weights", tiny_dir / "lm_weights.hdf5", "--dtype", "mixed_bfloat16")
    assert result.returncode == 0, result.stderr
    reference = Embedder(_load(tiny_dir))([["the", "cat", "sat", "."]])[0]
    with h5py.File(out) as f:
        assert f["0"].dtype == np.float32  # not bfloat16's opaque HDF5 type
        difference = np.abs(f["0"][()] - reference).max()
    assert 0 < difference < 0.1  # computed in bfloat16
