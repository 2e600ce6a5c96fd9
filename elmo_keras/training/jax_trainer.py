"""Training a biLM on the JAX backend: bilm-tf's recipe, one jit-compiled step a batch.

The step (`jax_train_step.JaxTrainStep`) is the TensorFlow trainer's, fed the same
batches (`corpus.training_batches`, fast-forwarded on resume), run by the same loop
(`training_loop`) in a run directory set up by the same rules
(`run_directory.prepare_run`: resume checks, resumable options, the run record).

`train` writes the run directory `trainer.train` writes (`train_options.json`,
`vocab.txt`, `run.json` marked `"trainer": "jax"`, `history.jsonl`, `checkpoints/`,
`options.json` + `weights.hdf5` + `softmax.hdf5`, `learning_curve.png`), except
TensorBoard logs; its checkpoints are `ckpt-<step>.npz` files (weights by name,
Adagrad state, LSTM states, step) and `--resume` continues them exactly. A run
resumes on the trainer that started it. One device, no `tf.distribute`, no
TensorFlow.
"""

import contextlib
import os

import jax
import jax.numpy as jnp
import keras
import numpy as np

from elmo_keras.training.callbacks import HistoryLog
from elmo_keras.training.corpus import training_batches
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.evaluation import evaluate_lm
from elmo_keras.training.jax_train_step import JaxTrainStep
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.run_directory import (disk_errors, locked_run, npz_checkpoints,
                                                prepare_run, record_checkpoint, run_paths,
                                                start_run)
from elmo_keras.training.trained_model import export_trained, load_initial_weights
from elmo_keras.training.training_loop import print_run_start, run_steps


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
    try:
        np.savez(tmp, **arrays)
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk needs the space back
            os.remove(tmp)
        raise
    os.replace(tmp, path)
    for old in npz_checkpoints(folder)[:-keep]:
        os.remove(old)
    return path


def load_checkpoint(path, step, states):
    """`(params, optimizer_state, states, step_number)` from a checkpoint of
    `save_checkpoint`, checked against the model of `step` (a `JaxTrainStep`). The
    learning rate is the options' (a resumed run may change it), not the checkpoint's."""
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
            value = step.opts.learning_rate if v.path.endswith("learning_rate") else f[key]
            optimizer_state.append(jnp.asarray(value, v.dtype))
        loaded = (jnp.asarray(f["state_h"]), jnp.asarray(f["state_c"]))
        if any(a.shape != tuple(s.shape) for a, s in zip(loaded, states)):
            raise TrainingError(f"{path}: LSTM states {loaded[0].shape}, expected "
                                f"{tuple(states[0].shape)}")
        return params, optimizer_state, loaded, int(f["step"])


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
        TrainingError, OptionsError, VocabularyError, CorpusError: before any step
            (among them: resuming a run of the TensorFlow trainer, and the run
            directory's rules of `trainer.train`).
        elmo_keras.io.paths.DiskSpaceError: the disk is full.
        TrainingInterrupted: after a SIGINT/SIGTERM, once the checkpoint is written.
    """
    if mixed_precision not in (None, "bfloat16"):
        raise TrainingError(f"mixed_precision must be None or 'bfloat16', got {mixed_precision!r}")
    with locked_run(out_dir):
        return _train(out_dir, train_files, options, vocab, valid_files, epochs=epochs,
                      batch_size=batch_size, max_steps=max_steps, resume=resume,
                      init_weights=init_weights, mixed_precision=mixed_precision,
                      checkpoint_every=checkpoint_every, log_every=log_every,
                      verbose=verbose)


def _train(out_dir, train_files, options, vocab, valid_files, *, epochs, batch_size,
           max_steps, resume, init_weights, mixed_precision, checkpoint_every, log_every,
           verbose):
    """`train` once the run directory is locked."""
    p = run_paths(out_dir)
    opts, vocab, run, stats, changes = prepare_run(
        out_dir, train_files, options, vocab, valid_files, epochs=epochs,
        batch_size=batch_size, resume=resume, init_weights=init_weights, trainer="jax")
    total_steps = opts.n_epochs * run.steps_per_epoch
    if max_steps is not None:
        total_steps = min(total_steps, int(max_steps))

    keras.utils.set_random_seed(opts.seed)
    dtype = "mixed_bfloat16" if mixed_precision == "bfloat16" else None
    lm = BiLMLanguageModel(opts, vocab.size, dtype=dtype)
    found = npz_checkpoints(p["checkpoints"]) if resume else []
    if not found and run.init_weights:
        load_initial_weights(lm, run.init_weights)
    step_fn = JaxTrainStep(lm, opts)
    params, optimizer_state = step_fn.values()
    states = tuple(lm.zero_states(opts.batch_size))
    start = 0
    if found:
        params, optimizer_state, states, start = load_checkpoint(found[-1], step_fn, states)
    # Everything checked: the run directory can be written.
    with disk_errors(out_dir, "rerun with --resume" if resume else "run it again"):
        start_run(out_dir, opts, vocab, run, start, changes)
    if verbose:
        print_run_start(stats, vocab, run, opts, total_steps, start, changes,
                        where=f"JAX on {jax.default_backend()}")
    with disk_errors(out_dir):
        # A missing `[train]` extra (matplotlib) is said here, before any step.
        callbacks = [HistoryLog(p, start)]
        return _run(lm, step_fn, params, optimizer_state, states, out_dir, opts, vocab,
                    run, start, total_steps, callbacks, checkpoint_every=checkpoint_every,
                    log_every=log_every, verbose=verbose)


def _run(lm, step_fn, params, optimizer_state, states, out_dir, opts, vocab, run, start,
         total_steps, callbacks, *, checkpoint_every, log_every, verbose):
    """The steps, checkpoints and export of a started run."""
    p = run_paths(out_dir)
    batches = training_batches(run.train_files, vocab, opts, opts.batch_size, start)
    done = start  # steps taken

    def train_step(step):
        nonlocal params, optimizer_state, states, done
        params, optimizer_state, states, sums, norm = step_fn.train(
            params, optimizer_state, states, next(batches), jnp.asarray(step, jnp.int32))
        done = step + 1
        return sums, norm

    def save():
        with disk_errors(p["checkpoints"]):
            path = save_checkpoint(p["checkpoints"], step_fn, params, optimizer_state,
                                   states, done)
        record_checkpoint(out_dir, run, done)
        return path

    def evaluate():
        if not run.valid_files:
            return None
        step_fn.assign(params)  # the evaluation reads the model's variables
        return evaluate_lm(lm, vocab, run.valid_files, opts.batch_size, opts.unroll_steps)

    result = run_steps(train_step, save, evaluate, callbacks,
                       steps_per_epoch=run.steps_per_epoch, start=start,
                       total_steps=total_steps, tokens_per_step=step_fn.tokens,
                       log_every=log_every, checkpoint_every=checkpoint_every,
                       verbose=verbose)
    if result["step"] > start or not npz_checkpoints(p["checkpoints"]):
        save()
    step_fn.assign(params, optimizer_state)
    export_trained(lm, opts, vocab, out_dir)
    for c in callbacks:
        c.on_end()
    return dict(result, elmo=lm.elmo)
