"""Training a biLM on the JAX backend: bilm-tf's recipe, one jit-compiled step a batch.

The step (`jax_train_step.JaxTrainStep`) is the TensorFlow trainer's, fed the same
batches (`corpus.StreamBatcher`, fast-forwarded on resume).

`train` writes the run directory `trainer.train` writes (`train_options.json`,
`vocab.txt`, `run.json`, `history.jsonl`, `checkpoints/`, `options.json` +
`weights.hdf5` + `softmax.hdf5`, `learning_curve.png`), except TensorBoard logs; its
checkpoints are `.npz` files (weights by name, Adagrad accumulators, LSTM states, step)
and `--resume` continues them exactly. One device, no `tf.distribute`.
"""

import dataclasses
import glob
import json
import math
import os
import re
import time

import jax
import jax.numpy as jnp
import keras
import numpy as np

from elmo_keras.training.corpus import StreamBatcher, iter_sentences, resolve_files, \
    scan_corpus
from elmo_keras.training.jax_train_step import JaxTrainStep
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.trainer import (_RUN_KEYS, TrainingError, TrainingInterrupted, _Run,
                                         _StopSignals, _atomic_json, _finish_plots,
                                         _load_initial_weights, _paths, _read_history,
                                         export_trained, training_batches)
from elmo_keras.training.training_options import load_training_options
from elmo_keras.training.vocabulary import Vocabulary

_CHECKPOINT = re.compile(r"ckpt-(\d+)\.npz$")


def _plot(p, history):
    try:
        _finish_plots(p, history, True)
    except ImportError:  # no matplotlib (e.g. a bare GPU machine): no learning_curve.png
        pass


def _checkpoint_files(folder):
    found = []
    for path in glob.glob(os.path.join(folder, "ckpt-*.npz")):
        m = _CHECKPOINT.search(path)
        if m:
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found)]


def _weight_names(step):
    return [v.path.replace("/", ".") for v in step.variables]


def save_checkpoint(folder, step, params, optimizer_state, states, step_number, keep=3):
    """Writes `ckpt-<step>.npz` (weights by name, optimizer state in order, LSTM
    states, step) atomically and keeps the last `keep`."""
    os.makedirs(folder, exist_ok=True)
    arrays = {f"weights/{n}": np.asarray(x) for n, x in zip(_weight_names(step), params)}
    arrays.update({f"optimizer/{i:05d}": np.asarray(x) for i, x in enumerate(optimizer_state)})
    arrays.update(state_h=np.asarray(states[0]), state_c=np.asarray(states[1]),
                  step=np.asarray(step_number, np.int64))
    path = os.path.join(folder, f"ckpt-{step_number}.npz")
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    for old in _checkpoint_files(folder)[:-keep]:
        os.remove(old)
    return path


def load_checkpoint(path, step, states):
    """`(params, optimizer_state, states, step_number)` from a checkpoint of
    `save_checkpoint`, checked against the model of `step` (a `JaxTrainStep`)."""
    with np.load(path) as f:
        params = []
        for name, v in zip(_weight_names(step), step.variables):
            key = f"weights/{name}"
            if key not in f or f[key].shape != tuple(v.shape):
                found = f[key].shape if key in f else "missing"
                raise TrainingError(f"{path}: weight '{name}' is {found}, expected "
                                    f"{tuple(v.shape)}: not a checkpoint of these options")
            params.append(jnp.asarray(f[key], v.dtype))
        optimizer_state = []
        for i, v in enumerate(step.optimizer.variables):
            key = f"optimizer/{i:05d}"
            if key not in f or f[key].shape != tuple(v.shape):
                raise TrainingError(f"{path}: optimizer variable {i} does not match")
            optimizer_state.append(jnp.asarray(f[key], v.dtype))
        loaded = (jnp.asarray(f["state_h"]), jnp.asarray(f["state_c"]))
        if any(a.shape != tuple(s.shape) for a, s in zip(loaded, states)):
            raise TrainingError(f"{path}: LSTM states {loaded[0].shape}, expected "
                                f"{tuple(states[0].shape)}")
        return params, optimizer_state, loaded, int(f["step"])


