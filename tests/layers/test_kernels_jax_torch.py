"""The JAX and PyTorch kernels (`elmo_keras.layers.kernels`): what makes them fast must
not change what they compute.

JAX compiles per input shape: an eager `model(ids)` and `predict` pad the steps to a
multiple of `STEP_BUCKET` (4), so lengths 5 to 8 share one compiled program, and the
outputs at the real steps are those of the unpadded ids. PyTorch's inference loop
(gates in place, padding skipped) must match its autograd loop (training).
"""

import json

import pytest

from tests.conftest import SMALL_OPTIONS
from tests.support.processes import run_python

JAX_BUCKETS = """
import json, sys
import jax, keras, numpy as np
import elmo_keras
from elmo_keras.layers.kernels import STEP_BUCKET as B

model = elmo_keras.ELMo.from_options(json.loads(sys.argv[1]))
traces = []
call = model.bilm.call
model.bilm.call = lambda *a, **k: (traces.append(1), call(*a, **k))[1]

def ids(n):  # two rows: n tokens and 3
    return elmo_keras.batch_to_ids([[f"w{i}" for i in range(n)], ["a", "b", "c"]])

# Unbucketed reference: the model jit-compiled for the exact length (B + 3).
exact = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x)[0])
ref = exact([v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables], ids(B + 3))
# `predict` (its batches through the eager call's compiled copy), the eager call (the
# same copy: no new trace), `predict` with callbacks (Keras' own program)
for run in (lambda x: model.predict(x, verbose=0), model,
            lambda x: model.predict(x, verbose=0, callbacks=[])):
    del traces[:]
    for n in range(B + 1, 2 * B + 1):
        out = run(ids(n))
        assert out["lm_embeddings"].shape[2] == n and out["mask"].shape[1] == n, n
        if n == B + 3:
            for key in ("lm_embeddings", "token_embeddings", "mask"):
                np.testing.assert_allclose(np.asarray(out[key]), np.asarray(ref[key]),
                                           rtol=0, atol=1e-6)
    one_bucket = len(traces)
    run(ids(2 * B + 1))  # the next bucket compiles again
    print(one_bucket, len(traces) - one_bucket)
# batch by batch: the same outputs as in one batch
x = np.concatenate([ids(B + 2)] * 3)
for key, a in model.predict(x, batch_size=4, verbose=0).items():
    b = model.predict(x, verbose=0, callbacks=[])[key]
    for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        assert u.shape == v.shape and isinstance(u, np.ndarray), (key, u.shape, v.shape)
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-6)
"""


def test_jax_steps_bucketed_in_call_and_predict():
    """Lengths B + 1 .. 2B (`STEP_BUCKET`) trace the model once in `predict` (one
    bucket), 2B + 1 again; the eager call then reuses that program (`predict` runs its
    batches through it), and `predict` with callbacks (Keras' own program) buckets
    the same way; outputs equal the exact-length program's at the real steps."""
    lines = run_python(JAX_BUCKETS, json.dumps(SMALL_OPTIONS), backend="jax").stdout.split()
    predict, predict_next, eager, eager_next, keras_predict, keras_next = map(
        int, lines[-6:])
    assert predict == 1 and predict_next == 1, lines
    assert eager == 0 and eager_next == 0, lines
    assert keras_predict == 1 and keras_next == 1, lines

