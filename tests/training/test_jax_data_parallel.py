"""Data-parallel training on several JAX devices (issue 26): the batch sharded over a
`jax.sharding.Mesh`, the parameters replicated. Two CPU devices stand in for GPUs or
TPU cores (`XLA_FLAGS=--xla_force_host_platform_device_count=2`, set before JAX starts:
a fresh process).

- The two-device run takes bilm-tf's steps (tests/fixtures/bilm_training) and equals
  the one-device run: measured 8e-7 relative on the losses and gradient norm, 3e-8 on
  the weights (the order of the float sums differs); asserted to 1e-5 and 1e-6.
- A checkpoint written on two devices resumes on one, and one written on one resumes on
  two, continuing as the uninterrupted run (dropout, the sampled softmax and state
  resets on: their random numbers are the same on any number of devices).
"""

import json
import os

import h5py
import numpy as np
import pytest

from elmo_keras.datasets import alice_dir
from tests.conftest import FIXTURES
from tests.parity.test_training import assert_run_matches_bilm_tf
from tests.support.processes import run_python

pytestmark = pytest.mark.slow  # one process trains every run: about 40 s on 2 cores

FIX = FIXTURES / "bilm_training"
CORPUS = alice_dir() / "train.txt"

# One process trains every run. Runs of the same options and device count compile the
# same step: a compilation cache in the run's folder compiles each once.
TRAIN = """
    import json, pathlib, sys
    import jax
    out, fix, corpus = (pathlib.Path(a) for a in sys.argv[1:4])
    jax.config.update("jax_compilation_cache_dir", str(out / "jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    from elmo_keras.training import train
    assert len(jax.devices()) == 2, jax.devices()
    devices = {1: jax.devices()[:1], 2: jax.devices()}
    common = dict(init_weights=fix / "initial_weights.hdf5", log_every=1, verbose=0)
    opts = json.loads((fix / "options.json").read_text())
    opts["state_reset_prob"] = 0.0  # bilm-tf's recipe
    for n in (1, 2):
        train(out / f"fixture_{n}", corpus, opts, fix / "vocab.txt", max_steps=4,
              strategy=devices[n], **common)
    opts.update(dropout=0.1, sample_softmax=True, n_negative_samples_batch=32,
                state_reset_prob=0.3)
    train(out / "whole", corpus, opts, fix / "vocab.txt", max_steps=4, strategy=devices[1],
          **common)
    for first, then in ((2, 1), (1, 2)):
        run = out / f"resumed_{first}_{then}"
        train(run, corpus, opts, fix / "vocab.txt", max_steps=2, strategy=devices[first],
              **common)
        train(run, max_steps=4, resume=True, strategy=devices[then], log_every=1, verbose=0)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("jax")
    out = tmp_path_factory.mktemp("data_parallel")
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    run_python(TRAIN, out, FIX, CORPUS, backend="jax", env={"XLA_FLAGS": flags})
    return out


def _history(run):
    return [json.loads(x) for x in open(run / "history.jsonl")]


def _weights(run):
    found = {}
    for name in ("weights.hdf5", "softmax.hdf5"):
        with h5py.File(run / name) as f:
            f.visititems(lambda k, v: found.__setitem__(k, v[...])
                         if isinstance(v, h5py.Dataset) else None)
    return found


def assert_same_run(a, b):
    """The same steps, losses and gradient norms (1e-5 relative), weights (1e-6)."""
    ha, hb = _history(a), _history(b)
    assert [e["step"] for e in ha] == [e["step"] for e in hb] == [1, 2, 3, 4]
    for x, y in zip(ha, hb):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            np.testing.assert_allclose(x[key], y[key], rtol=1e-5, err_msg=key)
    wa, wb = _weights(a), _weights(b)
    assert sorted(wa) == sorted(wb) and wa
    for key in wa:
        np.testing.assert_allclose(wa[key], wb[key], atol=1e-6, err_msg=key)


def test_two_devices_take_the_one_device_steps_of_bilm_tf(runs):
    for n in (1, 2):
        assert_run_matches_bilm_tf(runs / f"fixture_{n}", FIX)
    assert_same_run(runs / "fixture_1", runs / "fixture_2")
    assert json.loads((runs / "fixture_2" / "run.json").read_text())["trainer"] == "jax"


def test_a_run_resumes_on_another_device_count(runs):
    for first, then in ((2, 1), (1, 2)):
        run = runs / f"resumed_{first}_{then}"
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
            "ckpt-2.npz", "ckpt-4.npz"]
        assert_same_run(runs / "whole", run)
