"""The training loop: bilm-tf's recipe, resumable, on the TensorFlow, JAX or PyTorch
backend.

`train` runs in a run directory (`run_directory`: options, vocabulary, checkpoints,
history, TensorBoard logs, and at the end the trained model of `trained_model`), set
up by `run_directory.prepare_run`, its steps run by `training_loop.run_steps`. The step
and its checkpoints are the current backend's `TrainStep` (`backends/`, chosen once):
TensorFlow on any `tf.distribute` strategy, JAX data-parallel over the local devices,
PyTorch on one device; the same step math (`step_math`) on each.

Ctrl-C or SIGTERM finish the current step, write a checkpoint and stop; `resume=True`
continues from the last checkpoint: same weights, optimizer state, LSTM states, step
count and data position (the data stream is a deterministic function of the seed and
is fast-forwarded), so the resumed run takes exactly the steps the uninterrupted run
would have. A run stopped before its first checkpoint resumes from step 0. A run
resumes on the backend that started it (`run.json` records it); a JAX run resumes on
any number of devices.
"""

import os

import keras

from elmo_keras.training.backends import get as get_backend
from elmo_keras.training.callbacks import HistoryLog
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.evaluation import evaluate_lm
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.run_directory import (disk_errors, locked_run, prepare_run,
                                                record_checkpoint, run_paths, start_run)
from elmo_keras.training.trained_model import export_trained, load_initial_weights
from elmo_keras.training.training_loop import print_run_start, run_steps


def train(out_dir, train_files=None, options=None, vocab=None, valid_files=None, *,
          epochs=None, batch_size=None, max_steps=None, resume=False, init_weights=None,
          strategy=None, mixed_precision=None, checkpoint_every=1000, log_every=50,
          verbose=1):
    """Trains a biLM on the current Keras backend (see `run_directory` for what
    `out_dir` receives, and its guarantees: one process at a time, no input
    overwritten, no silent restart).

    Without the `[train]` extra (tensorboard, matplotlib), a warning says before the
    first step that the run goes on without TensorBoard logs (TensorFlow only) or
    learning curve.

    Args:
        out_dir: the run directory (created; must not hold a run unless `resume`).
        train_files: glob pattern(s) of the training corpus.
        options: training options file (bilm-tf's; see `training_options`).
        vocab: vocabulary file.
        valid_files: optional glob(s): validation perplexities (stateless and bilm-tf's
            stateful protocol, see `evaluation`) after each epoch.
        epochs, batch_size: override the options' `n_epochs`, `batch_size`.
        max_steps: stop after this many steps in all (checkpoint and export as usual).
        init_weights: start from these published-format weights (e.g. to adapt a
            trained biLM to new text) instead of a random initialisation.
        resume: continue the run in `out_dir` from its last checkpoint (from step 0 if
            it stopped before its first); `train_files`, `options` and `vocab` then
            default to the run's own. Changed options that only steer the rest of the
            run (`n_epochs`, `learning_rate`, `dropout`, ...) are applied and recorded
            in `train_options.json` and `run.json`; others are refused by name.
        strategy: where to train. TensorFlow: `"default"` (one device), `"mirrored"`,
            `"multiworker"` or a `tf.distribute` strategy. JAX: None, `"default"` or
            `"mirrored"` (all local devices, data-parallel), a `jax.sharding.Mesh` or a
            list of devices. PyTorch: one device. The batch size is global.
        mixed_precision: None, or `"bfloat16"` (compute in bfloat16, weights and
            softmax in float32).
        checkpoint_every: steps between checkpoints.
        log_every: steps between TensorBoard/history entries.
        verbose: 0 silent, 1 progress bar.

    Returns:
        dict: `step`, `train_perplexity` (of the last log interval), `valid` (last
        validation perplexities, see `evaluation.evaluate_lm`, or None),
        `tokens_per_sec`, `seconds`, and `elmo`, the trained `ELMo` (None for a
        token-input biLM).

    Raises:
        TrainingError, OptionsError, VocabularyError, CorpusError: before any step
            (among them: another process trains in `out_dir`, an input is a file the
            run writes, the checkpoints of a run to resume are gone, the run was
            trained on another backend).
        elmo_keras.io.paths.DiskSpaceError: the disk is full (the run resumes from
            its last checkpoint once there is space).
        TrainingInterrupted: after a SIGINT/SIGTERM, once the checkpoint is written.

    Examples:

    >>> train("runs/alice", "alice/train.txt", "options.json", "vocab.txt",
    ...       "alice/valid.txt", max_steps=300)  # doctest: +SKIP
    """
    if mixed_precision not in (None, "bfloat16"):
        raise TrainingError(f"mixed_precision must be None or 'bfloat16', got {mixed_precision!r}")
    backend = get_backend()
    placement = backend.placement(strategy)
    with locked_run(out_dir, enabled=placement.chief):
        return _train(backend, placement, out_dir, train_files, options, vocab,
                      valid_files, epochs=epochs, batch_size=batch_size,
                      max_steps=max_steps, resume=resume, init_weights=init_weights,
                      mixed_precision=mixed_precision, checkpoint_every=checkpoint_every,
                      log_every=log_every, verbose=verbose)


