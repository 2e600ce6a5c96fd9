"""The JAX trainer against the original bilm-tf training code (tests/fixtures/bilm_training,
as `test_training_parity.py` checks the TensorFlow trainer), and its resume.

The Keras backend is fixed per process (conftest sets tensorflow), so each test runs
its script in a subprocess with `KERAS_BACKEND=jax`.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from tests.test_training_parity import assert_run_matches_bilm_tf

FIX = pathlib.Path(__file__).parent / "fixtures" / "bilm_training"
CORPUS = FIX.parent / "alice" / "train.txt"
ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="JAX is not installed")


def _run_jax(code, *args):
    env = dict(os.environ, KERAS_BACKEND="jax")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_jax_training_steps_match_bilm_tf(tmp_path):
    refs = {"chars": FIX, "tokens": FIX / "token_inputs"}
    _run_jax("""
        import json, pathlib, sys
        import keras
        from elmo_keras.training.jax_trainer import train
        assert keras.backend.backend() == "jax"
        out, fix, corpus = (pathlib.Path(a) for a in sys.argv[1:4])
        for name, ref in json.loads(sys.argv[4]).items():
            n = len(json.loads((pathlib.Path(ref) / "losses.json").read_text()))
            train(out / name, corpus, pathlib.Path(ref) / "options.json", fix / "vocab.txt",
                  max_steps=n, init_weights=pathlib.Path(ref) / "initial_weights.hdf5",
                  log_every=1, verbose=0)
        """, tmp_path, FIX, CORPUS, json.dumps({k: str(v) for k, v in refs.items()}))
    for name, ref_dir in refs.items():
        assert json.loads((tmp_path / name / "run.json").read_text())["trainer"] == "jax"
        assert_run_matches_bilm_tf(tmp_path / name, ref_dir)


@pytest.mark.slow
def test_jax_resumed_run_takes_the_same_steps(tmp_path):
    # Dropout, the sampled softmax and state resets on: their random numbers must
    # repeat. The first half runs through the CLI's --backend flag from a TensorFlow
    # process, the second resumes it.
    opts = json.loads((FIX / "options.json").read_text())
    opts.update(dropout=0.2, sample_softmax=True, n_negative_samples_batch=32,
                state_reset_prob=0.3)
    options = tmp_path / "options.json"
    options.write_text(json.dumps(opts))
    vocab = FIX / "vocab.txt"
    from elmo_keras.apps.cli import main

    common = ["--options", str(options), "--vocab", str(vocab), "--train", str(CORPUS),
              "--log-every", "1", "--backend", "jax"]
    assert main(["train", "--out", str(tmp_path / "half"), "--max-steps", "3"] + common) == 0
    _run_jax("""
        import pathlib, sys
        from elmo_keras.training.jax_trainer import train
        out, options, vocab, corpus = sys.argv[1:5]
        out = pathlib.Path(out)
        train(out / "whole", corpus, options, vocab, max_steps=6, log_every=1, verbose=0)
        train(out / "half", max_steps=6, resume=True, log_every=1, verbose=0)
        """, tmp_path, options, vocab, CORPUS)
    whole, half = tmp_path / "whole", tmp_path / "half"
    hw = [json.loads(x) for x in open(whole / "history.jsonl")]
    hh = [json.loads(x) for x in open(half / "history.jsonl")]
    assert [e["step"] for e in hh] == [e["step"] for e in hw] == list(range(1, 7))
    for a, b in zip(hw, hh):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)
    assert len(list((half / "checkpoints").glob("ckpt-*.npz"))) == 2  # steps 3 and 6
    for name in ("weights.hdf5", "softmax.hdf5"):
        with h5py.File(whole / name) as a, h5py.File(half / name) as b:
            keys = []
            a.visititems(lambda k, v: keys.append(k) if isinstance(v, h5py.Dataset) else None)
            assert keys
            for key in keys:
                np.testing.assert_allclose(a[key][...], b[key][...], atol=1e-6, err_msg=key)