TORCH_INFERENCE = """
import json, sys
import keras, numpy as np, torch
from elmo_keras.layers.bilm import BiLM

bilm = BiLM(16, 8, n_layers=2, cell_clip=3.0, proj_clip=0.5)
bilm.build((None, None, 10))
x = keras.random.normal((3, 7, 10), seed=1)
mask = np.arange(7)[None, :] < np.array([[7], [4], [0]])
states = tuple(0.5 * keras.random.normal(s.shape, seed=2) for s in bilm.zero_states(3))
stacked = keras.ops.stack([x, keras.ops.flip(x, axis=1)])
trained, trained_states = bilm.run_directions(stacked, mask, states)  # autograd loop
with torch.no_grad():
    inferred, inferred_states = bilm.run_directions(stacked, mask, states)
for a, b in zip(trained + list(trained_states), inferred + list(inferred_states)):
    np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=0, atol=1e-6)
# 40 rows in no length order: inference (rows longest first) runs steps on 16 or 32
# of them; without `inference` every step runs on all, whatever the order.
lengths = np.random.default_rng(0).integers(0, 12, 40)
mask = np.arange(12)[None, :] < lengths[:, None]
# Seven distinct token vectors: inference computes the first layer's input gates once
# per distinct row (`distinct_rows`) and gathers them.
vocab = np.random.default_rng(1).normal(size=(7, 10)).astype("float32")
x = torch.tensor(vocab[np.random.default_rng(2).integers(0, 7, (2, 40, 12))])
import elmo_keras.layers.kernels.torch as kt
distinct = []
distinct_rows = kt.distinct_rows  # put back at the end, for the worker's next snippets
kt.distinct_rows = lambda rows: (distinct.append(distinct_rows(rows)), distinct[-1])[1]
states = tuple(0.5 * keras.random.normal(s.shape, seed=4) for s in bilm.zero_states(40))
trained = bilm.run_directions(x, mask, states)
# Inference in float32 on a CPU runs batch-major on oneDNN's prepacked linear; where a
# PyTorch lacks it, on `torch.mm`: both routes, and the prepacked one must be there.
assert kt.onednn_linear() is not None, "no oneDNN prepacked linear in this PyTorch"
routes = {"prepacked": kt._prepacked_route, "mm": lambda x, *weights: False}
with torch.no_grad():
    for route, inference in [(r, i) for r in routes for i in (False, True)]:
        kt._prepacked_route = routes[route]
        inferred = bilm.run_directions(x, mask, states, inference=inference)
        for a, b in zip(trained[0] + list(trained[1]), inferred[0] + list(inferred[1])):
            np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=0, atol=1e-6,
                                       err_msg=route)
kt._prepacked_route = routes["prepacked"]
# A kernel written after a call (fine-tuning, `set_weights`): the next inference call
# uses the new values, not the prepacked copy of the old ones.
for cell in (bilm.forward_cells[1], bilm.backward_cells[0]):
    for v in (cell.recurrent_kernel, cell.projection_kernel):
        v.assign(v * 1.5)
rewritten = bilm.run_directions(x, mask, states)
with torch.no_grad():
    inferred = bilm.run_directions(x, mask, states, inference=True)
for a, b in zip(rewritten[0] + list(rewritten[1]), inferred[0] + list(inferred[1])):
    np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=0, atol=1e-6)
assert not np.allclose(rewritten[0][1].detach().numpy(), trained[0][1].detach().numpy())
trained = bilm.run_directions(x, mask, states)
# Kernels made under `torch.inference_mode` (no version counter to see writes by) run the
# `torch.mm` loop.
with torch.inference_mode():
    made_there = BiLM(16, 8, n_layers=2, cell_clip=3.0, proj_clip=0.5)
    made_there.build((None, None, 10))
    made_there.set_weights(bilm.get_weights())
    inferred = made_there.run_directions(x, mask, states, inference=True)
for a, b in zip(trained[0] + list(trained[1]), inferred[0] + list(inferred[1])):
    np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=0, atol=1e-6)
# `inference` under autograd (a call with training false whose gradients are taken):
# the packed loop's autograd form gives the same outputs and gradients.
grads = []
for inference in (False, True):
    xg = x.detach().clone().requires_grad_(True)
    outputs, finals = bilm.run_directions(xg, mask, states, inference=inference)
    loss = sum((o ** 2).sum() for o in outputs) + sum((f ** 2).sum() for f in finals)
    grads.append(torch.autograd.grad(loss, [xg] + [v.value for v in bilm.trainable_variables]))
    for a, b in zip(trained[0] + list(trained[1]), list(outputs) + list(finals)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-6)
for a, b in zip(*grads):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
assert distinct and all(len(first) == 7 for first, _ in distinct), distinct
kt.distinct_rows = distinct_rows
print("ok")
"""


