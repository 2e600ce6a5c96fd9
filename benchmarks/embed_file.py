"""`elmo-keras embed` on real mixed-length sentences vs bilm-tf, measured in one run.

    python benchmarks/embed_file.py [--arch original|small|tiny] [--small 160] [--large 800]

The sentences are real English of mixed length (`elmo_keras/datasets/alice/train.txt`,
those of 10 to 53 tokens, in file order). For elmo-keras the whole command
`elmo-keras embed IN OUT --batch-size 32 --options ... --weights ...` is timed (start-up
and model loading included) on a small and a large file; the marginal rate
`(tokens_large - tokens_small) / (time_large - time_small)` is its throughput. bilm-tf
(in its own venv, see `benchmarks/inference.py`) embeds the large file's sentences in
the same order, batches of 32, in process, after a warm-up batch. Same thread count.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from inference import (BILM_SESSION, CORPUS, ensure_bilm_venv, run_json,  # noqa: E402
                       write_model)

BILM = r'''
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
cfg = json.loads(sys.argv[1])
''' + BILM_SESSION + r'''
sents = [l.split() for l in open(cfg["large"])]
batches = [sents[i:i + 32] for i in range(0, len(sents), 32)]
sess.run(ops["lm_embeddings"], {ids: batcher.batch_sentences(batches[0])})
t = time.perf_counter()
for b in batches:
    sess.run(ops["lm_embeddings"], {ids: batcher.batch_sentences(b)})
print(json.dumps({"tokens_per_s": sum(map(len, sents)) / (time.perf_counter() - t)}))
'''


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="original")
    p.add_argument("--small", type=int, default=160, help="sentences in the small file")
    p.add_argument("--large", type=int, default=800, help="sentences in the large file")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-bilm", action="store_true")
    args = p.parse_args()
    sents = [line.split() for line in open(CORPUS, encoding="utf-8")]
    sents = [s for s in sents if 10 <= len(s) <= 53][:args.large]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent), "TF_CPP_MIN_LOG_LEVEL": "3",
           "TF_NUM_INTRAOP_THREADS": str(args.threads),
           "TF_NUM_INTEROP_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        write_model(folder, args.arch)
        timings = {}
        for name, n in (("small", args.small), ("large", args.large)):
            path = folder / f"{name}.txt"
            path.write_text("\n".join(" ".join(s) for s in sents[:n]) + "\n", encoding="utf-8")
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "elmo_keras.apps.cli", "embed", str(path),
                            str(folder / f"{name}.hdf5"), "--batch-size", "32",
                            "--options", str(folder / "options.json"),
                            "--weights", str(folder / "weights.hdf5")],
                           check=True, env=env, capture_output=True)
            timings[name] = (sum(map(len, sents[:n])), time.perf_counter() - t)
        (n_s, t_s), (n_l, t_l) = timings["small"], timings["large"]
        ours = (n_l - n_s) / (t_l - t_s)
        bilm = None
        if not args.skip_bilm:
            cfg = dict(options=str(folder / "options.json"), weights=str(folder / "weights.hdf5"),
                       large=str(folder / "large.txt"), threads=args.threads)
            bilm = run_json(ensure_bilm_venv(), BILM, cfg)["tokens_per_s"]
    print(f"arch={args.arch}: {args.large} real sentences of 10-53 tokens ({n_l} tokens), "
          f"batch 32, threads={args.threads}")
    print(f"elmo-keras embed (whole command): small file {n_s} tokens {t_s:.1f} s, large "
          f"{n_l} tokens {t_l:.1f} s -> marginal {ours:.0f} tokens/s")
    if bilm:
        print(f"bilm-tf in process, file order: {bilm:.0f} tokens/s")
        print(f"ratio elmo-keras / bilm-tf: {ours / bilm:.2f}x")
    print(json.dumps({"elmo_keras": ours, "bilm_tf": bilm}))


if __name__ == "__main__":
    main()
