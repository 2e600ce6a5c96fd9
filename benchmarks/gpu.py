"""ELMo on a GPU: elmo-keras on JAX and PyTorch against AllenNLP's `Elmo`, in one run.

    python benchmarks/gpu.py --allennlp .whl/allennlp-0.9.0-py3-none-any.whl
    python benchmarks/gpu.py --tiny --device cpu          # a few seconds' check (CI)

Needs JAX and/or PyTorch, Keras, h5py and NumPy; no TensorFlow (see the README of
`benchmarks/` for the wheels to bring to a machine that has only JAX and PyTorch).
For the original ELMo architecture (random weights: char CNN 2048 filters, 2 highway,
LSTM 4096 projected to 512, 2 layers) and the shipped `elmo_small_en` preset
(`--tiny`: a tiny random architecture instead of both), it prints:

- inference tokens/s at batch 32/128/512 of real sentences (20-25 tokens, from
  `elmo_keras/datasets/alice/train.txt`, repeated to fill large batches), in float32 and
  bfloat16: every biLM layer of every token back on the host, as `elmo-keras embed`
  produces them. elmo-keras runs `Embedder` (jit-compiled on JAX; eager, no gradient on
  PyTorch); AllenNLP runs `_ElmoBiLm`, what its `Elmo` and `ElmoEmbedder` run
  (bfloat16: `torch.autocast`);
- training tokens/s: one step of bilm-tf's recipe on batches of 128 rows x 20 tokens
  (Adagrad, clipping, carried states; full softmax over the shipped model's 20000
  tokens, or bilm-tf's sampled softmax of 8192 over 793471 tokens for the original).
  elmo-keras: the JAX trainer's step (`training.backends.jax.TrainStep`) on JAX; the
  same `BiLMLanguageModel` eagerly with `loss.backward()` and `torch.optim.Adagrad` on
  PyTorch. AllenNLP: `_ElmoBiLm(requires_grad=True)` + a softmax (`torch.nn.Linear`,
  or its own `SampledSoftmaxLoss`) + `torch.optim.Adagrad`;
- peak device memory of each row (GPU: the framework's allocator peak; CPU: the
  process's maximum RSS);
- a check that both implementations compute the same thing: the largest difference
  between elmo-keras (PyTorch backend) and AllenNLP on the same weights and sentences.

Each row runs in its own process (so the peaks are its own), after warm-up batches;
times are medians over `--repeats`. `--process-per backend` runs all the rows of a
Keras backend in one process instead (peaks are then that process's so far): fewer
start-ups, for a quick check.
"""

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(HERE))
SHIPPED = ROOT / "elmo_keras" / "models" / "elmo" / "presets" / "elmo_small_en"
CORPUS = ROOT / "elmo_keras" / "datasets" / "alice" / "train.txt"
TINY_VOCAB = ROOT / "tests" / "fixtures" / "bilm_training" / "vocab.txt"
FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]
ARCHS = {  # lstm dim, projection, highway, filters, char dim
    "original": (4096, 512, 2, FILTERS, 16),
    "tiny": (64, 16, 2, [[1, 4], [2, 8], [3, 16], [4, 32], [5, 64]], 4),
}
# Training setups: rows x unroll steps, vocabulary size, sampled softmax negatives (0: full).
TRAIN = {"original": (128, 20, 793471, 8192), "small": (128, 20, 20000, 0),
         "tiny": (8, 10, None, 0)}
IMPLS = ("jax", "torch", "allennlp")


def architecture_options(arch):
    dim, proj, n_highway, filters, char_dim = ARCHS[arch]
    return {"char_cnn": {"activation": "relu", "embedding": {"dim": char_dim},
                         "filters": filters, "max_characters_per_token": 50,
                         "n_characters": 262, "n_highway": n_highway},
            "lstm": {"cell_clip": 3, "dim": dim, "n_layers": 2, "proj_clip": 3,
                     "projection_dim": proj, "use_skip_connections": True}}


def real_sentences(n):
    """`n` sentences of 20-25 tokens of real English, repeated when there are fewer."""
    found = [line.split() for line in CORPUS.read_text(encoding="utf-8").splitlines()
             if 20 <= len(line.split()) <= 25]
    return [found[i % len(found)] for i in range(n)]


