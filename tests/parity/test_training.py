"""Training against the original bilm-tf training code (tests/fixtures/bilm_training,
made by its make_reference.py with bilm-tf's own LanguageModel, data pipeline,
Adagrad and gradient clipping), on each Keras backend: TensorFlow here, JAX and PyTorch
in their worker processes (the backend is fixed per process)."""

import json

import h5py
import numpy as np
import pytest

from elmo_keras.datasets import alice_dir
from elmo_keras.training.corpus import StreamBatcher, iter_sentences
from elmo_keras.training import train
from elmo_keras.training.vocabulary import Vocabulary
from tests.conftest import FIXTURES
from tests.support.processes import run_python

FIX = FIXTURES / "bilm_training"
CORPUS = alice_dir() / "train.txt"


REFERENCES = [FIX, FIX / "token_inputs"]  # character inputs; token ids with tied softmax


@pytest.mark.parametrize("ref_dir", REFERENCES, ids=["chars", "tokens"])
def test_batches_match_bilm_tf_data_pipeline(ref_dir):
    ref = np.load(ref_dir / "batches.npz")
    opts = json.loads((ref_dir / "options.json").read_text())
    char_inputs = "char_cnn" in opts
    vocab = Vocabulary.load(FIX / "vocab.txt")
    batcher = StreamBatcher(iter_sentences([CORPUS]), vocab, opts["batch_size"],
                            opts["unroll_steps"], char_inputs=char_inputs)
    for k in range(ref["token_ids"].shape[0]):
        b = next(batcher)
        assert b["weights"].min() == 1.0
        np.testing.assert_array_equal(b["token_ids"][:, 0], ref["token_ids"][k])
        np.testing.assert_array_equal(b["token_ids"][:, 1], ref["token_ids_reverse"][k])
        np.testing.assert_array_equal(b["targets"][:, 0], ref["next_token_id"][k])
        np.testing.assert_array_equal(b["targets"][:, 1], ref["next_token_id_reverse"][k])
        if not char_inputs:
            assert "char_ids" not in b
            continue
        # bilm-tf's training char ids have no padding id; ours are shifted by one.
        np.testing.assert_array_equal(b["char_ids"][:, 0], ref["tokens_characters"][k] + 1)
        np.testing.assert_array_equal(b["char_ids"][:, 1],
                                      ref["tokens_characters_reverse"][k] + 1)


@pytest.mark.parametrize("ref_dir", REFERENCES, ids=["chars", "tokens"])
def test_training_steps_match_bilm_tf(tmp_path, ref_dir):
    ref_losses = json.loads((ref_dir / "losses.json").read_text())
    n = len(ref_losses)
    # bilm-tf's state handling (carried, never reset) is an option, not the default.
    options = json.loads((ref_dir / "options.json").read_text())
    options["state_reset_prob"] = 0.0
    train(tmp_path / "run", CORPUS, options, FIX / "vocab.txt",
          max_steps=n, init_weights=ref_dir / "initial_weights.hdf5", log_every=1, verbose=0)
    assert_run_matches_bilm_tf(tmp_path / "run", ref_dir)


@pytest.mark.slow  # a backend's worker process, and its compiles (JAX)
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_training_steps_match_bilm_tf_on_other_backends(tmp_path, backend):
    refs = dict(zip(["chars", "tokens"], REFERENCES))
    run_python("""
        import json, pathlib, sys
        import keras
        from elmo_keras.training import train
        out, fix, corpus, backend = sys.argv[1:5]
        assert keras.backend.backend() == backend
        out, fix = pathlib.Path(out), pathlib.Path(fix)
        for name, ref in json.loads(sys.argv[5]).items():
            ref = pathlib.Path(ref)
            options = json.loads((ref / "options.json").read_text())
            options["state_reset_prob"] = 0.0
            train(out / name, corpus, options, fix / "vocab.txt",
                  max_steps=len(json.loads((ref / "losses.json").read_text())),
                  init_weights=ref / "initial_weights.hdf5", log_every=1, verbose=0)
        """, tmp_path, FIX, CORPUS, backend, json.dumps({k: str(v) for k, v in refs.items()}),
               backend=backend)
    for name, ref_dir in refs.items():
        assert json.loads((tmp_path / name / "run.json").read_text())["trainer"] == backend
        assert_run_matches_bilm_tf(tmp_path / name, ref_dir)


def assert_run_matches_bilm_tf(run, ref_dir):
    """The history and weights a trainer wrote in `run` are bilm-tf's after the steps of
    `ref_dir`'s `losses.json` (also used by the JAX data-parallel test)."""
    ref_losses = json.loads((ref_dir / "losses.json").read_text())
    history = [json.loads(x) for x in open(run / "history.jsonl")]
    assert [e["step"] for e in history] == list(range(1, len(ref_losses) + 1))
    for ours, ref in zip(history, ref_losses):
        np.testing.assert_allclose(np.log(ours["train_perplexity_forward"]), ref["forward"],
                                   atol=1e-5)
        np.testing.assert_allclose(np.log(ours["train_perplexity_backward"]), ref["backward"],
                                   atol=1e-5)
    # After the steps, every weight (softmax included) is where bilm-tf's went.
    with h5py.File(ref_dir / "final_weights.hdf5") as ref, \
            h5py.File(run / "weights.hdf5") as w, \
            h5py.File(run / "softmax.hdf5") as s, \
            h5py.File(ref_dir / "initial_weights.hdf5") as init:
        names = []
        ref.visititems(lambda k, v: names.append(k) if isinstance(v, h5py.Dataset) else None)
        moved = 0
        for name in names:
            ours = (s if name.startswith("softmax") else w)[name][...]
            np.testing.assert_allclose(ours, ref[name][...], atol=2e-5, err_msg=name)
            moved += not np.allclose(init[name][...], ref[name][...])
        assert moved == len(names)
