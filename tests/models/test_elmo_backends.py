"""`ELMo` on the JAX and PyTorch backends, with TensorFlow unimportable.

Each backend runs in its worker process (the Keras backend is fixed per process;
`tests/support/processes.py`), started once and shared by these checks: the import
without TensorFlow, held-out weights and sentences through `load_bilm` +
`batch_to_ids` + `predict` against this TensorFlow process, `.keras` files across
backends, `ELMoEmbedding` and `Embedder`, and the bilm-tf parity tests.
"""

import json
import re

import numpy as np
import pytest

import elmo_keras
from tests.parity.test_variants import KERNEL_VARIANTS, VARIANTS
from tests.support.processes import run_pytest, run_python

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
# A model whose mixes add a loss (`l2_coef`) keeps it from an eager call (JAX's compiled
# copy would drop it: the call runs as it is).
penalized = elmo_keras.load_bilm(folder / "options.json", folder / "weights.hdf5",
                                 l2_coef=0.01)
penalized.scalar_mixes[0].mix_weights.assign([0.3, -0.2, 0.1])
penalized(ids)
np.testing.assert_allclose([float(x) for x in penalized.losses], [0.0014], rtol=1e-5)

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
    assert "SavedModel" in str(e) and "needs TensorFlow" in str(e), e
else:
    raise AssertionError("export_hub imported without TensorFlow")
print("ok")
"""


@pytest.mark.slow  # every path of a JAX or PyTorch model, each compiled
@pytest.mark.parametrize("backend", BACKENDS)
def test_elmo_without_tensorflow(backend, held_out):
    out = run_python(CHECK.format(folder=str(held_out)), backend=backend).stdout
    assert out.strip().endswith("ok")
    # ... and the file it saved loads under TensorFlow with the same outputs.
    loaded = __import__("keras").models.load_model(held_out / f"{backend}.keras")
    out = loaded.predict(elmo_keras.batch_to_ids(SENTENCES), verbose=0)["lm_embeddings"]
    np.testing.assert_allclose(out, np.load(held_out / "reference.npy"), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_bilm_tf_parity_on_backend(backend):
    """The bilm-tf parity tests under this backend, TensorFlow unimportable: the
    fixture stateful and stateless, eager and `predict`; through `predict`, the
    variants whose options reach this backend's own kernels (`KERNEL_VARIANTS`). JAX
    compiles each call and shape apart, a few seconds each: the eager call of every
    variant doubled this test's minute on 2 cores, and the six other variants took a
    third of it; the eager path is the fixture's and `test_elmo_without_tensorflow`'s."""
    others = f"call or not ({' or '.join(KERNEL_VARIANTS)})"
    out = run_pytest(["tests/parity/test_bilm_tf.py", "tests/parity/test_variants.py"],
                     backend, "-rp", "-k", f"not (test_variant_matches_bilm_tf and ({others}))")
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|deselected)", out)}
    assert counts.get("passed", 0) >= 9 and "failed" not in counts, out
    for variant in KERNEL_VARIANTS:
        assert f"PASSED tests/parity/test_variants.py::test_variant_matches_bilm_tf[" \
               f"{variant}-predict]" in out, out
    assert counts.get("deselected") == 2 * len(VARIANTS) - len(KERNEL_VARIANTS), out


EAGER = """
import json, logging, sys
import jax, keras, numpy as np
import elmo_keras

model = elmo_keras.ELMo.from_options(json.loads(sys.argv[1]), stateful=True)
ids = [elmo_keras.batch_to_ids(s) for s in (  # one shape; 2, 20 and 40 distinct words
    [["a"] * 10, ["b"] * 10], [[f"w{i}" for i in range(10)], [f"v{i}" for i in range(10)]],
    [[f"x{i}" for i in range(20)], [f"y{i}" for i in range(20)]])]
ids[:2] = [np.pad(x, ((0, 0), (0, 10), (0, 0))) for x in ids[:2]]
model(ids[1])  # compiles the call for this shape and up to 32 distinct tokens
compiles = []
handler = logging.Handler()
handler.emit = lambda record: compiles.append(record.getMessage())
logging.getLogger("jax").addHandler(handler)
with jax.log_compiles(True):
    first = model(ids[0])["lm_embeddings"]  # other tokens, fewer: the same program
    again = model(ids[0])["lm_embeddings"]
assert not compiles, compiles
with jax.log_compiles(True):
    model(ids[2])  # more distinct tokens (42 with `<S>`, `</S>`) than 32: once more
    model(ids[1])
assert sum("Finished XLA compilation" in m for m in compiles) == 1, compiles
# ... and the states carried between the calls, as `predict` carries them.
model.reset_state()
ref = [model.predict(x, verbose=0)["lm_embeddings"] for x in ids]
model.reset_state()
for x, r in zip(ids, ref):
    np.testing.assert_allclose(np.asarray(model(x)["lm_embeddings"]), r, atol=1e-5)
assert not np.allclose(np.asarray(first), np.asarray(again))  # the state moved on
print("ok")
"""


def test_eager_jax_call_compiles_once_per_shape():
    """An eager `model(ids)` on JAX runs one jit-compiled call (eager JAX would compile
    every op for every new shape: seconds a call), reused for the same shape and other
    tokens (compiled once more for a batch with more distinct tokens than any before),
    with a stateful model's states carried as `predict` carries them."""
    out = run_python(EAGER, json.dumps(ARCH), backend="jax").stdout
    assert out.strip().endswith("ok")
