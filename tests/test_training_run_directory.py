"""The run directory's lifecycle: interrupted runs resume exactly, runs stopped before
their first checkpoint restart, and resumed runs with changed options apply and record
them or refuse them by name (the real command line in a subprocess)."""

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
from tests.training_helpers import (TRAIN, options_file, read_history, run_cli,  # noqa: F401
                                    vocab_file, wait_for_steps)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_resume_after_interruption_repeats_the_uninterrupted_run(tmp_path, vocab_file, how):
    # Dropout and the sampled softmax on: their random numbers must repeat too.
    opts = options_file(tmp_path, batch_size=8, unroll_steps=10, dropout=0.1)
    common = ["--options", opts, "--vocab", vocab_file, "--train", TRAIN, "--log-every", "1",
              "--checkpoint-every", "10"]
    ref = str(tmp_path / "ref")
    train(ref, TRAIN, opts, vocab_file, max_steps=50, log_every=1, checkpoint_every=10,
          verbose=0)

    run = str(tmp_path / "run")
    proc = run_cli(["train", *common, "--out", run, "--max-steps", "400"])
    wait_for_steps(run, 23, proc)
    proc.send_signal(getattr(signal, how))
    proc.communicate(timeout=120)
    if how == "SIGINT":  # stops after the step, with a checkpoint at that step
        assert proc.returncode == 130
        stopped = int(tf.train.latest_checkpoint(os.path.join(run, "checkpoints"))
                      .rsplit("-", 1)[1])
        assert stopped >= 23
    else:  # killed: the periodic checkpoint at step 20 (or 30) is intact
        assert proc.returncode == -signal.SIGKILL
    result = train(run, resume=True, max_steps=50, log_every=1, checkpoint_every=10,
                   verbose=0)
    assert result["step"] == 50
    # A checkpoint's weights load alone (no optimizer) into a fresh model.
    lm, _, _ = load_trained(run)
    fresh = BiLMLanguageModel(lm.options, lm.vocab_size)
    load_checkpoint_weights(fresh, tf.train.latest_checkpoint(os.path.join(run, "checkpoints")))
    for a, b in zip(fresh.lm_variables, lm.lm_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    got, want = read_history(run), read_history(ref)
    assert [e["step"] for e in got] == list(range(1, 51))
    for g, w in zip(got, want):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            assert math.isclose(g[key], w[key], rel_tol=1e-5), (g, w)
    with h5py.File(os.path.join(run, "weights.hdf5")) as a, \
            h5py.File(os.path.join(ref, "weights.hdf5")) as b:
        for name in ("char_embed", "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0"):
            np.testing.assert_allclose(a[name][...], b[name][...], atol=1e-5)

