"""`elmo-keras embed-beam` on the DirectRunner (1 and 2 worker processes) vs `elmo-keras
embed`, measured in one run.

    python benchmarks/beam_embedding.py [--model elmo_small_en] [--lines 1147] [--repeat 1]

Needs apache-beam (`pip install -e ".[beam]"`). The input is the shipped Alice
corpus's training text (`elmo_keras/datasets/alice/train.txt`, whitespace tokens),
its first `--lines` lines, `--repeat` times over; `--input FILE` takes another
(examples/sentences.txt, 7 lines, is too short to time). Each command is timed whole,
start-up and model loading included (Beam's worker processes each import TensorFlow
and load the model), as a user runs it, with the same --batch-size and --chunk-lines;
tokens/s is tokens / wall time; the CPU seconds of each (its worker processes
included) say what the load of a shared machine hides. Prints the CPU model (lscpu)
and each rate's ratio to `embed`'s. On 2 cores, 2 workers are not expected to be
faster: the point of the pipeline is its runners, not the DirectRunner's speed.
"""

import argparse
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "elmo_keras" / "datasets" / "alice" / "train.txt"


def _cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown (no lscpu)"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), "unknown")


def _cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(argv, env):
    """Wall and CPU seconds of a command (the CPU of its worker processes included)."""
    t, c = time.perf_counter(), _cpu_seconds()
    subprocess.run([sys.executable, "-m", "elmo_keras", *argv], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, _cpu_seconds() - c


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="elmo_small_en")
    p.add_argument("--input", default=str(CORPUS))
    p.add_argument("--lines", type=int, default=1147)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--chunk-lines", type=int, default=200,
                   help="lines a chunk (the unit of work the workers share)")
    args = p.parse_args()
    with open(args.input, encoding="utf-8") as f:
        lines = f.read().splitlines()[:args.lines] * args.repeat
    tokens = sum(len(line.split()) for line in lines)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    work = ["--model", args.model, "--batch-size", str(args.batch_size),
            "--chunk-lines", str(args.chunk_lines)]
    print(f"CPU: {_cpu_model()} ({os.cpu_count()} logical CPUs; a shared machine's "
          "numbers vary with its load)")
    print(f"input: {len(lines)} lines, {tokens} tokens; model {args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        text = pathlib.Path(tmp) / "in.txt"
        text.write_text("\n".join(lines) + "\n", encoding="utf-8")
        seconds = {"embed": _timed(["embed", str(text), f"{tmp}/out.hdf5", *work], env)}
        for n in (1, 2):
            prefix = pathlib.Path(tmp) / f"beam{n}" / "emb"
            seconds[f"embed-beam, {n} worker(s)"] = _timed(
                ["embed-beam", str(text), str(prefix), *work, "--num-shards", "2",
                 "--pipeline-options=--direct_running_mode=multi_processing "
                 f"--direct_num_workers={n}"], env)
            shutil.rmtree(prefix.parent)
    base = tokens / seconds["embed"][0]
    for name, (s, cpu) in seconds.items():
        rate = tokens / s
        print(f"{name:26s} {s:7.1f} s  {rate:8.0f} tokens/s  {rate / base:5.2f} x embed   "
              f"(CPU {cpu:6.1f} s)")


if __name__ == "__main__":
    main()