# ---------------------------------------------------------------- child processes


def _device_peak(cfg):
    import resource

    if cfg["device"] == "cpu":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB RSS"
    if cfg["impl"] == "jax":
        import jax

        return jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20, "MiB"
    import torch

    return torch.cuda.max_memory_allocated() / 2**20, "MiB"


def _sync(cfg):
    if cfg["device"] != "cpu" and cfg["impl"] != "jax":
        import torch

        torch.cuda.synchronize()


def _median_time(cfg, run, warmup=2):
    import time

    import numpy as np

    for _ in range(warmup):
        run()
    _sync(cfg)
    times = []
    for _ in range(cfg["repeats"]):
        t = time.perf_counter()
        run()
        _sync(cfg)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _ours_model(cfg):
    import elmo_keras

    kwargs = {"dtype": "mixed_bfloat16"} if cfg["dtype"] == "bfloat16" else {}
    return elmo_keras.load_bilm(cfg["options"], cfg["weights"], **kwargs)


def _allennlp(cfg):
    from allennlp_peer import import_elmo

    return import_elmo(cfg.get("allennlp"))


def _torch_device(cfg):
    return "cpu" if cfg["device"] == "cpu" else "cuda"


def infer(cfg):
    """tokens/s of each batch size and the peak memory (after the largest batch)."""
    import contextlib

    import numpy as np

    result = {}
    if cfg["impl"] == "allennlp":
        import torch

        from elmo_keras.text.char_ids import batch_to_ids

        device = _torch_device(cfg)
        bilm = _allennlp(cfg)._ElmoBiLm(cfg["options"], cfg["weights"]).to(device).eval()

        def embed(sentences):
            autocast = torch.autocast(device, dtype=torch.bfloat16) \
                if cfg["dtype"] == "bfloat16" else contextlib.nullcontext()
            with torch.no_grad(), autocast:
                ids = torch.from_numpy(batch_to_ids(sentences).astype(np.int64)).to(device)
                out = bilm(ids)
                return [a.float().cpu() for a in out["activations"]]
    else:
        from elmo_keras.models.elmo.elmo_embedder import Embedder

        embed = Embedder(_ours_model(cfg))
    for batch in cfg["batches"]:
        sentences = real_sentences(batch)
        n = sum(len(s) for s in sentences)
        result[str(batch)] = n / _median_time(cfg, lambda: embed(sentences))
    return result


def _training_setup(cfg):
    from elmo_keras.training.corpus import StreamBatcher, iter_sentences
    from elmo_keras.training.training_options import load_training_options
    from elmo_keras.training.vocabulary import Vocabulary

    rows, steps, vocab_size, negatives = TRAIN[cfg["model"]]
    vocab = Vocabulary.load(cfg["vocab"])
    if vocab_size and vocab.size < vocab_size:  # the original's vocabulary size
        vocab = Vocabulary(vocab.tokens + [f"<filler_{i}>" for i in range(vocab_size -
                                                                             vocab.size)])
    options = json.loads(pathlib.Path(cfg["options"]).read_text())
    options = {k: options[k] for k in ("char_cnn", "lstm")}
    options.update(batch_size=rows, unroll_steps=steps, sample_softmax=negatives > 0,
                   n_negative_samples_batch=max(negatives, 1), dropout=0.1,
                   all_clip_norm_val=10.0, n_tokens_vocab=vocab.size)
    path = pathlib.Path(tempfile.mkdtemp()) / "train_options.json"
    path.write_text(json.dumps(options))
    opts = load_training_options(str(path))
    sentences = iter_sentences([str(CORPUS)] * 1000)
    batches = StreamBatcher(sentences, vocab, rows, steps, char_inputs=True)
    return opts, vocab, batches


