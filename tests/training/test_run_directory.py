"""The run directory's lifecycle: interrupted runs resume exactly, runs stopped before
their first checkpoint restart, and resumed runs with changed options apply and record
them or refuse them by name (the command line; in a process of its own where a signal
stops it)."""

import json
import math
import os
import signal

import h5py
import numpy as np
import pytest
import tensorflow as tf

from elmo_keras.training import load_checkpoint_weights, load_trained, train
from elmo_keras.training.language_model import BiLMLanguageModel
from tests.support.processes import cli
from tests.support.training import (TRAIN, options_file, read_history, run_cli,  # noqa: F401
                                    vocab_file, wait_for_steps)


@pytest.mark.slow
def test_resume_after_interruption_repeats_the_uninterrupted_run(tmp_path, vocab_file):
    """A run killed (SIGKILL) or stopped (SIGINT) and resumed takes the very steps of the
    uninterrupted run (made once for both)."""
    # Dropout and the sampled softmax on: their random numbers must repeat too.
    opts = options_file(tmp_path, batch_size=8, unroll_steps=10, dropout=0.1)
    ref = str(tmp_path / "ref")
    train(ref, TRAIN, opts, vocab_file, max_steps=35, log_every=1, checkpoint_every=10,
          verbose=0)
    for how in ("SIGKILL", "SIGINT"):
        _interrupt_and_resume(tmp_path / how, how, opts, vocab_file, ref)


def _interrupt_and_resume(folder, how, opts, vocab_file, ref):
    common = ["--options", opts, "--vocab", vocab_file, "--train", TRAIN, "--log-every", "1",
              "--checkpoint-every", "10"]
    run = str(folder / "run")
    proc = run_cli(["train", *common, "--out", run, "--max-steps", "400"])
    wait_for_steps(run, 13, proc)
    proc.send_signal(getattr(signal, how))
    proc.communicate(timeout=120)
    if how == "SIGINT":  # stops after the step, with a checkpoint at that step
        assert proc.returncode == 130
        stopped = int(tf.train.latest_checkpoint(os.path.join(run, "checkpoints"))
                      .rsplit("-", 1)[1])
        assert stopped >= 13
    else:  # killed: the periodic checkpoint at step 10 (or 20) is intact
        assert proc.returncode == -signal.SIGKILL
    result = train(run, resume=True, max_steps=35, log_every=1, checkpoint_every=10,
                   verbose=0)
    assert result["step"] == 35
    # A checkpoint's weights load alone (no optimizer) into a fresh model.
    lm, _, _ = load_trained(run)
    fresh = BiLMLanguageModel(lm.options, lm.vocab_size)
    load_checkpoint_weights(fresh, tf.train.latest_checkpoint(os.path.join(run, "checkpoints")))
    for a, b in zip(fresh.lm_variables, lm.lm_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    got, want = read_history(run), read_history(ref)
    assert [e["step"] for e in got] == list(range(1, 36))
    for g, w in zip(got, want):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            assert math.isclose(g[key], w[key], rel_tol=1e-5), (how, g, w)
    with h5py.File(os.path.join(run, "weights.hdf5")) as a, \
            h5py.File(os.path.join(ref, "weights.hdf5")) as b:
        for name in ("char_embed", "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0"):
            np.testing.assert_allclose(a[name][...], b[name][...], atol=1e-5,
                                       err_msg=how)



def _finish(*args):
    """`elmo-keras ARGS` to its end in this process: `(exit code, stdout + stderr)`."""
    result = cli(*args)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.slow
def test_run_killed_before_its_first_checkpoint_restarts_with_resume(tmp_path, vocab_file):
    opts = options_file(tmp_path, batch_size=8, unroll_steps=10)
    common = ["--options", opts, "--vocab", vocab_file, "--train", TRAIN, "--log-every", "1"]
    run = str(tmp_path / "run")
    proc = run_cli(["train", *common, "--out", run, "--max-steps", "400",
                    "--checkpoint-every", "1000"])
    wait_for_steps(run, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not os.path.exists(os.path.join(run, "checkpoints", "checkpoint"))
    # A fresh run into the directory says what to do, and writes nothing.
    code, out = _finish("train", *common, "--out", run, "--max-steps", "3")
    assert code == 2, out
    assert "stopped before its first checkpoint; pass --resume to start it again from " \
           "step 0" in out
    # --resume starts it again from step 0, on the run's own options and files.
    code, out = _finish("train", "--resume", "--out", run, "--max-steps", "3",
                        "--log-every", "1")
    assert code == 0, out
    assert [e["step"] for e in read_history(run)] == [1, 2, 3]


@pytest.mark.slow  # two trainings
def test_resume_applies_and_records_a_new_learning_rate_and_refuses_a_new_shape(
        tmp_path, vocab_file):
    opts = options_file(tmp_path, batch_size=8, unroll_steps=10)
    run = str(tmp_path / "run")
    train(run, TRAIN, opts, vocab_file, max_steps=2, log_every=1, verbose=0)
    slower = options_file(tmp_path, batch_size=8, unroll_steps=10, learning_rate=0.05)
    code, out = _finish("train", "--resume", "--out", run, "--options", slower,
                        "--max-steps", "3", "--log-every", "1")
    assert code == 0, out
    assert "changed options: learning_rate 0.2 -> 0.05" in out
    assert json.load(open(os.path.join(run, "train_options.json")))["learning_rate"] == 0.05
    assert json.load(open(os.path.join(run, "run.json")))["changes"] == [
        {"step": 2, "options": {"learning_rate": [0.2, 0.05]}}]
    assert [e["step"] for e in read_history(run)] == [1, 2, 3]
    # Shapes and the data stream are fixed for the run: refused, named, nothing written.
    wider = json.loads(open(slower).read())
    wider["lstm"]["dim"] = 256
    (tmp_path / "wider.json").write_text(json.dumps(wider))
    code, out = _finish("train", "--resume", "--out", run, "--options",
                        tmp_path / "wider.json", "--batch-size", "4", "--max-steps", "4")
    assert code == 2, out
    assert "--resume cannot change batch_size (8 -> 4), lstm.dim (128 -> 256)" in out
    assert [e["step"] for e in read_history(run)] == [1, 2, 3]
