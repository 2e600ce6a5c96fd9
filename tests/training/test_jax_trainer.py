"""The JAX trainer against the original bilm-tf training code (tests/fixtures/bilm_training,
as `tests/parity/test_training.py` checks the TensorFlow trainer), its resume, its run
directory (the TensorFlow trainer's rules), and runs resuming on their own trainer only.

The Keras backend is fixed per process (conftest sets tensorflow), so each training
test runs its script in the JAX worker process (`tests/support/processes.py`),
TensorFlow blocked there: the JAX trainer runs where it is not installed.
"""

import json
import h5py
import numpy as np
import pytest

pytest.importorskip("jax")

from elmo_keras.datasets import alice_dir  # noqa: E402
from elmo_keras.training.errors import TrainingError  # noqa: E402
from elmo_keras.training.jax_trainer import train as jax_train  # noqa: E402
from elmo_keras.training.run_directory import prepare_run, start_run  # noqa: E402
from elmo_keras.training.trainer import train as tf_train  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402
from tests.parity.test_training import assert_run_matches_bilm_tf  # noqa: E402
from tests.support.processes import run_python  # noqa: E402

FIX = FIXTURES / "bilm_training"
CORPUS = alice_dir() / "train.txt"


def _run_jax(code, *args):
    return run_python(code, *args, backend="jax")


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


@pytest.mark.slow
def test_jax_run_validates_and_keeps_the_run_directory_rules(tmp_path):
    # Validation as the TensorFlow trainer's (stateful and stateless perplexities), and
    # the run directory's rules (a finished run is not overwritten) from `run_directory`.
    proc = _run_jax("""
        import sys
        from elmo_keras.training.errors import TrainingError
        from elmo_keras.training.jax_trainer import train
        out, options, vocab, corpus, valid = sys.argv[1:6]
        r = train(out, corpus, options, vocab, valid, max_steps=2, log_every=1, verbose=0)
        print("valid", r["valid"]["average"], r["valid"]["stateless"]["average"])
        try:
            train(out, corpus, options, vocab, max_steps=2, verbose=0)
        except TrainingError as e:
            print("refused:", e)
        """, tmp_path / "run", FIX / "options.json", FIX / "vocab.txt", CORPUS,
        CORPUS.parent / "valid.txt")
    assert "already holds a run (last checkpoint at step 2)" in proc.stdout
    history = [json.loads(x) for x in open(tmp_path / "run" / "history.jsonl")]
    assert [e["step"] for e in history] == [1, 2, 2]
    assert history[-1]["valid_stateless_perplexity"] > 1
    assert history[-1]["valid_perplexity"] > 1


@pytest.mark.parametrize("recorded, other", [("jax", "tensorflow"), ("tensorflow", "jax")])
def test_a_run_resumes_on_its_own_trainer_only(tmp_path, recorded, other):
    # A run directory as each trainer writes it before its first step (the refusal
    # comes before any model is built, so it runs under this process' backend).
    run = str(tmp_path / "run")
    opts, vocab, record, _, _ = prepare_run(run, CORPUS, FIX / "options.json",
                                            FIX / "vocab.txt", None, trainer=recorded)
    start_run(run, opts, vocab, record, 0, {})
    assert json.loads((tmp_path / "run" / "run.json").read_text())["trainer"] == recorded
    names = {"jax": "JAX", "tensorflow": "TensorFlow"}
    resume = {"jax": jax_train, "tensorflow": tf_train}[other]
    with pytest.raises(TrainingError, match=f"trained with the {names[recorded]} trainer, "
                       f"whose checkpoints the {names[other]} trainer cannot read; resume "
                       f"it with --backend {recorded}"):
        resume(run, resume=True, max_steps=1, verbose=0)
