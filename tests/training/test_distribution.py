"""Training on several devices or hosts: the mirrored strategy on two logical CPUs
follows the one-device trajectory; two local workers form a multi-worker cluster."""

import json
import math
import os
import socket
import textwrap

import pytest

from elmo_keras import load_bilm
from tests.support.processes import child_env, run_python
from tests.support.training import (TRAIN, options_file, read_history, run_cli,  # noqa: F401
                                    vocab_file)

MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from elmo_keras.training import train
    out, opts, vocab, corpus = sys.argv[1:5]
    histories = {}
    for name, strategy in [("one", "default"),
                           ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]:
        assert name == "one" or strategy.num_replicas_in_sync == 2
        r = train(out + "/" + name, corpus, opts, vocab, max_steps=12, log_every=1,
                  strategy=strategy, verbose=0)
        histories[name] = [json.loads(x) for x in open(out + "/" + name + "/history.jsonl")]
    print(json.dumps(histories))
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_follows_the_one_device_trajectory(tmp_path, vocab_file):
    # No dropout (its masks are drawn per replica); the sampled softmax stays on: its
    # candidates are drawn per step, the same on every replica.
    opts = options_file(tmp_path, dropout=0.0, all_clip_norm_val=1.0)
    # A new process: TensorFlow's logical devices are set before it first runs.
    proc = run_python(MIRRORED, tmp_path, opts, vocab_file, TRAIN, fresh=True, timeout=600)
    h = json.loads(proc.stdout.strip().splitlines()[-1])
    one, two = h["one"], h["two"]
    assert len(one) == len(two) == 12
    assert one[-1]["train_perplexity"] < 0.8 * one[0]["train_perplexity"]
    for a, b in zip(one, two):
        for key in ("train_perplexity_forward", "train_perplexity_backward", "grad_norm"):
            assert math.isclose(a[key], b[key], rel_tol=1e-4), (a, b)




def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multiworker_strategy_with_two_local_workers(tmp_path, vocab_file):
    """Two processes on this machine form a `MultiWorkerMirroredStrategy` cluster."""
    opts = options_file(tmp_path, batch_size=8, unroll_steps=10)
    ports = [_free_port(), _free_port()]
    run = str(tmp_path / "run")
    procs = []
    for i in range(2):
        config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                  "task": {"type": "worker", "index": i}}
        procs.append(run_cli(["train", "--options", opts, "--vocab", vocab_file, "--train",
                               TRAIN, "--out", run, "--max-steps", "8", "--log-every", "4",
                               "--strategy", "multiworker"],
                              env=child_env(env={"TF_CONFIG": json.dumps(config)})))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    assert [e["step"] for e in read_history(run)] == [4, 8]  # written once, by the chief
    load_bilm(os.path.join(run, "options.json"), os.path.join(run, "weights.hdf5"))