def test_torch_inference_loop_matches_autograd_loop():
    """PyTorch's inference recurrence (gates in place; in `run_directions`' inference
    the rows longest first, the input gates for the real tokens only and each step on
    its real rows on oneDNN's prepacked kernels, or on 16 or 32 columns on `torch.mm`)
    computes what the autograd loop computes, with clips, masked steps and initial
    states, also after its kernels are written; under autograd the same outputs and
    gradients."""
    out = run_python(TORCH_INFERENCE, backend="torch").stdout
    assert out.strip().endswith("ok")


JAX_WIDTHS = """
import jax, keras, numpy as np
from elmo_keras.layers.bilm import BiLM
from elmo_keras.layers.kernels.jax import step_widths

assert step_widths(16) == [0, 8, 16] and step_widths(17) == [0, 9, 17]
assert step_widths(3) == [0, 3]
bilm = BiLM(16, 8, n_layers=2, cell_clip=3.0, proj_clip=0.5)
bilm.build((None, None, 10))
x = keras.random.normal((2, 16, 9, 10), seed=1)
# rows not in length order, an empty row, a last step no row has: steps of every width
lengths = np.array([4, 7, 0, 5, 1, 8, 2, 3, 6, 8, 2, 1, 7, 3, 5, 4])
mask = np.arange(9)[None, :] < lengths[:, None]
states = tuple(0.5 * keras.random.normal(s.shape, seed=2) for s in bilm.zero_states(16))
masked = bilm.run_directions(x, mask, states)
values = [v.value for v in bilm.variables]
def traced(values, x, mask, states):
    with keras.StatelessScope(state_mapping=list(zip(bilm.variables, values))):
        return bilm.run_directions(x, mask, states, inference=True)
for outputs, finals in (bilm.run_directions(x, mask, states, inference=True),
                        jax.jit(traced)(values, x, mask, states)):
    for a, b in zip(masked[0] + list(masked[1]), outputs + list(finals)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-6)
print("ok")
"""


def test_jax_inference_steps_on_fewer_columns_compute_the_same():
    """JAX's inference scan (rows longest first, each step on the fewest of a few
    widths of columns, padded steps skipped) computes what its training scan does,
    eagerly and traced, in the callers' row order."""
    out = run_python(JAX_WIDTHS, backend="jax").stdout
    assert out.strip().endswith("ok")


JAX_DISTINCT = """
import jax, keras, numpy as np
from elmo_keras.layers.character_encoder import CharacterEncoder
from elmo_keras.layers.kernels import jax as kernel

enc = CharacterEncoder([[1, 4], [2, 8]], 4, 6, n_highway=1)
enc.build((None, None, 50))
rng = np.random.default_rng(0)

def ids(n_distinct, shape):  # `shape` positions drawn from n_distinct tokens, some padding
    vocab = rng.integers(1, 262, (n_distinct, 50)).astype("int32")
    out = vocab[rng.integers(0, n_distinct, shape)]
    out[:, -3:] = 0
    return out

def every_row(values, x):  # the reference: each position encoded on its own
    with keras.StatelessScope(state_mapping=list(zip(enc.trainable_variables, values))):
        flat = x.reshape(-1, 50)
        h = enc.encode_rows(flat) * (flat > 0).any(-1)[:, None]
        return h.reshape(x.shape[:-1] + (6,))

def shared(values, x):  # the layer's call: each distinct row once
    return enc.stateless_call(values, [], x)[0]

values = [v.value for v in enc.trainable_variables]
chunk = kernel.DISTINCT_CHUNK
# distinct rows fewer than a chunk (later chunks skipped), more than one, and every
# position distinct
for n_distinct, shape in [(20, (4, 70)), (chunk + 30, (4, 90)), (4 * 90, (4, 90))]:
    x = ids(n_distinct, shape)
    ref = jax.jit(every_row)(values, x)  # jitted: eagerly each op compiles per shape
    got = jax.jit(shared)(values, x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(enc(x)), np.asarray(ref), rtol=0, atol=1e-6)
    loss = lambda f: (lambda v: (f(v, x) ** 2).sum())
    for a, b in zip(*(jax.jit(jax.grad(loss(f)))(values) for f in (shared, every_row))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
print("ok")
"""