def train_speed(cfg):
    """Training tokens/s (median step) and the peak memory."""
    import numpy as np

    opts, vocab, batches = _training_setup(cfg)
    tokens = opts.batch_size * opts.unroll_steps
    dtype = "mixed_bfloat16" if cfg["dtype"] == "bfloat16" else None
    if cfg["impl"] == "jax":
        import jax

        from elmo_keras.training.backends import jax as jax_training
        from elmo_keras.training.language_model import BiLMLanguageModel

        step_fn = jax_training.TrainStep(
            opts, lambda: BiLMLanguageModel(opts, vocab.size, dtype=dtype),
            jax_training.placement(), None)
        step_fn.begin(batches)
        count = [0]

        def step():
            sums, _ = step_fn.train_step(count[0])
            count[0] += 1
            jax.block_until_ready(sums)
    elif cfg["impl"] == "torch":
        import torch

        from elmo_keras.training import stateless_random
        from elmo_keras.training.language_model import BiLMLanguageModel

        lm = BiLMLanguageModel(opts, vocab.size, dtype=dtype)
        params = [v.value for v in lm.lm_variables]
        optimizer = torch.optim.Adagrad(params, lr=opts.learning_rate, eps=1e-10,
                                        initial_accumulator_value=opts.initial_accumulator_value)
        state = [tuple(lm.zero_states(opts.batch_size))]
        count = [0]

        def step():
            batch = next(batches)
            seed = stateless_random.step_seed(opts.seed, count[0], 2, 0)
            sampled = (lm.sample_candidates(stateless_random.step_seed(opts.seed, count[0], 1))
                       if opts.sample_softmax else None)
            sums, _, states = lm(batch, state[0], training=True, seed=seed, sampled=sampled)
            loss = 0.5 * (sums[0] + sums[1]) / tokens * opts.unroll_steps
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, opts.all_clip_norm_val)
            optimizer.step()
            state[0] = tuple(s.detach() for s in states)
            count[0] += 1
    else:
        step = _allennlp_train_step(cfg, opts, vocab, batches)
    return {"train": tokens / _median_time(cfg, step)}


def _allennlp_train_step(cfg, opts, vocab, batches):
    import contextlib

    import torch

    elmo = _allennlp(cfg)
    device = _torch_device(cfg)
    bilm = elmo._ElmoBiLm(cfg["options"], cfg["weights"], requires_grad=True).to(device)
    dim = opts.model.projection_dim
    if opts.sample_softmax:
        from allennlp.modules.sampled_softmax_loss import SampledSoftmaxLoss

        softmax = SampledSoftmaxLoss(vocab.size, dim, opts.n_negative_samples_batch).to(device)

        def losses(h, targets):
            return softmax(h, targets)
    else:
        softmax = torch.nn.Linear(dim, vocab.size).to(device)

        def losses(h, targets):
            return torch.nn.functional.cross_entropy(softmax(h), targets, reduction="sum")
    params = [p for p in list(bilm.parameters()) + list(softmax.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adagrad(params, lr=opts.learning_rate, eps=1e-10,
                                    initial_accumulator_value=opts.initial_accumulator_value)
    tokens = opts.batch_size * opts.unroll_steps

    def step():
        batch = next(batches)
        ids = torch.from_numpy(batch["char_ids"][:, 0].astype("int64")).to(device)
        targets = torch.from_numpy(batch["targets"].astype("int64")).to(device)
        autocast = torch.autocast(device, dtype=torch.bfloat16) \
            if cfg["dtype"] == "bfloat16" else contextlib.nullcontext()
        with autocast:
            top = bilm(ids)["activations"][-1][:, 1:-1].float()  # [B, T, 2P], <S> </S> off
            top = torch.nn.functional.dropout(top, opts.dropout)
            forward = losses(top[..., :dim].reshape(-1, dim), targets[:, 0].reshape(-1))
            backward = losses(top[..., dim:].reshape(-1, dim), targets[:, 1].reshape(-1))
        loss = 0.5 * (forward + backward) / tokens * opts.unroll_steps
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, opts.all_clip_norm_val)
        optimizer.step()
        bilm._elmo_lstm._states = tuple(s.detach() for s in bilm._elmo_lstm._states)

    return step


def check(cfg):
    """Largest |elmo-keras - AllenNLP| over every layer of a batch (same weights)."""
    import numpy as np
    import torch

    from elmo_keras.models.elmo.elmo_embedder import Embedder
    from elmo_keras.text.char_ids import batch_to_ids

    sentences = real_sentences(cfg["batches"][0])
    ours = Embedder(_ours_model(cfg))(sentences)
    bilm = _allennlp(cfg)._ElmoBiLm(cfg["options"], cfg["weights"]).to(_torch_device(cfg))
    with torch.no_grad():
        ids = torch.from_numpy(batch_to_ids(sentences).astype(np.int64)).to(_torch_device(cfg))
        out = bilm(ids)
    theirs = torch.stack(out["activations"], 1)[:, :, 1:-1].cpu().numpy()  # boundaries off
    diff = max(float(np.abs(o - theirs[k, :, :o.shape[1]]).max()) for k, o in enumerate(ours))
    return {"max_abs_diff": diff}


def child(cfgs):
    """Runs each row's configuration in turn; prints their results as one JSON list."""
    results = []
    for cfg in cfgs:
        if cfg["impl"] != "jax":
            import torch

            if cfg["device"] != "cpu":
                torch.cuda.reset_peak_memory_stats()
            elif cfg.get("threads"):
                torch.set_num_threads(cfg["threads"])
        result = {"infer": infer, "train": train_speed, "check": check}[cfg["mode"]](cfg)
        result["peak"], result["peak_unit"] = _device_peak(cfg)
        results.append(result)
    print(json.dumps(results))


# ---------------------------------------------------------------- the parent


def run_child(cfgs, env):
    """The results of the rows `cfgs`, run in one new process (an error for each if it
    fails)."""
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfgs)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        error = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
                 else f"exit {proc.returncode}", "stderr": proc.stderr[-4000:]}
        return [dict(error) for _ in cfgs]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_env(impl, device, threads=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               KERAS_BACKEND="jax" if impl == "jax" else "torch",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), str(HERE),
                                                       os.environ.get("PYTHONPATH")) if p))
    if device == "cpu":
        env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
        if threads:
            env.update(OMP_NUM_THREADS=str(threads))
    else:
        env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false")
    return env


