"""The training loop: bilm-tf's recipe, resumable, on any `tf.distribute` strategy.

`train` runs in a run directory (`run_directory`: options, vocabulary, checkpoints,
history, TensorBoard logs, and at the end the trained model of `trained_model`), set
up by `run_directory.prepare_run`, its step run by `training_loop.run_steps` (both
shared with `jax_trainer`).

Ctrl-C or SIGTERM finish the current step, write a checkpoint and stop; `resume=True`
continues from the last checkpoint: same weights, optimizer state, LSTM states, step
count and data position (the data stream is a deterministic function of the seed and
is fast-forwarded), so the resumed run takes exactly the steps the uninterrupted run
would have. A run stopped before its first checkpoint resumes from step 0.
"""

import glob
import os
import shutil

import keras
import tensorflow as tf

from elmo_keras.training.callbacks import HistoryLog, TensorBoardLog
from elmo_keras.training.distribution import (CarriedStates, distributed_dataset,
                                              get_strategy, is_chief, n_workers,
                                              worker_id)
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.evaluation import evaluate_lm
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.run_directory import (disk_errors, locked_run, prepare_run,
                                                record_checkpoint, run_paths, start_run)
from elmo_keras.training.trained_model import (export_trained, load_initial_weights,
                                               named_weights)
from elmo_keras.training.training_loop import print_run_start, run_steps


def _seed(base, step, *salts):
    s = tf.random.experimental.stateless_fold_in(tf.constant([base, 0], tf.int32),
                                                 tf.cast(step, tf.int32))
    for salt in salts:
        s = tf.random.experimental.stateless_fold_in(s, salt)
    return s


def _reset_rows(states, prob, seed, replica, n_replicas):
    """Zeroes the states of each row with probability `prob` (`state_reset_prob`).
    One draw for the rows of all replicas, each taking its own block of rows, so a
    mirrored run resets the rows a one-device run would."""
    if prob <= 0:
        return states
    rows = tf.shape(states[0])[2]
    draw = tf.random.stateless_uniform([rows * n_replicas], seed=seed)
    keep = draw[replica * rows:(replica + 1) * rows] >= prob
    keep = tf.cast(keep, states[0].dtype)[None, None, :, None]
    return tuple(s * keep for s in states)


class _SummedGradientsAdagrad(keras.optimizers.Adagrad):
    """Adagrad for gradients the step has already summed over the replicas (once,
    before the global-norm clip, as bilm-tf clips the averaged gradient): Keras'
    TensorFlow optimizer would all-reduce them a second time. The mirrored-strategy
    test (one device vs two) fails if this hook stops applying."""

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return grads_and_vars


class _Trainer:
    """One run's model, optimizer, carried states and checkpoints, and its step."""

    def __init__(self, opts, vocab, strategy, ckpt_dir, dtype=None):
        self.opts, self.strategy = opts, strategy
        with strategy.scope():
            keras.utils.set_random_seed(opts.seed)
            self.lm = BiLMLanguageModel(opts, vocab.size, dtype=dtype)
            self.variables = self.lm.lm_variables
            self.optimizer = _SummedGradientsAdagrad(
                learning_rate=opts.learning_rate,
                initial_accumulator_value=opts.initial_accumulator_value, epsilon=1e-10,
                name="adagrad")
            self.optimizer.build(self.variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.states = CarriedStates(
            strategy, self.lm.zero_states(opts.batch_size // n_workers(strategy)))
        ckpt = tf.train.Checkpoint(weights=named_weights(self.lm), optimizer=self.optimizer,
                                   step=self.step, state_h=self.states.h,
                                   state_c=self.states.c)
        self.manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=3)
        self.global_tokens = float(opts.batch_size * opts.unroll_steps)
        self._step_fn = tf.function(self._train_step)

    def restore(self):
        """Continues from the last checkpoint, if any; returns its step (0 without)."""
        if self.manager.latest_checkpoint is not None:
            self.manager.checkpoint.restore(self.manager.latest_checkpoint) \
                .assert_existing_objects_matched()
            # A resumed run may change the learning rate (recorded in the run).
            self.optimizer.learning_rate = self.opts.learning_rate
        return int(self.step.numpy())

    def save(self, states):
        self.states.gather(states)
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    def _replica_step(self, batch, states, step):
        opts, lm = self.opts, self.lm
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group
        sampled = lm.sample_candidates(_seed(opts.seed, step, 1)) if opts.sample_softmax \
            else None
        states = _reset_rows(states, opts.state_reset_prob, _seed(opts.seed, step, 3),
                             replica, ctx.num_replicas_in_sync)
        with tf.GradientTape() as tape:
            sums, _, new_states = lm(batch, states, training=True,
                                     seed=_seed(opts.seed, step, 2, replica), sampled=sampled)
            # bilm-tf: mean token loss of the two LMs, times unroll_steps for the gradient.
            loss = 0.5 * (sums[0] + sums[1]) / self.global_tokens * opts.unroll_steps
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, self.variables)]
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)  # the step's one reduce
        grads, norm = tf.clip_by_global_norm(grads, opts.all_clip_norm_val)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return sums, new_states, norm

    def _train_step(self, batch, states, step):
        strategy = self.strategy
        sums, new_states, norm = strategy.run(self._replica_step, args=(batch, states, step))
        sums = strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)
        norm = strategy.experimental_local_results(norm)[0]
        self.step.assign_add(1)
        return sums, new_states, norm

    def train_step(self, batch, states, step):
        """One step on a distributed batch: `(loss sums [2], new states, grad norm)`."""
        return self._step_fn(batch, states, tf.constant(step, tf.int64))


