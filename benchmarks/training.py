"""Training speed of elmo-keras vs the original bilm-tf training code, in one run.

    python benchmarks/training.py [--arch small|tiny|original] [--batch-size 32] [--steps 20]
        [--backends tensorflow jax torch]

Both train the same architecture (random initialisation) with the same options (unroll
20, dropout 0.1, sampled softmax with 1024 negatives, Adagrad, clip 10) and batch on the
same text (`elmo_keras/datasets/alice/train.txt`, vocabulary of all its tokens), each in its
own process with the same thread count: this package through `elmo_keras.training.train`
(its whole loop: data, step, logging) on the Keras backend `--backend`, and bilm-tf (`bilm==0.1.post5`, installed by
`benchmarks/inference.py`'s helper into `benchmarks/.bilm-venv`) through its
`LanguageModel(is_training=True)`, `BidirectionalLMDataset` and the optimizer lines of
`bilm.training.train`. Tokens/s is batch x unroll over the median step time after a
warm-up (elmo-keras: median of its logged intervals).

"of limit" is the rate at this machine's peak fp32 matmul rate (as in `inference.py`) of
bilm-tf's FLOPs for a step: forward and backward (3x the forward), the char CNN on every
token of both directions' streams, the four LSTMs, and the sampled softmax of both
directions. elmo-keras runs the char CNN once per distinct token of the two streams, so
it needs fewer FLOPs than it is credited with here.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from inference import (ARCHS, CORPUS, architecture_options,  # noqa: E402
                       ensure_bilm_venv, flop_parts, machine_rates, run_json)


def training_flops_per_token(arch, negatives=1024):
    """FLOPs of one training token (see the module docstring)."""
    cnn, lstm_input, lstm_step = flop_parts(*ARCHS[arch])
    proj = ARCHS[arch][1]
    forward = 2 * cnn + lstm_input + lstm_step + 2 * 2 * proj * (negatives + 1)
    return 3 * forward

OURS = r'''
import json, os, statistics, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
cfg = json.loads(sys.argv[1])
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(cfg["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(cfg["threads"])
elif keras.backend.backend() == "torch":
    import torch
    torch.set_num_threads(cfg["threads"])
from elmo_keras.training import train
w = cfg["warmup"]
train(cfg["dir"] + "/run", cfg["corpus"], cfg["options"], cfg["vocab"],
      max_steps=w + cfg["steps"], log_every=w, checkpoint_every=10**9, verbose=0)
rates = [json.loads(l)["tokens_per_sec"] for l in open(cfg["dir"] + "/run/history.jsonl")]
print(json.dumps({"tokens_per_s": statistics.median(rates[1:])}))
'''

BILM = r'''
import json, os, statistics, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["TF_USE_LEGACY_KERAS"] = "1"
cfg = json.loads(sys.argv[1])
import numpy as np
import tensorflow.compat.v1 as tf1
tf1.disable_v2_behavior()
sys.modules["tensorflow"] = tf1
from bilm.data import BidirectionalLMDataset, UnicodeCharsVocabulary
from bilm.training import LanguageModel, average_gradients, clip_grads
options = json.load(open(cfg["options"]))
vocab = UnicodeCharsVocabulary(cfg["vocab"], 50, validate_file=True)
options["n_tokens_vocab"] = vocab.size
data = BidirectionalLMDataset(cfg["corpus"], vocab, test=False, shuffle_on_load=True)
b, t = options["batch_size"], options["unroll_steps"]
with tf1.variable_scope("lm"):
    model = LanguageModel(options, True)
opt = tf1.train.AdagradOptimizer(learning_rate=0.2, initial_accumulator_value=1.0)
step = tf1.get_variable("global_step", [], initializer=tf1.constant_initializer(0),
                        trainable=False)
grads = average_gradients([opt.compute_gradients(model.total_loss * t)], b, options)
grads, _ = clip_grads(grads, options, False, step)
train_op = opt.apply_gradients(grads, global_step=step)
conf = tf1.ConfigProto(intra_op_parallelism_threads=cfg["threads"],
                       inter_op_parallelism_threads=cfg["threads"])
times = []
with tf1.Session(config=conf) as sess:
    sess.run(tf1.global_variables_initializer())
    feed = {model.tokens_characters: np.zeros([b, t, 50], np.int32),
            model.tokens_characters_reverse: np.zeros([b, t, 50], np.int32)}
    states = sess.run(model.init_lstm_state, feed_dict=feed)
    for i, X in enumerate(data.iter_batches(b, t)):
        if i == cfg["warmup"] + cfg["steps"]:
            break
        s = time.perf_counter()
        feed = dict(zip(tf1.nest.flatten(model.init_lstm_state), tf1.nest.flatten(states)))
        feed.update({model.tokens_characters: X["tokens_characters"],
                     model.tokens_characters_reverse: X["tokens_characters_reverse"],
                     model.next_token_id: X["next_token_id"],
                     model.next_token_id_reverse: X["next_token_id_reverse"]})
        _, states = sess.run([train_op, model.final_lstm_state], feed_dict=feed)
        if i >= cfg["warmup"]:
            times.append(time.perf_counter() - s)
print(json.dumps({"tokens_per_s": b * t / statistics.median(times)}))
'''


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="small")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-bilm", action="store_true", help="measure this package only")
    p.add_argument("--backends", nargs="+", choices=["tensorflow", "jax", "torch"],
                   default=["tensorflow"],
                   help="Keras backends of this package's runs (bilm-tf is TensorFlow)")
    p.add_argument("--backend", choices=["tensorflow", "jax", "torch"],
                   help="one backend (same as --backends X)")
    args = p.parse_args()
    backends = [args.backend] if args.backend else args.backends
    options = {
        **architecture_options(args.arch, n_characters=261),  # bilm-tf trains with 261
        "bidirectional": True, "batch_size": args.batch_size, "unroll_steps": 20,
        "dropout": 0.1, "all_clip_norm_val": 10.0, "n_epochs": 1,
        "n_negative_samples_batch": 1024, "sample_softmax": True,
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        (pathlib.Path(tmp) / "options.json").write_text(json.dumps(options))
        vocab = pathlib.Path(tmp) / "vocab.txt"
        subprocess.run([sys.executable, "-m", "elmo_keras.apps.cli", "vocab", str(CORPUS),
                        str(vocab)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(HERE.parent)})
        cfg = dict(options=str(pathlib.Path(tmp) / "options.json"), vocab=str(vocab),
                   corpus=str(CORPUS), steps=args.steps, warmup=args.warmup,
                   threads=args.threads)
        for backend in backends:
            env = {**os.environ, "PYTHONPATH": str(HERE.parent), "KERAS_BACKEND": backend}
            if backend == "torch":  # see inference.py: PyTorch's OpenMP threads spin
                env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            run_dir = pathlib.Path(tmp) / backend
            run_dir.mkdir()
            results[f"elmo-keras {backend}"] = run_json(sys.executable, OURS,
                                                        dict(cfg, dir=str(run_dir)), env)
        if not args.skip_bilm:
            results["bilm-tf"] = run_json(ensure_bilm_venv(), BILM, dict(cfg, dir=tmp))
    dim, proj = ARCHS[args.arch][:2]
    peak = machine_rates(args.threads, proj, dim)["peak"]
    limit = peak * 1e9 / training_flops_per_token(args.arch)
    print(f"training step, arch={args.arch} batch={args.batch_size}x20 tokens, "
          f"threads={args.threads}, sampled softmax 1024 negatives; peak {peak:.0f} GFLOP/s, "
          f"{training_flops_per_token(args.arch) / 1e6:.0f} MFLOP a token, limit "
          f"{limit:.0f} tokens/s")
    bilm = results.get("bilm-tf")
    for name, r in results.items():
        rate = r["tokens_per_s"]
        ratio = f" {rate / bilm['tokens_per_s']:.2f}x bilm-tf" if bilm else ""
        print(f"{name:22} {rate:10.0f} tokens/s {rate / limit:6.0%} of limit{ratio}")


if __name__ == "__main__":
    main()