def write_models(folder, names, device):
    """options.json + weights.hdf5 of each model: random weights for an architecture of
    `ARCHS`, the shipped files for `small`."""
    models = {}
    for name in names:
        if name == "small":
            models[name] = (str(SHIPPED / "options.json"), str(SHIPPED / "weights.hdf5"),
                            str(SHIPPED / "vocab.txt"))
            continue
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        code = ("import json, sys, elmo_keras\n"
                "m = elmo_keras.ELMo.from_options(json.loads(sys.argv[1]))\n"
                "elmo_keras.save_bilm(m, sys.argv[2], sys.argv[3])\n")
        backend = "jax" if _available("jax") else "torch"
        subprocess.run([sys.executable, "-c", code, json.dumps(architecture_options(name)),
                        str(out / "options.json"), str(out / "weights.hdf5")],
                       check=True, env=child_env(backend, "cpu"))
        models[name] = (str(out / "options.json"), str(out / "weights.hdf5"),
                        str(SHIPPED / "vocab.txt") if name == "original" else str(TINY_VOCAB))
    return models


def _available(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def device_name(device):
    if device == "cpu":
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
            model = [x.split(":", 1)[1].strip() for x in out.splitlines()
                     if x.startswith("Model name")]
            return f"{model[0] if model else platform.processor()}, {os.cpu_count()} CPUs"
        except OSError:
            return platform.processor() or "CPU"
    code = "import torch; print(torch.cuda.get_device_name(0))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "GPU"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--tiny", action="store_true",
                   help="a tiny random architecture, small batches: checks that it runs")
    p.add_argument("--models", nargs="+", help="default: original small (tiny with --tiny)")
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    p.add_argument("--dtypes", nargs="+", choices=("float32", "bfloat16"),
                   default=["float32", "bfloat16"])
    p.add_argument("--batches", nargs="+", type=int, help="default: 32 128 512 (--tiny: 4 8)")
    p.add_argument("--repeats", type=int, help="timed batches per figure (default 5; tiny 2)")
    p.add_argument("--allennlp", help="the allennlp-0.9.0 wheel or unpacked directory "
                                      "(default: an installed allennlp)")
    p.add_argument("--threads", type=int,
                   help="--device cpu: OpenMP and PyTorch threads per process (default: "
                        "the frameworks' own; 1 avoids spinning threads on a busy machine)")
    p.add_argument("--process-per", choices=("row", "backend"), default="row",
                   help="a new process for each row (default: each row's own peak), or "
                        "one for all the rows of a Keras backend (fewer start-ups)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))

    models = args.models or (["tiny"] if args.tiny else ["original", "small"])
    batches = args.batches or ([4, 8] if args.tiny else [32, 128, 512])
    repeats = args.repeats or (2 if args.tiny else 5)
    impls = [i for i in args.impls
             if _available("torch" if i in ("torch", "allennlp") else "jax")]
    if args.tiny:
        TRAIN["original"] = TRAIN["small"] = TRAIN["tiny"]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="elmo_gpu_"))
    files = write_models(folder, models, args.device)
    threads = f"; {args.threads} thread(s) per process" if args.threads else ""
    print(f"device: {device_name(args.device)}{threads}; impls: {', '.join(impls)}; "
          f"batches {batches}; median of {repeats}", flush=True)
    results = []
    for model in models:
        options, weights, vocab = files[model]
        base = dict(model=model, options=options, weights=weights, vocab=vocab,
                    device=args.device, batches=batches, repeats=repeats,
                    allennlp=args.allennlp, threads=args.threads)
        rows = []
        if "allennlp" in impls and "torch" in impls:
            rows.append(dict(base, impl="torch", mode="check", dtype="float32",
                             batches=[min(batches)]))
        rows += [dict(base, impl=impl, mode=mode, dtype=dtype) for dtype in args.dtypes
                 for impl in impls for mode in ("infer", "train")]
        if args.process_per == "row":
            groups = [[row] for row in rows]
        else:  # JAX rows in one process, PyTorch and AllenNLP rows in another
            groups = [g for g in ([r for r in rows if r["impl"] == "jax"],
                                  [r for r in rows if r["impl"] != "jax"]) if g]
        for group in groups:
            env = child_env(group[0]["impl"], args.device, args.threads)
            for cfg, r in zip(group, run_child(group, env)):
                if cfg["mode"] == "check":
                    print(f"{model}: max |elmo-keras (torch) - AllenNLP| over all layers = "
                          f"{r.get('max_abs_diff', r.get('error'))}", flush=True)
                    results.append(dict(model=model, mode="check", **r))
                else:
                    results.append(dict(model=model, impl=cfg["impl"], mode=cfg["mode"],
                                        dtype=cfg["dtype"], **r))
                    print(_row(results[-1], batches), flush=True)
    print()
    print(table(results, batches))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0


