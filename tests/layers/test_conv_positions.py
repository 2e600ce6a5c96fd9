"""`elmo_keras.layers.kernels.conv_max` runs the char CNN's convolutions on the positions
whose windows can give the max (`needed_positions`): a token's characters are padded
with one padding character, and every window past the last position where some row
differs from its own last vector is one repeated vector, so one such window stands for
all of them. The max is that of every window, on every backend, eager and compiled."""

import textwrap

import pytest

from tests.support.processes import run_python

CONV_POSITIONS = """
import keras, numpy as np
from keras import ops
from elmo_keras.layers import kernels

rng = np.random.default_rng(0)
# Rows as the char CNN sees its tokens: their vectors, then their last one repeated
# (the padding character), and an all-zero row (a padded token position).
x = rng.normal(size=(5, 20, 4)).astype("float32")
for row, end in enumerate([3, 7, 1, 6, 2]):
    x[row, end:] = x[row, end - 1]
x[2] = 0
k = rng.normal(size=(3, 4, 5)).astype("float32")
# the NumPy reference: every one of the 18 windows times the kernel, then the max
ref = np.stack([np.einsum("nwd,wdk->nk", x[:, p:p + 3], k) for p in range(18)]).max(0)
# the last differing position is 5 (row 1): positions 0-8, windows 0-6
assert int(kernels.needed_positions(x, 3)) == 9
# The worker runs other snippets after this one: the module is left as found.
widths = []
backend = kernels.kernels()
own = backend.conv_max
backend.conv_max = lambda x, k: (widths.append(x.shape[1]), own(x, k))[1]
try:
    np.testing.assert_allclose(ops.convert_to_numpy(kernels.conv_max(x, k)), ref,
                               rtol=1e-5, atol=1e-5)
    assert widths == [9], widths
    # a row that differs up to its end: every position
    y = x.copy()
    y[0, -1] += 1
    np.testing.assert_allclose(
        ops.convert_to_numpy(kernels.conv_max(y, k)),
        np.stack([np.einsum("nwd,wdk->nk", y[:, p:p + 3], k) for p in range(18)]).max(0),
        rtol=1e-5, atol=1e-5)
    assert widths[-1] == 20, widths
    COMPILED
finally:
    backend.conv_max = own
print("ok")
"""

COMPILED = {
    "tensorflow": """
import tensorflow as tf
graph = tf.function(lambda x, k: kernels.conv_max(x, k))
np.testing.assert_allclose(graph(x, k).numpy(), ref, rtol=1e-5, atol=1e-5)
assert widths[-1] is None, widths  # a width from the values: not known when traced
xla = tf.function(lambda x, k: kernels.conv_max(x, k), jit_compile=True)
np.testing.assert_allclose(xla(x, k).numpy(), ref, rtol=1e-5, atol=1e-5)
assert widths[-1] == 20, widths  # XLA: static shapes, every position
""",
    "jax": """
import jax
np.testing.assert_allclose(jax.jit(kernels.conv_max)(x, k), ref, rtol=1e-5, atol=1e-5)
assert widths[-1] == 20, widths  # traced: static shapes, every position
""",
    "torch": "",
}


@pytest.mark.parametrize("backend", sorted(COMPILED))
def test_convolutions_skip_windows_of_one_repeated_vector(backend):
    out = run_python(CONV_POSITIONS.replace("    COMPILED\n",
                                            textwrap.indent(COMPILED[backend], "    ")),
                     backend=backend).stdout
    assert out.strip().endswith("ok")


CUT_ROWS = """
import json, sys
import keras, numpy as np
import elmo_keras
from elmo_keras.text.inputs import distinct_tokens

model = elmo_keras.ELMo.from_options(json.loads(sys.argv[1]))
encoder = model.char_encoder
words = [["a", "bank", "conversations"], ["x" * 20, "of"]]
ids = elmo_keras.batch_to_ids(words)
real = ids.reshape(-1, ids.shape[-1]).any(-1)
for compiled in (False, True):
    rows, index = distinct_tokens(ids, compiled)
    # `<S>`, `</S>`, 5 words; the longest, 20 characters, ends at position 21 (its
    # end-of-word), and one padding character is kept
    assert rows.shape[1] == (24 if compiled else 23), rows.shape
    for run in (encoder.encode_rows, COMPILED):
        got = keras.ops.convert_to_numpy(run(rows))[index.reshape(-1)]
        whole = keras.ops.convert_to_numpy(run(ids.reshape(-1, ids.shape[-1])))
        np.testing.assert_allclose(got[real], whole[real], rtol=0, atol=1e-6)
# a token of 50 characters and more: nothing to cut
rows, _ = distinct_tokens(elmo_keras.batch_to_ids([["y" * 60]]))
assert rows.shape[1] == 50, rows.shape
print("ok")
"""

CUT_COMPILED = {"tensorflow": "__import__('tensorflow').function(encoder.encode_rows)",
                "jax": "__import__('jax').jit(encoder.encode_rows)",
                "torch": "encoder.encode_rows"}

ARCH = {"char_cnn": {"activation": "relu", "embedding": {"dim": 4},
                     "filters": [[1, 4], [2, 8], [5, 8]], "max_characters_per_token": 50,
                     "n_characters": 262, "n_highway": 1},
        "lstm": {"cell_clip": 3, "dim": 16, "n_layers": 1, "proj_clip": 3,
                 "projection_dim": 8, "use_skip_connections": True}}


@pytest.mark.parametrize("backend", sorted(CUT_COMPILED))
def test_distinct_tokens_cut_after_their_characters_encode_as_whole_rows(backend):
    """`text.inputs.distinct_tokens` cuts its rows after their characters (JAX's
    compiled calls: to a multiple of 8), and `CharacterEncoder.encode_rows` gives cut
    rows the vectors of the whole ones, eagerly and compiled (traced JAX: static
    shapes)."""
    import json
    code = CUT_ROWS.replace("COMPILED", CUT_COMPILED[backend])
    out = run_python(code, json.dumps(ARCH), backend=backend).stdout
    assert out.strip().endswith("ok")
