"""What the training tests share: the Alice corpus, a tiny biLM's options, a
vocabulary fixture, and readers of a run directory."""

import json
import os
import time

import pytest

from elmo_keras.apps.cli import main
from elmo_keras.datasets import alice_dir
from tests.support.processes import start_cli

ALICE = alice_dir()
TRAIN, VALID, TEST = (str(ALICE / f"{s}.txt") for s in ("train", "valid", "test"))
TINY = {
    "char_cnn": {"activation": "relu", "embedding": {"dim": 8},
                 "filters": [[1, 16], [2, 16], [3, 32], [4, 32]],
                 "max_characters_per_token": 50, "n_characters": 261, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 128, "n_layers": 2, "proj_clip": 3,
             "projection_dim": 64, "use_skip_connections": True},
    "batch_size": 16, "unroll_steps": 20, "n_epochs": 3, "n_negative_samples_batch": 256,
}


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    assert main(["vocab", TRAIN, str(path), "--min-count", "2"]) == 0
    return str(path)


def options_file(tmp_path, **changes):
    """A new options file: `TINY` with `changes`."""
    d = json.loads(json.dumps(TINY))
    d.update(changes)
    path = tmp_path / f"options_{len(list(tmp_path.glob('options_*')))}.json"
    path.write_text(json.dumps(d))
    return str(path)


def read_history(run):
    return [json.loads(x) for x in open(os.path.join(run, "history.jsonl"))]


def run_cli(args, env=None):
    """The real command line in a new process (stdout, stderr piped): `start_cli`."""
    return start_cli(*args, env=env)


def wait_for_steps(run, n, proc, timeout=600):
    """Waits until `history.jsonl` has `n` lines (the process must still run)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        path = os.path.join(run, "history.jsonl")
        if os.path.exists(path) and len(open(path).read().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("training did not progress")