def _train(backend, placement, out_dir, train_files, options, vocab, valid_files, *,
           epochs, batch_size, max_steps, resume, init_weights, mixed_precision,
           checkpoint_every, log_every, verbose):
    """`train` once the run directory is locked."""
    p = run_paths(out_dir)
    chief = placement.chief
    opts, vocab, run, stats, changes = prepare_run(
        out_dir, train_files, options, vocab, valid_files, epochs=epochs,
        batch_size=batch_size, resume=resume, init_weights=init_weights,
        trainer=backend.NAME, chief=chief)
    total_steps = opts.n_epochs * run.steps_per_epoch
    if max_steps is not None:
        total_steps = min(total_steps, int(max_steps))
    dtype = "mixed_bfloat16" if mixed_precision == "bfloat16" else None

    def build_lm():
        keras.utils.set_random_seed(opts.seed)
        return BiLMLanguageModel(opts, vocab.size, dtype=dtype)

    folder = p["checkpoints"] if chief else os.path.join(
        out_dir, f".worker_{placement.worker}", "checkpoints")
    step = backend.TrainStep(opts, build_lm, placement, folder)
    start = step.restore() if resume else 0
    if start == 0 and run.init_weights:
        load_initial_weights(step.lm, run.init_weights)
    # Everything checked: the run directory can be written.
    with disk_errors(out_dir, "rerun with --resume" if resume else "run it again"):
        os.makedirs(out_dir, exist_ok=True)
        if chief:
            start_run(out_dir, opts, vocab, run, start, changes)
    if verbose:
        print_run_start(stats, vocab, run, opts, total_steps, start, changes,
                        where=placement.description)
    with disk_errors(out_dir):
        # A missing `[train]` extra is said here, before any step.
        callbacks = [HistoryLog(p, start, chief)] + (step.callbacks(p) if chief else [])
        return _run(step, out_dir, opts, vocab, run, start, total_steps, callbacks,
                    chief=chief, checkpoint_every=checkpoint_every, log_every=log_every,
                    verbose=verbose)


def _run(step, out_dir, opts, vocab, run, start, total_steps, callbacks, *, chief,
         checkpoint_every, log_every, verbose):
    """The steps, checkpoints and export of a started run."""
    p = run_paths(out_dir)
    step.start(run.train_files, vocab, start)

    def save():
        with disk_errors(p["checkpoints"]):
            path = step.save()
        if chief:
            record_checkpoint(out_dir, run, step.done)
        return path

    def evaluate():
        if not run.valid_files:
            return None
        step.sync()  # the evaluation reads the model's variables
        return evaluate_lm(step.lm, vocab, run.valid_files, opts.batch_size,
                           opts.unroll_steps)

    try:
        result = run_steps(step.train_step, save, evaluate, callbacks,
                           steps_per_epoch=run.steps_per_epoch, start=start,
                           total_steps=total_steps,
                           tokens_per_step=float(opts.batch_size * opts.unroll_steps),
                           log_every=log_every, checkpoint_every=checkpoint_every,
                           verbose=verbose)
    finally:
        step.close()  # the input thread, also after a stop
    if result["step"] > start or step.latest_checkpoint() is None:
        save()
    step.sync()
    if chief:
        export_trained(step.lm, opts, vocab, out_dir)
    for c in callbacks:
        c.on_end()
    return dict(result, elmo=step.lm.elmo)