@pytest.mark.slow  # JAX compiles each shape's call and gradient
def test_jax_traced_distinct_tokens_match_every_row():
    """Inside `jax.jit` (`predict`, `fit`) the char CNN encodes each distinct token
    once by sorting the rows, chunks past the distinct count skipped: outputs and
    gradients equal encoding every position, below one chunk, above it and with every
    position distinct; the eager (NumPy) path agrees."""
    out = run_python(JAX_DISTINCT, backend="jax").stdout
    assert out.strip().endswith("ok")


BLOCKED_CONV = """
import keras, numpy as np
from keras import ops
from elmo_keras.layers import kernels
from elmo_keras.layers.kernels import kernels as backend
# the backend's calls: INFERENCE, GRADIENTS

# The worker runs other snippets after this one: the module is left as found.
calls = []
windows_max = backend().windows_max
blocking, block_bytes = kernels.CONV_BLOCKING_BYTES, kernels.CONV_BLOCK_BYTES
backend().windows_max = lambda *a: (calls.append(1), windows_max(*a))[1]
try:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 11, 4)).astype("float32")
    x[:, 2:6] = x[:, 1:2]  # equal windows at positions 1-3 (two blocks): ties at the max
    k = rng.normal(size=(3, 4, 5)).astype("float32")
    # the NumPy reference: every position's window times the kernel, then the max
    ref = np.stack([np.einsum("nwd,wdk->nk", x[:, p:p + 3], k) for p in range(9)]).max(0)
    kernels.CONV_BLOCKING_BYTES = 0  # every convolution in blocks
    grads = []
    for block in (2, 4, None):  # positions a block (the last one short), or one matmul
        kernels.CONV_BLOCK_BYTES = 6 * 5 * 4 * (block or 9)  # rows * filters * 4 bytes each
        assert kernels.conv_block(x, k) == block, block
        del calls[:]
        np.testing.assert_allclose(ops.convert_to_numpy(INFERENCE(x, k)), ref, rtol=1e-5,
                                   atol=1e-5)
        assert bool(calls) == (block is None), (block, calls)  # the blocks ran
        grads.append(GRADIENTS(x, k))  # the one matmul's: the same whatever the blocks
    for g in grads[:2]:
        for a, b in zip(g, grads[2]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
finally:
    backend().windows_max = windows_max
    kernels.CONV_BLOCKING_BYTES, kernels.CONV_BLOCK_BYTES = blocking, block_bytes
print("ok")
"""

JAX_CONV = """
import jax
def INFERENCE(x, k):
    eager = backend().conv_max(x, k)
    np.testing.assert_allclose(jax.jit(lambda x, k: backend().conv_max(x, k))(x, k), eager,
                               rtol=1e-6, atol=1e-6)  # a new trace each time
    return eager
def GRADIENTS(x, k):
    return [np.asarray(g) for g in jax.grad(
        lambda x, k: (backend().conv_max(x, k) ** 3).sum(), (0, 1))(x, k)]
"""

TORCH_CONV = """
import torch
def INFERENCE(x, k):
    with torch.no_grad():
        return backend().conv_max(torch.tensor(x), torch.tensor(k))
def GRADIENTS(x, k):
    x, k = torch.tensor(x, requires_grad=True), torch.tensor(k, requires_grad=True)
    (backend().conv_max(x, k) ** 3).sum().backward()
    return [x.grad.numpy(), k.grad.numpy()]
"""