def evaluate_lm(step, params, vocab, files, batch_size, unroll_steps):
    """`trainer.evaluate_lm` on the JAX step: perplexities over every token of
    `files` (full softmax, states carried, the last batch padded)."""
    opts = step.opts
    batcher = StreamBatcher(iter_sentences(files), vocab, batch_size, unroll_steps,
                            char_inputs=opts.model.char_inputs,
                            max_characters_per_token=opts.model.max_characters_per_token,
                            drop_remainder=False)
    states = step.lm.zero_states(batch_size)
    totals, count = np.zeros(2), 0.0
    for batch in batcher:
        sums, c, states = step.evaluate(params, states, batch)
        totals += np.asarray(sums)
        count += float(c)
    if count == 0:
        raise TrainingError(f"{', '.join(files)}: no token to evaluate")
    losses = totals / count
    return {"forward": float(np.exp(losses[0])), "backward": float(np.exp(losses[1])),
            "average": float(np.exp(losses.mean())), "n_tokens": int(count)}


def train(out_dir, train_files=None, options=None, vocab=None, valid_files=None, *,
          epochs=None, batch_size=None, max_steps=None, resume=False, init_weights=None,
          mixed_precision=None, checkpoint_every=1000, log_every=50, verbose=1):
    """`trainer.train` on the JAX backend (one device; see the module docstring).

    Args:
        out_dir, train_files, options, vocab, valid_files, epochs, batch_size,
        max_steps, resume, init_weights, mixed_precision, checkpoint_every, log_every,
        verbose: as `trainer.train`.

    Returns:
        dict: `step`, `train_perplexity`, `valid`, `tokens_per_sec`, `seconds`, `elmo`.

    Raises:
        TrainingError, OptionsError, VocabularyError, CorpusError: before any step.
        TrainingInterrupted: after a SIGINT/SIGTERM, once the checkpoint is written.
    """
    p = _paths(out_dir)
    has_run = os.path.exists(p["run"])
    if resume and not has_run:
        raise TrainingError(f"{out_dir}: nothing to resume (no run.json)")
    if not resume and has_run:
        raise TrainingError(f"{out_dir} already holds a run; pass --resume to continue it "
                            "or choose another directory")
    if resume:
        options = options or p["options"]
        vocab = vocab or p["vocab"]
    if options is None or vocab is None or (train_files is None and not resume):
        raise TrainingError("train needs options, vocab and training files")
    opts = load_training_options(options).with_updates(n_epochs=epochs, batch_size=batch_size)
    vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary.load(vocab)
    opts.check_vocabulary(vocab)
    if mixed_precision not in (None, "bfloat16"):
        raise TrainingError(f"mixed_precision must be None or 'bfloat16', got {mixed_precision!r}")

    if resume:
        saved = load_training_options(p["options"])
        if opts.batch_size != saved.batch_size or opts.unroll_steps != saved.unroll_steps:
            raise TrainingError(
                f"{out_dir}: the run's batches are {saved.batch_size}x{saved.unroll_steps}; "
                "a resumed run cannot change batch_size or unroll_steps")
        with open(p["run"], encoding="utf-8") as f:
            recorded = json.load(f)
        if recorded.get("trainer") != "jax":
            raise TrainingError(f"{out_dir}: trained with the TensorFlow trainer; resume it "
                                "with --backend tensorflow")
        run = _Run(**{k: v for k, v in recorded.items() if k in _RUN_KEYS})
        if train_files is not None and resolve_files(train_files) != run.train_files:
            raise TrainingError(f"{out_dir}: --resume must train on the run's own files "
                                f"{run.train_files}")
        files, valid = run.train_files, run.valid_files
        stats = scan_corpus(files, vocab, opts.max_sentence_tokens)
    else:
        files = resolve_files(train_files)
        stats = scan_corpus(files, vocab, opts.max_sentence_tokens)
        valid = resolve_files(valid_files) if valid_files else None
        if valid:
            scan_corpus(valid, vocab, opts.max_sentence_tokens)
        tokens_per_epoch = opts.n_train_tokens or stats.n_lm_tokens
        steps_per_epoch = max(1, tokens_per_epoch // (opts.batch_size * opts.unroll_steps))
        run = _Run(files, valid, steps_per_epoch)
    total_steps = opts.n_epochs * run.steps_per_epoch
    if max_steps is not None:
        total_steps = min(total_steps, int(max_steps))

    keras.utils.set_random_seed(opts.seed)
    dtype = "mixed_bfloat16" if mixed_precision == "bfloat16" else None
    lm = BiLMLanguageModel(opts, vocab.size, dtype=dtype)
    if init_weights and not resume:
        _load_initial_weights(lm, init_weights)
    step_fn = JaxTrainStep(lm, opts)
    params, optimizer_state = step_fn.values()
    states = tuple(lm.zero_states(opts.batch_size))
    start = 0
    if resume:
        found = _checkpoint_files(p["checkpoints"])
        if not found:
            raise TrainingError(f"{out_dir}: no checkpoint to resume from")
        params, optimizer_state, states, start = load_checkpoint(found[-1], step_fn, states)
    else:
        os.makedirs(out_dir, exist_ok=True)
        _atomic_json(opts.to_dict(vocab.size), p["options"])
        vocab.save(p["vocab"])
        _atomic_json(dict(dataclasses.asdict(run), trainer="jax"), p["run"])

    history = _read_history(p["history"], start)
    with open(p["history"], "w", encoding="utf-8") as f:
        for e in history:
            f.write(json.dumps(e) + "\n")

    def log(entry):
        history.append(entry)
        with open(p["history"], "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    if verbose and start == 0:
        print(f"corpus: {stats.n_files} file(s), {stats.n_sentences} sentences, "
              f"{stats.n_tokens} tokens ({stats.n_oov} outside the vocabulary of "
              f"{vocab.size}); {run.steps_per_epoch} steps per epoch of "
              f"{opts.batch_size}x{opts.unroll_steps} tokens; {total_steps} steps in all "
              f"(JAX on {jax.default_backend()})")
    elif verbose:
        print(f"resuming at step {start} of {total_steps}")

    batches = training_batches(files, vocab, opts, opts.batch_size, start)
    global_tokens = step_fn.tokens
    stop = _StopSignals()
    step = start
    acc, acc_steps, t_log = np.zeros(2), 0, time.perf_counter()
    t0, last_valid, last_train_ppl, bar, tokens_per_sec = time.perf_counter(), None, None, \
        None, None

    def save():
        return save_checkpoint(p["checkpoints"], step_fn, params, optimizer_state, states,
                               step)

    with stop.installed():
        while step < total_steps:
            epoch, in_epoch = divmod(step, run.steps_per_epoch)
            epoch_steps = min(run.steps_per_epoch, total_steps - epoch * run.steps_per_epoch)
            if bar is None:
                if verbose:
                    print(f"Epoch {epoch + 1}/{math.ceil(total_steps / run.steps_per_epoch)}")
                bar = keras.utils.Progbar(epoch_steps, verbose=verbose,
                                          stateful_metrics=["ppl", "tok/s"])
            batch = next(batches)
            params, optimizer_state, states, sums, norm = step_fn.train(
                params, optimizer_state, states, batch, jnp.asarray(step, jnp.int32))
            step += 1
            sums = np.asarray(sums, np.float64) / global_tokens
            acc += sums
            acc_steps += 1
            bar.update(in_epoch + 1, values=[("loss", float(sums.mean())),
                                             ("ppl", float(np.exp(sums.mean())))])
            if step % log_every == 0 or step == total_steps:
                tokens_per_sec = acc_steps * global_tokens / (time.perf_counter() - t_log)
                losses = acc / acc_steps
                last_train_ppl = float(np.exp(losses.mean()))
                log({"step": step, "epoch": step / run.steps_per_epoch,
                     "train_perplexity": last_train_ppl,
                     "train_perplexity_forward": float(np.exp(losses[0])),
                     "train_perplexity_backward": float(np.exp(losses[1])),
                     "grad_norm": float(norm), "tokens_per_sec": tokens_per_sec})
                acc, acc_steps, t_log = np.zeros(2), 0, time.perf_counter()
            if in_epoch + 1 == epoch_steps:
                bar = None
                if valid:
                    last_valid = evaluate_lm(step_fn, params, vocab, valid, opts.batch_size,
                                             opts.unroll_steps)
                    log({"step": step, "epoch": step / run.steps_per_epoch,
                         "valid_perplexity": last_valid["average"],
                         "valid_perplexity_forward": last_valid["forward"],
                         "valid_perplexity_backward": last_valid["backward"]})
                    if verbose:
                        print(f"validation perplexity forward={last_valid['forward']:.2f} "
                              f"backward={last_valid['backward']:.2f} "
                              f"average={last_valid['average']:.2f}")
            if step % checkpoint_every == 0 and step < total_steps:
                save()
            if stop.requested:
                path = save()
                _plot(p, history)
                raise TrainingInterrupted(step, path)
    if step > start or not _checkpoint_files(p["checkpoints"]):
        save()
    step_fn.assign(params, optimizer_state)
    export_trained(lm, opts, vocab, out_dir)
    _plot(p, history)
    return {"step": step, "train_perplexity": last_train_ppl, "valid": last_valid,
            "tokens_per_sec": tokens_per_sec, "seconds": time.perf_counter() - t0,
            "elmo": lm.elmo}
