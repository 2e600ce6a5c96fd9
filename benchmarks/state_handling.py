"""How training's handling of the carried LSTM states shapes a biLM's perplexity, from
zero states (stateless, as ELMo embeds) and with carried states (bilm-tf's protocol).

    python benchmarks/state_handling.py [--steps 300] [--probs 0 0.1 0.25 0.5]
        [--train elmo_keras/datasets/alice/train.txt] [--valid elmo_keras/datasets/alice/valid.txt]

Trains the tiny biLM of the tests (char CNN, 2 x 128 LSTM projected to 64; batches of
16 x 20 tokens) once per `state_reset_prob` (0: bilm-tf's states carried, never reset)
on the same data and seed, and prints each direction's held-out perplexity under both
protocols beside an add-one unigram model of the training text. Not a speed benchmark:
the numbers justify the default `state_reset_prob` (docs/training.md, "States and stateless use").
"""

import argparse
import json
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from elmo_keras.training import train  # noqa: E402
from elmo_keras.training.corpus import iter_sentences  # noqa: E402
from elmo_keras.training.evaluation import evaluate, unigram_perplexity  # noqa: E402
from elmo_keras.training.vocabulary import build_vocabulary, count_tokens  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALICE = ROOT / "elmo_keras" / "datasets" / "alice"
TINY = {
    "char_cnn": {"activation": "relu", "embedding": {"dim": 8},
                 "filters": [[1, 16], [2, 16], [3, 32], [4, 32]],
                 "max_characters_per_token": 50, "n_characters": 261, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 128, "n_layers": 2, "proj_clip": 3,
             "projection_dim": 64, "use_skip_connections": True},
    "batch_size": 16, "unroll_steps": 20, "n_epochs": 100, "n_negative_samples_batch": 256,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--probs", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.5])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-rows", type=int, default=8,
                    help="rows of the stateful protocol: few, so that states are carried "
                         "through many sentences of a small held-out file")
    ap.add_argument("--train", default=str(ALICE / "train.txt"))
    ap.add_argument("--valid", default=str(ALICE / "valid.txt"))
    args = ap.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="state_handling_"))
    vocab = build_vocabulary(count_tokens(iter_sentences([args.train])), min_count=2)
    vocab.save(work / "vocab.txt")
    unigram = unigram_perplexity([args.train], [args.valid], vocab)
    print(f"train {args.train}, held out {args.valid}; {args.steps} steps of "
          f"{args.batch_size}x20 tokens; stateful protocol in {args.eval_rows} rows; "
          f"unigram perplexity {unigram:.1f}")
    print("| state_reset_prob | stateless fwd | stateless bwd | stateful fwd | stateful bwd "
          "| train s |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for p in args.probs:
        opts = dict(TINY, batch_size=args.batch_size, state_reset_prob=p, seed=args.seed)
        (work / f"options_{p}.json").write_text(json.dumps(opts))
        t0 = time.perf_counter()
        run = work / f"run_{p}"
        train(str(run), args.train, str(work / f"options_{p}.json"), str(work / "vocab.txt"),
              max_steps=args.steps, log_every=args.steps, checkpoint_every=10**9, verbose=0)
        seconds = time.perf_counter() - t0
        r = evaluate(str(run), args.valid, batch_size=args.eval_rows, unroll_steps=20)
        s = r["stateless"]
        rows.append({"state_reset_prob": p, "stateless": s, "stateful": r, "seconds": seconds})
        print(f"| {p} | {s['forward']:.1f} | {s['backward']:.1f} | {r['forward']:.1f} "
              f"| {r['backward']:.1f} | {seconds:.0f} |", flush=True)
    print(json.dumps({"unigram": unigram, "rows": rows}, default=float))


if __name__ == "__main__":
    main()
