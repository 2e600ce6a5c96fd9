"""Inference speed of elmo-keras on every Keras backend vs the original bilm-tf, one run.

    python benchmarks/inference.py [--backends tensorflow jax torch]
        [--arch original|small|tiny] [--batches 5] [--threads 2] [--skip-bilm]
        [--bf16 auto|on|off] [--lengths 20 25] [--rounds 1]

Writes random weights of the chosen published architecture in bilm-tf's format, then
runs, each in its own process with the same thread count: this package on each Keras
backend in `--backends` and bilm-tf (`bilm==0.1.post5`, TF1 code run through
`tensorflow.compat.v1`, installed by this script into `benchmarks/.bilm-venv` on first
use). All embed the same batch of 32 real sentences of 20-25 tokens (the first ones in
`elmo_keras/datasets/alice/train.txt`; `--lengths 1 60` takes the first of 1-60 tokens:
mixed lengths, 62% of the positions padding) after a warm-up; the median over `--batches` timed
batches gives tokens/s (real tokens, boundaries excluded). Peak memory is each process's
maximum RSS. The paths, per backend: `Embedder` (what `elmo-keras embed` runs: the char
CNN once per distinct token), the model's own `predict` on character ids, its eager
call `model(ids)` (compiled per shape on JAX, a `tf.function` on TensorFlow), `Embedder`
with every word in the token cache (`Embedder(model, vocab=...)`), bfloat16
(`load_bilm(..., dtype="mixed_bfloat16")`, with its largest difference from float32 over
all layers; by default only on a CPU with bfloat16 instructions: on a 2-core AMD EPYC
without them PyTorch's bfloat16 batch ran over 5 minutes), and on TensorFlow `ELMoEmbedding` on strings in a Keras model's `predict`
(fed as `elmo_keras.batched_dataset(lines)`, and as a NumPy array through Keras' own
autotuned tf.data pipeline, which often halves the speed: see `batched_dataset`)
and XLA (`Embedder(model, jit_compile=True)`). JAX picks its own CPU thread count.

`--rounds N` runs every process (each path, bilm-tf, the matmul rates) N times, one
round after the other, and reports each one's median and its range: a machine whose
speed drifts over minutes (an Intel Xeon here: its peak measured 300 to 383 GFLOP/s
within an hour) otherwise moves the ratios between paths measured minutes apart.

The limits. "peak" is this machine's best fp32 matmul rate (2048 x 2048): the best of
TensorFlow as installed, TensorFlow with its oneDNN kernels forced on
(`TF_ENABLE_ONEDNN_OPTS=1`) and NumPy, each in a child process. (Until 2026-12-05 it was
TensorFlow's as installed only: on an AMD EPYC, where TensorFlow leaves oneDNN off, 0.75x
the best, so every "of limit" there read about 1.3x too high.) The distinct-token limit
is the rate at peak of the FLOPs the batch needs: the char CNN once per distinct token
(and `<S>`, `</S>`), the biLM at every real position and the two boundaries, nothing for
padding. (Since 2026-12-05, TensorFlow's and PyTorch's inference multiply the first
layer's input gates once per distinct token as well, a fifth of the batch's FLOPs shrunk
2.6x; the limit still counts them at every position, as issue 25 defines it.) The
recurrence cannot run at peak: its matmuls have as many rows as the batch has sentences
(`[32, P] x [P, 4 U]` then `[32, U] x [U, P]`, one after the other, at every step). "shape limit" therefore times those FLOPs at the rate
measured for a chain of these very matmuls (the faster of `state @ kernel` and `kernel @
state`, under both TensorFlow settings), the rest at peak: the best a loop of matmuls can
do at this batch size.
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing
BILM_VENV = HERE / ".bilm-venv"
FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]
ARCHS = {  # (lstm dim, projection, highway, filters, char dim)
    "original": (4096, 512, 2, FILTERS, 16),
    "small": (1024, 128, 1, FILTERS, 16),
    "tiny": (64, 16, 2, [[1, 4], [2, 8], [3, 16], [4, 32], [5, 64]], 4),
}
CORPUS = HERE.parent / "elmo_keras" / "datasets" / "alice" / "train.txt"


def real_sentences(n=32, lengths=(20, 25)):
    """The first `n` sentences of 20-25 tokens of real English (the Alice fixture)."""
    found = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        tokens = line.split()
        if lengths[0] <= len(tokens) <= lengths[1]:
            found.append(tokens)
            if len(found) == n:
                return found
    raise ValueError(f"{CORPUS}: fewer than {n} sentences of {lengths} tokens")


_COMMON = r'''
import json, os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
cfg = json.loads(sys.argv[1])
import numpy as np
def report(run):
    sents = cfg["sentences"]
    n = sum(len(s) for s in sents)
    for _ in range(2):
        run(sents)
    times = []
    for _ in range(cfg["batches"]):
        t = time.perf_counter(); run(sents); times.append(time.perf_counter() - t)
    print(json.dumps({"tokens_per_s": n / float(np.median(times)),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

OURS = _COMMON + r'''
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(cfg["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(cfg["threads"])
elif keras.backend.backend() == "torch":
    import torch
    torch.set_num_threads(cfg["threads"])
import elmo_keras
from elmo_keras.models.elmo.elmo_embedder import Embedder
model = elmo_keras.load_bilm(cfg["options"], cfg["weights"],
                             **({"dtype": "mixed_bfloat16"} if cfg.get("bf16") else {}))
words = sorted({t for s in cfg["sentences"] for t in s})
if cfg.get("model_call"):  # the model's own predict (compiled the backend's way)
    ids = elmo_keras.batch_to_ids(cfg["sentences"])
    report(lambda s: model.predict(ids, batch_size=len(s), verbose=0)["lm_embeddings"])
    sys.exit()
if cfg.get("eager_call"):  # `model(ids)` in eager code (a notebook's call)
    ids = elmo_keras.batch_to_ids(cfg["sentences"])
    report(lambda s: keras.ops.convert_to_numpy(model(ids)["lm_embeddings"]))
    sys.exit()
if cfg.get("embedding_layer"):  # ELMoEmbedding on strings in a Keras model, predict
    text = keras.Input(shape=(), dtype="string")
    layer = elmo_keras.ELMoEmbedding(model=model, output="elmo")
    strings_model = keras.Model(text, layer(text))
    lines = np.array([" ".join(s) for s in cfg["sentences"]], dtype=object)
    if cfg["embedding_layer"] == "array":  # Keras' own pipeline for arrays (autotuned)
        report(lambda s: strings_model.predict(lines, batch_size=len(s), verbose=0))
    else:
        report(lambda s: strings_model.predict(
            elmo_keras.batched_dataset(lines, batch_size=len(s)), verbose=0))
    sys.exit()
embedder = Embedder(model, vocab=words if cfg.get("cache") else None,
                    jit_compile=cfg.get("xla", False))
if cfg.get("dump"):  # every layer of every sentence, to compare precisions
    np.save(cfg["dump"], np.concatenate([np.asarray(a, np.float32).reshape(-1)
                                     for a in embedder(cfg["sentences"])]))
report(embedder)
'''

# bilm-tf's inference graph in a session (`batcher`, `ids`, `ops`, `sess`): this script
# and embed_file.py append their timing to it.
BILM_SESSION = r'''
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow.compat.v1 as tf1
tf1.disable_v2_behavior()
sys.modules["tensorflow"] = tf1
from bilm import Batcher, BidirectionalLanguageModel
vocab = os.path.join(os.path.dirname(cfg["options"]), "vocab.txt")
open(vocab, "w").write("<S>\n</S>\n<UNK>\n")
batcher = Batcher(vocab, 50)
ids = tf1.placeholder("int32", shape=(None, None, 50))
ops = BidirectionalLanguageModel(cfg["options"], cfg["weights"])(ids)
conf = tf1.ConfigProto(intra_op_parallelism_threads=cfg["threads"],
                       inter_op_parallelism_threads=cfg["threads"])
sess = tf1.Session(config=conf)
sess.run(tf1.global_variables_initializer())
'''

BILM = _COMMON + BILM_SESSION + r'''
report(lambda s: sess.run(ops["lm_embeddings"], {ids: batcher.batch_sentences(s)}))
'''

MATMUL = r'''
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
t, rows, proj, dim = (int(a) for a in sys.argv[1:])
tf.config.threading.set_intra_op_parallelism_threads(t)
tf.config.threading.set_inter_op_parallelism_threads(t)

def best_rate(run, flops, rounds=5):  # the best of 5: the machine's rate, not a noisy moment
    run(); best = 0.0
    for _ in range(rounds):
        s = time.perf_counter(); run()
        best = max(best, flops / (time.perf_counter() - s) / 1e9)
    return best

a = tf.random.normal([2048, 2048]); n = 10
square = tf.function(lambda a: tf.add_n([tf.matmul(a + i, a) for i in range(n)]))
peak = best_rate(lambda: square(a).numpy(), 2 * 2048 ** 3 * n)
an = a.numpy()  # NumPy's BLAS (OpenBLAS in NumPy's wheels) on the same products
peak_numpy = best_rate(lambda: [np.matmul(an + i, an) for i in range(n)], 2 * 2048 ** 3 * n)
# The recurrence's chain: [rows, proj] x [proj, 4 dim] -> first dim columns x [dim, proj],
# batch-major, and feature-major (the kernels stored transposed, `kernel @ state`).
w = tf.random.normal([proj, 4 * dim]) * 0.02; p = tf.random.normal([dim, proj]) * 0.02
wt, pt = tf.transpose(w), tf.transpose(p)
steps = 27

def chain(h, w, p):
    for _ in range(steps):
        h = tf.matmul(tf.matmul(h, w)[:, :dim], p)
    return h

def chain_feature_major(h, wt, pt):
    for _ in range(steps):
        h = tf.matmul(pt, tf.matmul(wt, h)[:dim])
    return h

flops = 2 * steps * rows * (proj * 4 * dim + dim * proj)
batch_major, feature_major = tf.function(chain), tf.function(chain_feature_major)
h, ht = tf.random.normal([rows, proj]), tf.random.normal([proj, rows])
rec = max(best_rate(lambda: batch_major(h, w, p).numpy(), flops),
          best_rate(lambda: feature_major(ht, wt, pt).numpy(), flops))
print(json.dumps({"peak": max(peak, peak_numpy), "recurrent": rec, "peak_tf": peak,
                  "peak_numpy": peak_numpy}))
'''


def flop_parts(dim, proj, n_highway, filters, char_dim):
    """FLOPs (2 x multiply-adds) of `(one token through the char CNN, highways and
    projection; one position through the four LSTMs' input matmuls; one position through
    their recurrent and projection matmuls)`."""
    conv = sum(w * char_dim * n * (50 - w + 1) for w, n in filters)
    f = sum(n for _, n in filters)
    cnn = conv + n_highway * 2 * f * f + f * proj
    out = proj if proj < dim else dim
    per_position_input = 2 * 2 * proj * 4 * dim  # two layers, two directions
    per_position_step = 2 * 2 * (out * 4 * dim + (dim * proj if proj < dim else 0))
    return 2 * cnn, 2 * per_position_input, 2 * per_position_step


def flops_per_token(dim, proj, n_highway, filters, char_dim):
    """FLOPs of one token through the char CNN, highways, projection and the 2x2 LSTMs
    (every token through the char CNN, as bilm-tf runs it)."""
    return sum(flop_parts(dim, proj, n_highway, filters, char_dim))


def batch_limits(sentences, arch, peak, recurrent):
    """`(distinct-token limit, shape limit)` in tokens/s for `sentences` (see the module
    docstring), given the peak and recurrent-chain rates in GFLOP/s."""
    cnn, lstm_input, lstm_step = flop_parts(*ARCHS[arch])
    tokens = sum(map(len, sentences))
    positions = tokens + 2 * len(sentences)  # <S> and </S> around each sentence
    distinct = len({t for s in sentences for t in s}) + 2
    at_peak = distinct * cnn + positions * lstm_input
    needed = at_peak + positions * lstm_step
    limit = tokens * peak * 1e9 / needed
    shape_limit = tokens / (at_peak / (peak * 1e9) + positions * lstm_step / (recurrent * 1e9))
    return limit, shape_limit


def machine_rates(threads, proj, dim):
    """`{"peak", "recurrent", "sources"}`: the best fp32 rates (GFLOP/s) this machine's
    libraries reach, each measured in a child: TensorFlow as installed, TensorFlow with
    its oneDNN kernels forced on (`TF_ENABLE_ONEDNN_OPTS=1`: on a CPU where TensorFlow
    leaves them off, such as AMD's, they ran 2048 x 2048 1.3x faster), and NumPy."""
    found = {}
    for onednn in ("default", "1"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
        if onednn != "default":
            env["TF_ENABLE_ONEDNN_OPTS"] = onednn
        found[onednn] = json.loads(subprocess.run(
            [sys.executable, "-c", MATMUL, str(threads), "32", str(proj), str(dim)],
            capture_output=True, text=True, check=True, env=env).stdout)
    d, o = found["default"], found["1"]
    return {"peak": max(d["peak"], o["peak"]),
            "recurrent": max(d["recurrent"], o["recurrent"]),
            "sources": f"TensorFlow {d['peak_tf']:.0f}, with oneDNN {o['peak_tf']:.0f}, "
                       f"NumPy {d['peak_numpy']:.0f}"}


def ensure_bilm_venv():
    py = BILM_VENV / "bin" / "python"
    if not py.exists():
        print("creating", BILM_VENV, "(bilm-tf under tensorflow.compat.v1) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(BILM_VENV)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["tensorflow==2.21.0", "tf-keras==2.21.0", "h5py==3.14.0"],
                       check=True)
        subprocess.run(pip + ["--no-deps", "bilm==0.1.post5"], check=True)
    return str(py)


def architecture_options(arch, n_characters=262):
    """The options.json architecture (`char_cnn`, `lstm`) of one of `ARCHS`."""
    dim, proj, n_highway, filters, char_dim = ARCHS[arch]
    return {
        "char_cnn": {"activation": "relu", "embedding": {"dim": char_dim}, "filters": filters,
                     "max_characters_per_token": 50, "n_characters": n_characters,
                     "n_highway": n_highway},
        "lstm": {"cell_clip": 3, "dim": dim, "n_layers": 2, "proj_clip": 3,
                 "projection_dim": proj, "use_skip_connections": True},
    }


def write_model(folder, arch):
    import elmo_keras

    model = elmo_keras.ELMo.from_options(architecture_options(arch))
    elmo_keras.save_bilm(model, folder / "options.json", folder / "weights.hdf5")


def run_json(python, code, cfg, env=None):
    proc = subprocess.run([python, "-c", textwrap.dedent(code), json.dumps(cfg)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measured(failed, key, *args):
    """`run_json(*args)`, or None with its error's last line put in `failed[key]`
    (`key`: `(backend, path)`): one failing path must not lose the others' figures."""
    try:
        return run_json(*args)
    except RuntimeError as e:
        failed[key] = (str(e).strip().splitlines() or ["?"])[-1]
        print(f"{key[0]}: {key[1]} FAILED:\n{e}", file=sys.stderr, flush=True)
        return None


BACKENDS = ("tensorflow", "jax", "torch")


def cpu_has_bf16():
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16; Linux)."""
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def paths(backend, bf16=True):
    """`{path name: extra config}` measured on `backend` (bfloat16 too if `bf16`)."""
    runs = {"Embedder": {}, "model predict": dict(model_call=True),
            "model eager call": dict(eager_call=True), "Embedder + cache": dict(cache=True)}
    if backend == "tensorflow":  # strings in the graph, XLA: TensorFlow only
        runs.update({"ELMoEmbedding": dict(embedding_layer="dataset"),
                     "ELMoEmbedding array": dict(embedding_layer="array"),
                     "Embedder + XLA": dict(xla=True)})
    if bf16:
        runs["Embedder bfloat16"] = dict(bf16=True)
    return runs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="original")
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-bilm", action="store_true", help="measure this package only")
    p.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                   help="Keras backends of this package's runs (bilm-tf is TensorFlow)")
    p.add_argument("--backend", choices=BACKENDS, help="one backend (same as --backends X)")
    p.add_argument("--lengths", type=int, nargs=2, default=(20, 25), metavar=("MIN", "MAX"),
                   help="the batch's sentences: the first 32 of MIN to MAX tokens")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every process this many times, interleaved; report medians")
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                   help="the bfloat16 rows: auto measures them only on a CPU with bfloat16 "
                        "instructions (elsewhere PyTorch's ran for minutes a batch)")
    args = p.parse_args()
    backends = [args.backend] if args.backend else args.backends
    bf16 = args.bf16 == "on" or (args.bf16 == "auto" and cpu_has_bf16())
    if not bf16:
        print("bfloat16 rows left out (--bf16 on to measure them): "
              + ("asked" if args.bf16 == "off" else
                 "this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16)"),
              file=sys.stderr)
    results, errors, failed = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        # In a child: a process's peak memory counts its parent's (Linux keeps the high
        # mark across fork and exec), and the model would be this process's largest.
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(HERE)!r}); "
                        f"import inference, pathlib; inference.write_model("
                        f"pathlib.Path({tmp!r}), {args.arch!r})"], check=True,
                       env={**os.environ, "PYTHONPATH": str(HERE.parent),
                            "TF_CPP_MIN_LOG_LEVEL": "3"})
        cfg = dict(options=str(folder / "options.json"), weights=str(folder / "weights.hdf5"),
                   batches=args.batches, threads=args.threads,
                   sentences=real_sentences(lengths=args.lengths))
        jobs = []  # (key, python, code, cfg, env)
        for backend in backends:
            env = {**os.environ, "PYTHONPATH": str(HERE.parent), "KERAS_BACKEND": backend}
            if backend == "torch":
                # PyTorch's OpenMP threads spin-wait for each other between ops; on a
                # machine whose cores other processes also use, every op then waits for
                # a descheduled thread (seconds a call, and growing). PASSIVE makes them
                # sleep. It must be set before torch loads (docs/backends.md).
                env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            for name, extra in paths(backend, bf16).items():
                if name in ("Embedder", "Embedder bfloat16"):
                    dump = folder / f"{backend}-{name.replace(' ', '_')}.npy"
                    extra = dict(extra, dump=str(dump))
                jobs.append(((backend, name), sys.executable, OURS, dict(cfg, **extra), env))
        if not args.skip_bilm:
            jobs.append((("tensorflow", "bilm-tf"), ensure_bilm_venv(), BILM, cfg, None))
        runs, machine = {}, []
        for round_ in range(args.rounds):
            for key, python, code, job_cfg, env in jobs:
                if key in failed:
                    continue
                print(f"{key[0]}: {key[1]} ..." + (f" (round {round_ + 1})" if args.rounds > 1
                                                   else ""), file=sys.stderr, flush=True)
                r = measured(failed, key, python, code, job_cfg, env)
                if r is not None:
                    runs.setdefault(key, []).append(r)
                    print(f"{key[0]}: {key[1]}: {r['tokens_per_s']:.0f} tokens/s",
                          file=sys.stderr, flush=True)
            machine.append(machine_rates(args.threads, ARCHS[args.arch][1],
                                         ARCHS[args.arch][0]))
        results = {key: {"tokens_per_s": float(np.median([r["tokens_per_s"] for r in rs])),
                         "range": (min(r["tokens_per_s"] for r in rs),
                                   max(r["tokens_per_s"] for r in rs)),
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in rs)}
                   for key, rs in runs.items()}
        bilm = results.pop(("tensorflow", "bilm-tf"), None)
        for backend in backends:
            if bf16 and (backend, "Embedder bfloat16") in results \
                    and (backend, "Embedder") in results:
                full = np.load(folder / f"{backend}-Embedder.npy")
                errors[backend] = float(np.abs(
                    np.load(folder / f"{backend}-Embedder_bfloat16.npy") - full).max())
    dim, proj = ARCHS[args.arch][:2]
    rates = {k: float(np.median([m[k] for m in machine])) for k in ("peak", "recurrent")}
    rates["sources"] = machine[0]["sources"] if args.rounds == 1 else (
        f"median of {args.rounds} rounds: "
        + ", ".join(f"{m['peak']:.0f}" for m in machine))
    sents = cfg["sentences"]
    limit, shape_limit = batch_limits(sents, args.arch, rates["peak"], rates["recurrent"])
    lo, hi = args.lengths
    print(f"arch={args.arch} batch=32x({lo}-{hi} tokens) threads={args.threads} "
          f"peak={rates['peak']:.0f} GFLOP/s (2048 x 2048: {rates['sources']}) "
          f"recurrent chain [32,{proj}]x[{proj},{4 * dim}] -> [32,{dim}]x[{dim},{proj}] "
          f"(best layout): {rates['recurrent']:.0f} GFLOP/s")
    print(f"batch: {sum(map(len, sents))} tokens, {len({t for s in sents for t in s})} "
          f"distinct; distinct-token fp32 limit {limit:.0f} tokens/s, shape limit "
          f"{shape_limit:.0f} tokens/s (see the module docstring)")
    tf_rate = {name: r["tokens_per_s"] for (b, name), r in results.items()
               if b == "tensorflow"}
    print(f"{'path':18} {'backend':10} {'tokens/s':>9} {'vs bilm-tf':>10} {'vs TF':>6} "
          f"{'of limit':>8} {'of shape':>8} {'peak MB':>8}"
          + (f" {'range (tokens/s)':>17}" if args.rounds > 1 else ""))
    rows = list(results.items()) + ([(("tensorflow", "bilm-tf"), bilm)] if bilm else [])
    for (backend, name), r in rows:
        rate = r["tokens_per_s"]
        vs_bilm = f"{rate / bilm['tokens_per_s']:9.2f}x" if bilm else f"{'':>10}"
        vs_tf = (f"{rate / tf_rate[name]:5.2f}x" if name in tf_rate and backend != "tensorflow"
                 else f"{'':>6}")
        spread = (f" {r['range'][0]:8.0f}-{r['range'][1]:<8.0f}" if args.rounds > 1 else "")
        print(f"{name:18} {backend:10} {rate:9.0f} {vs_bilm} {vs_tf} {rate / limit:8.0%} "
              f"{rate / shape_limit:8.0%} {r['peak_rss_mb']:8.0f}{spread}")
    for (backend, name), why in failed.items():
        print(f"{name:18} {backend:10} {'failed':>9}  {why}")
    for backend, err in errors.items():
        speedup = (results[backend, "Embedder bfloat16"]["tokens_per_s"]
                   / results[backend, "Embedder"]["tokens_per_s"])
        print(f"{backend}: bfloat16 {speedup:.2f}x float32, largest difference over all "
              f"layers {err:.4f}")


if __name__ == "__main__":
    main()
