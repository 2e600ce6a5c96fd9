"""Inference speed of elmo-keras vs the original bilm-tf, measured in one run.

    python benchmarks/inference.py [--backend tensorflow|jax|torch]
        [--arch original|small|tiny] [--batches 5] [--threads 2]

Writes random weights of the chosen published architecture in bilm-tf's format, then
runs, each in its own process with the same thread count: this package (in this
environment) and bilm-tf (`bilm==0.1.post5`, TF1 code run through
`tensorflow.compat.v1`, installed by this script into `benchmarks/.bilm-venv` on first
use). Both embed the same batch of 32 real sentences of 20-25 tokens (the first ones in
`elmo_keras/datasets/alice/train.txt`) after a warm-up; the median over `--batches` timed
batches gives tokens/s (real tokens, boundaries excluded).
Peak memory is each process's maximum RSS. "elmo-keras" is `Embedder` (what
`elmo-keras embed` runs: the char CNN once per distinct token) on the Keras backend
`--backend`; more processes measure the model's own `predict` on character ids,
every word in the token-embedding cache (`Embedder(model, vocab=...)`), bfloat16
(`load_bilm(..., dtype="mixed_bfloat16")`), and on TensorFlow `ELMoEmbedding` on
strings (untokenized sentences) in a Keras model's `predict` and XLA
(`Embedder(model, jit_compile=True)`). JAX picks its own CPU thread count. It also measures this machine's fp32 matmul
throughput and the model's FLOPs per token, hence the fraction of the compute limit.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

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
if cfg.get("embedding_layer"):  # ELMoEmbedding on strings in a Keras model, predict
    text = keras.Input(shape=(), dtype="string")
    layer = elmo_keras.ELMoEmbedding(model=model, output="elmo")
    strings_model = keras.Model(text, layer(text))
    lines = np.array([" ".join(s) for s in cfg["sentences"]], dtype=object)
    report(lambda s: strings_model.predict(lines, batch_size=len(s), verbose=0))
    sys.exit()
report(Embedder(model, vocab=words if cfg.get("cache") else None,
                jit_compile=cfg.get("xla", False)))
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
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
t = int(sys.argv[1])
tf.config.threading.set_intra_op_parallelism_threads(t)
tf.config.threading.set_inter_op_parallelism_threads(t)
a = tf.random.normal([2048, 2048]); f = tf.function(lambda a: tf.matmul(a, a))
f(a).numpy(); n = 10; best = 0.0
for _ in range(5):  # the best of 5 rounds: the machine's peak, not a noisy moment
    s = time.perf_counter()
    for _ in range(n): f(a).numpy()
    best = max(best, 2 * 2048 ** 3 * n / (time.perf_counter() - s) / 1e9)
print(best)
'''


def flops_per_token(dim, proj, n_highway, filters, char_dim):
    """Multiply-adds x2 of one token through the char CNN, highways, projection, 2x2 LSTMs."""
    conv = sum(w * char_dim * n * (50 - w + 1) for w, n in filters)
    f = sum(n for _, n in filters)
    cnn = conv + n_highway * 2 * f * f + f * proj
    out = proj if proj < dim else dim
    lstm_layer = (proj + out) * 4 * dim + (dim * proj if proj < dim else 0)
    return 2 * (cnn + 2 * 2 * lstm_layer)


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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="original")
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-bilm", action="store_true", help="measure this package only")
    p.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default="tensorflow",
                   help="Keras backend of this package's runs (bilm-tf is TensorFlow)")
    args = p.parse_args()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent), "KERAS_BACKEND": args.backend}
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        write_model(folder, args.arch)
        cfg = dict(options=str(folder / "options.json"), weights=str(folder / "weights.hdf5"),
                   batches=args.batches, threads=args.threads,
                   sentences=real_sentences())
        runs = {"elmo-keras": {}, "model predict": dict(model_call=True),
                "+ cache": dict(cache=True)}
        if args.backend == "tensorflow":  # strings in the graph, XLA: TensorFlow only
            runs.update({"ELMoEmbedding": dict(embedding_layer=True), "+ XLA": dict(xla=True)})
        runs["+ bfloat16"] = dict(bf16=True)
        results = {name: run_json(sys.executable, OURS, dict(cfg, **extra), env)
                   for name, extra in runs.items()}
        bilm = None if args.skip_bilm else run_json(ensure_bilm_venv(), BILM, cfg)
    gflops = float(subprocess.run([sys.executable, "-c", MATMUL, str(args.threads)],
                                  capture_output=True, text=True, check=True).stdout)
    fpt = flops_per_token(*ARCHS[args.arch])
    limit = gflops * 1e9 / fpt
    print(f"backend={args.backend} arch={args.arch} batch=32x(20-25 tokens) "
          f"threads={args.threads} "
          f"matmul={gflops:.0f} GFLOP/s model={fpt / 1e6:.1f} MFLOP/token "
          f"compute limit={limit:.0f} tokens/s")
    sents = cfg["sentences"]
    print(f"batch: {sum(map(len, sents))} tokens, "
          f"{len({t for s in sents for t in s})} distinct (the char CNN runs once per distinct "
          "token in elmo-keras)")
    rows = list(results.items()) + ([("bilm-tf", bilm)] if bilm else [])
    print(f"{'':14} {'tokens/s':>10} {'of limit':>9} {'peak MB':>9}" + (
        f" {'vs bilm-tf':>10}" if bilm else ""))
    for name, r in rows:
        print(f"{name:14} {r['tokens_per_s']:10.0f} {r['tokens_per_s'] / limit:9.0%} "
              f"{r['peak_rss_mb']:9.0f}" + (
                  f" {r['tokens_per_s'] / bilm['tokens_per_s']:9.2f}x" if bilm else ""))
    ours, cached = results["elmo-keras"], results["+ cache"]
    print(f"token cache (every word cached): {cached['tokens_per_s'] / ours['tokens_per_s']:.2f}x")
    if bilm:
        print(f"ratio elmo-keras / bilm-tf: {ours['tokens_per_s'] / bilm['tokens_per_s']:.2f}x "
              f"speed, {ours['peak_rss_mb'] / bilm['peak_rss_mb']:.2f}x memory")


if __name__ == "__main__":
    main()