@pytest.mark.parametrize("backend,functions", [("jax", JAX_CONV), ("torch", TORCH_CONV)])
def test_conv_max_in_blocks_of_positions_matches_a_numpy_sliding_window(backend, functions):
    """The char-CNN convolution in blocks of positions under a running max (what JAX
    and PyTorch run when the whole product would be large: `kernels.conv_block`)
    equals a NumPy loop over the positions, blocks of 2 and 4 positions of 9 (the last
    one short) and one block; JAX eager and jit-compiled; gradients are those of the
    one matmul (`windows_max`), ties at the max included."""
    out = run_python(BLOCKED_CONV.replace("# the backend's calls: INFERENCE, GRADIENTS\n",
                                          functions), backend=backend).stdout
    assert out.strip().endswith("ok")


JAX_JOINT_KERNELS = """
import json, sys
import numpy as np
import elmo_keras
from elmo_keras.layers.kernels import jax as kernel
from elmo_keras.models.elmo.elmo_embedder import Embedder

model = elmo_keras.ELMo.from_options(json.loads(sys.argv[1]))
sentences = [["The", "bank", "of", "the", "river"], ["Hi", "there"]]
ids = elmo_keras.batch_to_ids(sentences)
asked, looked_up = [], []
joint_kernel, row_gates = kernel.joint_kernel, kernel.row_gates
kernel.joint_kernel = lambda *a: (asked.append(joint_kernel(*a)), asked[-1])[1]
kernel.row_gates = lambda *a: (looked_up.append(a[0].shape), row_gates(*a))[1]
embedder = Embedder(model)
cells = model.bilm.forward_cells + model.bilm.backward_cells
for step in range(3):
    if step:  # new weights: the kept joint kernels are made again
        cell = cells[step]
        cell.kernel.assign(cell.kernel.numpy() * 1.5)
        cell.recurrent_kernel.assign(cell.recurrent_kernel.numpy() - 0.25)
    got = embedder(sentences)
    # the reference: Keras' `predict` program (with callbacks: its kernels joined in it)
    ref = model.predict(ids, verbose=0, callbacks=[])["lm_embeddings"]
    for k, s in enumerate(sentences):
        np.testing.assert_allclose(got[k], ref[k, :, :len(s)], rtol=0, atol=1e-6)
    for cell in cells:
        joint = kernel._JOINTS[id(cell)][3]
        np.testing.assert_array_equal(
            joint, np.concatenate([cell.kernel.numpy(), cell.recurrent_kernel.numpy()], 1))
# the Embedder traced once: its first layer's gates multiplied once per distinct
# token and looked up (`row_gates`: the 2 sentences' 7 distinct tokens and `<S>`,
# `</S>`, padded to 16 rows), the later layers' joint kernels passed in (not
# concatenated in the program); Keras' `predict` program (traced once) concatenates
# every joint kernel
assert looked_up == [(16, 8)] * 2, looked_up
assert [j is not None for j in asked] == [True] * 2 + [False] * len(cells), asked
kernel.joint_kernel, kernel.row_gates = joint_kernel, row_gates  # for the worker's next
print("ok")
"""


def test_jax_compiled_functions_keep_joint_kernels_and_remake_them_when_weights_change():
    """JAX's compiled functions (`Embedder` here) take each cell's joint kernel
    (`[kernel | recurrent_kernel]`, what the inference loop multiplies) kept from call
    to call, not concatenated in the program; the `Embedder`'s first layer multiplies
    its input gates once per distinct token (`row_gates`); after the weights are
    assigned the outputs follow them (equal Keras' own `predict` program)."""
    out = run_python(JAX_JOINT_KERNELS, json.dumps(SMALL_OPTIONS), backend="jax").stdout
    assert out.strip().endswith("ok")
