"""`ELMo` on the JAX and PyTorch backends, with TensorFlow unimportable.

Each backend runs in a subprocess (the Keras backend is fixed per process): the import
without TensorFlow, held-out weights and sentences through `load_bilm` +
`batch_to_ids` + `predict` against this TensorFlow process, `.keras` files across
backends, `ELMoEmbedding` and `Embedder`, and the bilm-tf parity tests.
"""

import json

import numpy as np
import pytest

import elmo_keras
from tests.support.backends import run_pytest, run_python

BACKENDS = ["jax", "torch"]
ARCH = {
    "char_cnn": {"activation": "tanh", "embedding": {"dim": 6}, "filters": [[1, 8], [2, 8], [3, 16]],
                 "max_characters_per_token": 50, "n_characters": 262, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 24, "n_layers": 2, "proj_clip": 3, "projection_dim": 12,
             "use_skip_connections": True},
}
SENTENCES = [["Held", "-", "out", "words", ",", "held", "out", "."], ["Über", "naïve"], [],
             ["a"] * 30]


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """Random weights (not a fixture any test was written against), saved as bilm-tf
    files and as `.keras`, and what TensorFlow computes from them."""
    folder = tmp_path_factory.mktemp("held_out")
    model = elmo_keras.ELMo.from_options(ARCH)
    elmo_keras.save_bilm(model, folder / "options.json", folder / "weights.hdf5")
    model.save(folder / "tensorflow.keras")
    out = model.predict(elmo_keras.batch_to_ids(SENTENCES), verbose=0)
    np.save(folder / "reference.npy", out["lm_embeddings"])
    (folder / "sentences.json").write_text(json.dumps(SENTENCES))
    return folder


CHECK = """
import json, pathlib, sys
import keras, numpy as np
import elmo_keras
from elmo_keras.models.elmo.elmo_embedder import Embedder

assert sys.modules.get("tensorflow") is None  # never imported
folder = pathlib.Path({folder!r})
backend = keras.backend.backend()
sentences = json.loads((folder / "sentences.json").read_text())
reference = np.load(folder / "reference.npy")
ids = elmo_keras.batch_to_ids(sentences)

def worst(lm):
    return max(float(np.abs(lm[k, :, :len(s)] - reference[k, :, :len(s)]).max())
               for k, s in enumerate(sentences) if s)

model = elmo_keras.load_bilm(folder / "options.json", folder / "weights.hdf5")
out = model.predict(ids, verbose=0)
assert worst(out["lm_embeddings"]) < 1e-5, worst(out["lm_embeddings"])
assert np.all(out["lm_embeddings"][2] == 0)
eager = keras.ops.convert_to_numpy(model(ids)["lm_embeddings"])
assert worst(eager) < 1e-5

# A .keras file written by TensorFlow loads here with the same outputs; this backend's
# file goes back to the TensorFlow test.
loaded = keras.models.load_model(folder / "tensorflow.keras")
assert isinstance(loaded, elmo_keras.ELMo)
assert worst(loaded.predict(ids, verbose=0)["lm_embeddings"]) < 1e-6
model.save(folder / (backend + ".keras"))

# The distinct-token Embedder, compiled the backend's way, with and without a cache.
for embedder in (Embedder(model), Embedder(model, vocab=["held", "a", "zzz"])):
    for _ in range(2):
        layers = embedder(sentences)
        for k, s in enumerate(sentences):
            np.testing.assert_allclose(layers[k], reference[k, :, :len(s)], atol=1e-5)

# ELMoEmbedding on character ids and on pre-split tokens.
emb = elmo_keras.ELMoEmbedding(model=model, output="all")
by_ids = emb(ids)
by_tokens = emb(sentences)
for named in (by_ids, by_tokens):
    lstm = keras.ops.convert_to_numpy(named["lstm_outputs2"])
    np.testing.assert_allclose(lstm, reference[:, 2], atol=1e-5)

# TensorFlow-only features say so.
try:
    elmo_keras.export_hub
except ImportError as e:
    assert "SavedModel export" in str(e) and "needs TensorFlow" in str(e), e
else:
    raise AssertionError("export_hub imported without TensorFlow")
print("ok")
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_elmo_without_tensorflow(backend, held_out):
    assert run_python(CHECK.format(folder=str(held_out)), backend).strip().endswith("ok")
    # ... and the file it saved loads under TensorFlow with the same outputs.
    loaded = __import__("keras").models.load_model(held_out / f"{backend}.keras")
    out = loaded.predict(elmo_keras.batch_to_ids(SENTENCES), verbose=0)["lm_embeddings"]
    np.testing.assert_allclose(out, np.load(held_out / "reference.npy"), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_bilm_tf_parity_on_backend(backend):
    """The bilm-tf parity tests (fixture and nine variants, stateful and stateless,
    eager and `predict`) under this backend, TensorFlow unimportable."""
    out = run_pytest(["tests/parity/test_bilm_tf.py", "tests/parity/test_variants.py"], backend)
    assert " passed" in out and "failed" not in out, out