NAMES = {"jax": "elmo-keras JAX", "torch": "elmo-keras PyTorch", "allennlp": "AllenNLP 0.9"}


def _row(r, batches):
    if "error" in r:
        return f"{r['model']} {r['impl']} {r['mode']} {r['dtype']}: ERROR {r['error']}"
    if r["mode"] == "infer":
        figures = " ".join(f"b{b}={r[str(b)]:.0f}" for b in batches)
    else:
        figures = f"train={r['train']:.0f}"
    return (f"{r['model']} {NAMES[r['impl']]} {r['mode']} {r['dtype']}: {figures} tokens/s; "
            f"peak {r['peak']:.0f} {r['peak_unit']}")


def table(results, batches):
    """A Markdown table: one line per model, implementation and dtype, with the ratio of
    each figure to AllenNLP's in the same run."""
    rows = {}
    for r in results:
        if r["mode"] == "check":
            continue
        rows.setdefault((r["model"], r["dtype"], r["impl"]), {})[r["mode"]] = r
    head = (["model", "dtype", "implementation"] + [f"infer b{b} tok/s" for b in batches] +
            ["infer peak", "train tok/s", "train peak"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (model, dtype, impl), modes in rows.items():
        peer = rows.get((model, dtype, "allennlp"), {})

        def fig(mode, key):
            r = modes.get(mode, {})
            if key not in r:
                return "error" if "error" in r else "-"
            ref = peer.get(mode, {}).get(key)
            ratio = f" ({r[key] / ref:.2f}x)" if ref and impl != "allennlp" else ""
            return f"{r[key]:.0f}{ratio}"

        def peak(mode):
            r = modes.get(mode, {})
            return f"{r['peak']:.0f} {r['peak_unit']}" if "peak" in r else "-"

        lines.append("| " + " | ".join(
            [model, dtype, NAMES[impl]] + [fig("infer", str(b)) for b in batches] +
            [peak("infer"), fig("train", "train"), peak("train")]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
