"""The one training loop on each backend (`elmo_keras.training.backends`): PyTorch and
JAX runs resume exactly and validate, runs resume on their own backend only, and a
backend that cannot train is refused before anything is written. (bilm-tf's steps on
each backend: `tests/parity/test_training.py`; JAX on several devices:
`test_jax_data_parallel.py`.)

The Keras backend is fixed per process (conftest sets tensorflow): PyTorch and JAX runs
go through their worker processes (`tests/support/processes.py`), TensorFlow blocked
there, or the command line's `--backend`.
"""

import json

import h5py
import numpy as np
import pytest

from elmo_keras.apps.cli import main
from elmo_keras.datasets import alice_dir
from elmo_keras.training import train
from elmo_keras.training.backends import generic
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.run_directory import prepare_run, start_run
from tests.conftest import FIXTURES
from tests.support.processes import run_python

FIX = FIXTURES / "bilm_training"
CORPUS = alice_dir() / "train.txt"


def _history(run):
    return [json.loads(x) for x in open(run / "history.jsonl")]


@pytest.mark.slow  # the PyTorch worker, 8 eager steps and 2 validations
def test_torch_resumed_run_takes_the_same_steps_and_validates(tmp_path):
    # Dropout, the sampled softmax and state resets on: their random numbers repeat.
    # Token inputs: eager steps are faster without the char CNN (bilm-tf's steps with
    # characters on PyTorch: tests/parity/test_training.py).
    opts = json.loads((FIX / "token_inputs" / "options.json").read_text())
    opts.update(dropout=0.2, sample_softmax=True, n_negative_samples_batch=32,
                state_reset_prob=0.3)
    options = tmp_path / "options.json"
    options.write_text(json.dumps(opts))
    valid = tmp_path / "valid.txt"  # a few sentences: validation runs eagerly
    valid.write_text("".join(open(CORPUS.parent / "valid.txt").readlines()[:4]))
    proc = run_python("""
        import json, pathlib, sys
        from elmo_keras.training import train
        out, options, vocab, corpus, valid = sys.argv[1:6]
        out = pathlib.Path(out)
        train(out / "whole", corpus, options, vocab, max_steps=4, log_every=1, verbose=0)
        train(out / "half", corpus, options, vocab, valid, max_steps=2, log_every=1,
              verbose=0)
        r = train(out / "half", max_steps=4, resume=True, log_every=1, verbose=0)
        print(json.dumps(r["valid"]))
        """, tmp_path, options, FIX / "vocab.txt", CORPUS, valid,
        backend="torch")
    whole, half = tmp_path / "whole", tmp_path / "half"
    hw, hh = _history(whole), _history(half)
    # Validation at the run's last step (the end of its first, partial epoch).
    assert [e["step"] for e in hh] == [1, 2, 2, 3, 4, 4]
    valid = json.loads(proc.stdout.strip().splitlines()[-1])
    assert hh[-1]["valid_perplexity"] == valid["average"] > 1
    assert hh[-1]["valid_stateless_perplexity"] == valid["stateless"]["average"] > 1
    hh = [e for e in hh if "train_perplexity" in e]
    assert [e["step"] for e in hh] == [e["step"] for e in hw] == [1, 2, 3, 4]
    for a, b in zip(hw, hh):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)
    assert sorted(p.name for p in (half / "checkpoints").iterdir()) == [
        "ckpt-2.npz", "ckpt-4.npz"]
    assert json.loads((half / "run.json").read_text())["trainer"] == "torch"
    for name in ("weights.hdf5", "softmax.hdf5"):
        with h5py.File(whole / name) as a, h5py.File(half / name) as b:
            keys = []
            a.visititems(lambda k, v: keys.append(k) if isinstance(v, h5py.Dataset) else None)
            assert keys
            for key in keys:
                np.testing.assert_allclose(a[key][...], b[key][...], atol=1e-6, err_msg=key)


@pytest.mark.slow  # a JAX process: start-up and compiles
def test_jax_run_through_the_command_line_validates_and_resumes_on_jax_only(tmp_path):
    # `--backend jax` from this TensorFlow process runs the command again on JAX.
    valid = tmp_path / "valid.txt"
    valid.write_text("".join(open(CORPUS.parent / "valid.txt").readlines()[:4]))
    run = tmp_path / "run"
    assert main(["train", "--options", str(FIX / "options.json"), "--vocab",
                 str(FIX / "vocab.txt"), "--train", str(CORPUS), "--valid", str(valid),
                 "--out", str(run), "--max-steps", "2", "--log-every", "1",
                 "--backend", "jax"]) == 0
    history = _history(run)
    assert [e["step"] for e in history] == [1, 2, 2]
    assert history[-1]["valid_stateless_perplexity"] > 1
    assert history[-1]["valid_perplexity"] > 1
    assert json.loads((run / "run.json").read_text())["trainer"] == "jax"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt-2.npz"]
    # The run directory's rules, here on TensorFlow: a run is not overwritten, and
    # resumes on its own backend only.
    with pytest.raises(TrainingError, match=r"already holds a run \(last checkpoint at "
                                            r"step 2\)"):
        train(str(run), CORPUS, FIX / "options.json", FIX / "vocab.txt", max_steps=4)
    with pytest.raises(TrainingError, match="trained with the JAX trainer, whose "
                       "checkpoints the TensorFlow trainer cannot read; resume it with "
                       "--backend jax"):
        train(str(run), resume=True, max_steps=4, verbose=0)


def test_a_torch_run_resumes_on_torch_only(tmp_path):
    # A run directory as the PyTorch backend writes it before its first step (the
    # refusal comes before any model is built, so it runs under this process' backend).
    run = str(tmp_path / "run")
    opts, vocab, record, _, _ = prepare_run(run, CORPUS, FIX / "options.json",
                                            FIX / "vocab.txt", None, trainer="torch")
    start_run(run, opts, vocab, record, 0, {})
    with pytest.raises(TrainingError, match="trained with the PyTorch trainer, whose "
                       "checkpoints the TensorFlow trainer cannot read; resume it with "
                       "--backend torch"):
        train(run, resume=True, max_steps=1, verbose=0)


def test_a_backend_that_cannot_train_is_refused_before_anything_is_written(tmp_path,
                                                                            monkeypatch):
    # Keras backends other than tensorflow, jax and torch get `generic`, which has no
    # gradients: `train` refuses before it takes the run directory.
    monkeypatch.setattr("keras.backend.backend", lambda: "numpy")
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="training runs on the Keras backends "
                       "tensorflow, jax, torch, not 'numpy'"):
        train(str(run), CORPUS, FIX / "options.json", FIX / "vocab.txt")
    assert not run.exists()
    assert generic.uniform((3,), generic.make_seed(1)).shape == (3,)