def train(out_dir, train_files=None, options=None, vocab=None, valid_files=None, *,
          epochs=None, batch_size=None, max_steps=None, resume=False, init_weights=None,
          strategy=None,
          mixed_precision=None, checkpoint_every=1000, log_every=50, verbose=1):
    """Trains a biLM (see `run_directory` for what `out_dir` receives, and its
    guarantees: one process at a time, no input overwritten, no silent restart).

    Without the `[train]` extra (tensorboard, matplotlib), a warning says before the
    first step that the run goes on without TensorBoard logs or learning curve.

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
        strategy: `"default"`, `"mirrored"`, `"multiworker"` or a `tf.distribute`
            strategy. The batch size is global.
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
            run writes, the checkpoints of a run to resume are gone).
        elmo_keras.io.paths.DiskSpaceError: the disk is full (the run resumes from
            its last checkpoint once there is space).
        TrainingInterrupted: after a SIGINT/SIGTERM, once the checkpoint is written.

    Examples:

    >>> train("runs/alice", "alice/train.txt", "options.json", "vocab.txt",
    ...       "alice/valid.txt", max_steps=300)  # doctest: +SKIP
    """
    strategy = get_strategy(strategy)
    chief = is_chief(strategy)
    if mixed_precision not in (None, "bfloat16"):
        raise TrainingError(f"mixed_precision must be None or 'bfloat16', got {mixed_precision!r}")
    with locked_run(out_dir, enabled=chief):
        return _train(out_dir, train_files, options, vocab, valid_files, epochs=epochs,
                      batch_size=batch_size, max_steps=max_steps, resume=resume,
                      init_weights=init_weights, strategy=strategy, chief=chief,
                      mixed_precision=mixed_precision, checkpoint_every=checkpoint_every,
                      log_every=log_every, verbose=verbose)


def _train(out_dir, train_files, options, vocab, valid_files, *, epochs, batch_size,
           max_steps, resume, init_weights, strategy, chief, mixed_precision,
           checkpoint_every, log_every, verbose):
    """`train` once the run directory is locked."""
    p = run_paths(out_dir)
    opts, vocab, run, stats, changes = prepare_run(
        out_dir, train_files, options, vocab, valid_files, epochs=epochs,
        batch_size=batch_size, resume=resume, init_weights=init_weights,
        trainer="tensorflow", chief=chief)
    total_steps = opts.n_epochs * run.steps_per_epoch
    if max_steps is not None:
        total_steps = min(total_steps, int(max_steps))

    ckpt_dir = p["checkpoints"] if chief else os.path.join(
        out_dir, f".worker_{worker_id(strategy)}", "checkpoints")
    trainer = _Trainer(opts, vocab, strategy, ckpt_dir,
                       dtype="mixed_bfloat16" if mixed_precision == "bfloat16" else None)
    start = trainer.restore() if resume else 0
    if start == 0 and run.init_weights:
        load_initial_weights(trainer.lm, run.init_weights)
    # Everything checked: the run directory can be written.
    with disk_errors(out_dir, "rerun with --resume" if resume else "run it again"):
        os.makedirs(out_dir, exist_ok=True)
        if chief:
            start_run(out_dir, opts, vocab, run, start, changes)
    if verbose:
        print_run_start(stats, vocab, run, opts, total_steps, start, changes)
    with disk_errors(out_dir):
        # A missing `[train]` extra is said here, before any step.
        callbacks = [HistoryLog(p, start, chief)]
        if chief:
            callbacks.append(TensorBoardLog(p["logs"]))
        return _run(trainer, out_dir, opts, vocab, run, start, total_steps, callbacks,
                    strategy=strategy, chief=chief, checkpoint_every=checkpoint_every,
                    log_every=log_every, verbose=verbose)


def _run(trainer, out_dir, opts, vocab, run, start, total_steps, callbacks, *, strategy,
         chief, checkpoint_every, log_every, verbose):
    """The steps, checkpoints and export of a started run."""
    p = run_paths(out_dir)

    states = trainer.states.distribute()
    iterator = iter(distributed_dataset(strategy, run.train_files, vocab, opts, start))

    def train_step(step):
        nonlocal states
        sums, states, norm = trainer.train_step(next(iterator), states, step)
        return sums.numpy(), norm

    def evaluate():
        if run.valid_files:
            return evaluate_lm(trainer.lm, vocab, run.valid_files, opts.batch_size,
                               opts.unroll_steps)
        return None

    def save():
        with disk_errors(p["checkpoints"]):
            try:
                path = trainer.save(states)
            except Exception:
                # SaveV2 writes `<prefix>_temp/` first: what a failed save left there
                # takes space that a full disk needs back.
                for tmp in glob.glob(os.path.join(glob.escape(trainer.manager.directory),
                                                  "*_temp")):
                    shutil.rmtree(tmp, ignore_errors=True)
                raise
        if chief:
            record_checkpoint(out_dir, run, int(trainer.step.numpy()))
        return path

    result = run_steps(train_step, save, evaluate, callbacks,
                       steps_per_epoch=run.steps_per_epoch, start=start,
                       total_steps=total_steps, tokens_per_step=trainer.global_tokens,
                       log_every=log_every, checkpoint_every=checkpoint_every,
                       verbose=verbose)
    if result["step"] > start or trainer.manager.latest_checkpoint is None:
        save()
    del iterator  # stop the input thread now, not at interpreter exit
    if chief:
        export_trained(trainer.lm, opts, vocab, out_dir)
    for c in callbacks:
        c.on_end()
    return dict(result, elmo=trainer.lm.elmo)
