"""Parity with the original bilm-tf code, on data it computed (tests/fixtures/bilm_tiny)."""

import json

import h5py
import numpy as np

import elmo_keras
from tests.conftest import TINY

ATOL = 1e-5


def _sentences():
    with open(TINY / "sentences.json") as f:
        return [[s.split(" ") for s in group] for group in json.load(f)]


def test_top_layer_matches_bilm_tf_stateful_protocol():
    """bilm-tf's protocol: batches [s0[i], s1[i], s2[i]], states carried row by row."""
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5",
                                 stateful=True)
    groups = _sentences()
    expected = [h5py.File(TINY / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    worst = 0.0
    for i in range(10):
        batch = [groups[k][i] for k in range(3)]
        out = model(elmo_keras.batch_to_ids(batch))
        top = np.asarray(out["lm_embeddings"])[:, -1]
        mask = np.asarray(out["mask"])
        for k in range(3):
            ref = expected[k][str(i)][...]
            ref = np.concatenate([ref[0], ref[1]], axis=-1)
            n = len(batch[k])
            assert ref.shape == (n, 32)
            assert mask[k].sum() == n
            err = np.abs(top[k, :n] - ref).max()
            worst = max(worst, err)
            assert err < ATOL, (k, i, err)
            assert np.all(top[k, n:] == 0)
    print(f"max abs error vs bilm-tf, top layer, 30 sentences: {worst:.2e}")


def test_stateless_differs_from_stateful_and_is_batch_independent():
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    groups = _sentences()
    batch = [groups[0][1], groups[1][1], groups[2][1]]
    together = np.asarray(model(elmo_keras.batch_to_ids(batch))["lm_embeddings"])
    for k, sent in enumerate(batch):
        alone = np.asarray(model(elmo_keras.batch_to_ids([sent]))["lm_embeddings"])
        n = len(sent)
        np.testing.assert_allclose(alone[0, :, :n], together[k, :, :n], atol=1e-5)


def test_token_embeddings_match_dump_token_embeddings():
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    words = (TINY / "vocab_test.txt").read_text(encoding="utf-8").split("\n")
    words = [w for w in words if w]
    ref = h5py.File(TINY / "elmo_token_embeddings.hdf5", "r")["embedding"][...]
    assert ref.shape == (len(words), 16)
    ids = elmo_keras.batch_to_ids([[w] for w in words])
    got = np.asarray(model(ids)["token_embeddings"])[:, 0]
    err = np.abs(got - ref).max()
    print(f"max abs error vs bilm-tf token embeddings ({len(words)} words): {err:.2e}")
    assert err < ATOL
