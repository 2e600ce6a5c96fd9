"""Parity with the original bilm-tf code, on data it computed (tests/fixtures/bilm_tiny)."""

import json

import h5py
import numpy as np
import pytest
from keras import ops

import elmo_keras
from tests.conftest import TINY

ATOL = 1e-5
#: Each model is run eagerly (`model(ids)`) and compiled (`model.predict`: tf.function,
#: jax.jit; PyTorch runs eagerly either way).
MODES = ["call", "predict"]


def run(model, ids, mode):
    """The model's outputs as NumPy arrays, from an eager call or `predict`.

    The ids are padded to a multiple of 16 steps (padding, which must change nothing,
    stateful or not), and the outputs cut back: few shapes, so that JAX compiles few
    times. (Rows are not padded: every row, an empty one too, is framed by `<S>`
    `</S>`, as bilm-tf does, which moves a stateful model's state.)
    """
    rows, steps = ids.shape[:2]
    padded = np.pad(ids, ((0, 0), (0, -steps % 16), (0, 0)))
    if mode == "predict":
        out = model.predict(padded, batch_size=len(padded), verbose=0)
    else:
        out = {k: ops.convert_to_numpy(v) for k, v in model(padded).items()
               if k != "elmo_representations"}
    lm = out["lm_embeddings"]
    assert not np.any(lm[:, :, steps:])
    return {"lm_embeddings": lm[:rows, :, :steps], "mask": out["mask"][:rows, :steps],
            "token_embeddings": out["token_embeddings"][:rows, :steps]}


def _sentences():
    with open(TINY / "sentences.json") as f:
        return [[s.split(" ") for s in group] for group in json.load(f)]


@pytest.mark.parametrize("mode", MODES)
def test_top_layer_matches_bilm_tf_stateful_protocol(mode):
    """bilm-tf's protocol: batches [s0[i], s1[i], s2[i]], states carried row by row."""
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5",
                                 stateful=True)
    groups = _sentences()
    expected = [h5py.File(TINY / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    worst = 0.0
    for i in range(10):
        batch = [groups[k][i] for k in range(3)]
        out = run(model, elmo_keras.batch_to_ids(batch), mode)
        top = out["lm_embeddings"][:, -1]
        mask = out["mask"]
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


@pytest.mark.parametrize("mode", MODES)
def test_stateless_differs_from_stateful_and_is_batch_independent(mode):
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    groups = _sentences()
    batch = [groups[0][1], groups[1][1], groups[2][1]]
    together = run(model, elmo_keras.batch_to_ids(batch), mode)["lm_embeddings"]
    for k, sent in enumerate(batch):
        alone = run(model, elmo_keras.batch_to_ids([sent]), mode)["lm_embeddings"]
        n = len(sent)
        np.testing.assert_allclose(alone[0, :, :n], together[k, :, :n], atol=1e-5)


def test_token_embeddings_match_dump_token_embeddings():
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    words = (TINY / "vocab_test.txt").read_text(encoding="utf-8").split("\n")
    words = [w for w in words if w]
    ref = h5py.File(TINY / "elmo_token_embeddings.hdf5", "r")["embedding"][...]
    assert ref.shape == (len(words), 16)
    ids = elmo_keras.batch_to_ids([[w] for w in words])
    got = ops.convert_to_numpy(model.encode_tokens(ids))[:, 0]
    err = np.abs(got - ref).max()
    print(f"max abs error vs bilm-tf token embeddings ({len(words)} words): {err:.2e}")
    assert err < ATOL
