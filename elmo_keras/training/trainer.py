"""The training loop: bilm-tf's recipe, resumable, on any `tf.distribute` strategy.

`train` runs in an output directory that holds everything of the run:

| file | what |
| --- | --- |
| `train_options.json`, `vocab.txt`, `run.json` | the run's options, vocabulary, data |
| `checkpoints/` | weights, Adagrad state, LSTM states, step (every N steps, at the end) |
| `history.jsonl` | training and validation perplexities, one JSON object a line |
| `logs/` | TensorBoard logs |
| `options.json`, `weights.hdf5` | the trained biLM in bilm-tf's published format |
| `softmax.hdf5` | the softmax (`softmax/W`, `softmax/b`), kept apart as bilm-tf does |
| `learning_curve.png` | perplexity against step |

Ctrl-C or SIGTERM finish the current step, write a checkpoint and stop; `resume=True`
continues from the last checkpoint: same weights, optimizer state, LSTM states, step
count and data position (the data stream is a deterministic function of the seed and
is fast-forwarded), so the resumed run takes exactly the steps the uninterrupted run
would have.
"""

import contextlib
import dataclasses
import json
import math
import os
import signal
import time

import h5py
import keras
import numpy as np
import tensorflow as tf

from elmo_keras.extras import require
from elmo_keras.io.bilm_hdf5 import load_bilm_weights, read_weight_file, write_weight_file
from elmo_keras.training.corpus import (StreamBatcher, iter_sentences, resolve_files,
                                        scan_corpus)
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.training_options import load_training_options
from elmo_keras.training.vocabulary import Vocabulary


class TrainingError(ValueError):
    """The output directory or the run's arguments do not allow training."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint (`step`, `checkpoint`)."""

    def __init__(self, step, checkpoint):
        super().__init__(f"interrupted at step {step}; checkpoint {checkpoint} written; "
                         "continue with --resume")
        self.step, self.checkpoint = step, checkpoint


STRATEGIES = ("default", "mirrored", "multiworker")


def get_strategy(strategy=None):
    """A `tf.distribute.Strategy` from a name: `default` (one device), `mirrored` (all
    local GPUs, or CPU), `multiworker` (hosts listed in `TF_CONFIG`)."""
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy in (None, "default"):
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise TrainingError("--strategy multiworker needs TF_CONFIG (see the README)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainingError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")


@dataclasses.dataclass
class _Run:
    """What a run directory records so that `--resume` needs nothing else."""

    train_files: list
    valid_files: list | None
    steps_per_epoch: int


_RUN_KEYS = {f.name for f in dataclasses.fields(_Run)}


def _paths(out_dir):
    j = lambda *p: os.path.join(out_dir, *p)  # noqa: E731
    return dict(options=j("train_options.json"), vocab=j("vocab.txt"), run=j("run.json"),
                checkpoints=j("checkpoints"), history=j("history.jsonl"), logs=j("logs"),
                model_options=j("options.json"), weights=j("weights.hdf5"),
                softmax=j("softmax.hdf5"), curve=j("learning_curve.png"))


def _atomic_json(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _read_history(path, last_step=None):
    """History entries (a torn last line from a kill is skipped), up to `last_step`."""
    entries = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if last_step is None or e["step"] <= last_step:
                    entries.append(e)
    return entries


class _StopSignals:
    """Turns SIGINT/SIGTERM into a flag checked between steps (a step is never cut)."""

    def __init__(self):
        self.requested = None

    @contextlib.contextmanager
    def installed(self):
        old = {}

        def handler(signum, frame):
            self.requested = signal.Signals(signum).name

        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                old[s] = signal.signal(s, handler)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _batch_signature(rows, opts):
    t, c = opts.unroll_steps, opts.model.max_characters_per_token
    sig = {"token_ids": tf.TensorSpec((rows, 2, t), tf.int32),
           "targets": tf.TensorSpec((rows, 2, t), tf.int32),
           "weights": tf.TensorSpec((rows, 2, t), tf.float32)}
    if opts.model.char_inputs:
        sig["char_ids"] = tf.TensorSpec((rows, 2, t, c), tf.int32)
    return sig


def training_batches(files, vocab, opts, rows, start_step=0, shard_index=0, num_shards=1):
    """The endless, deterministic batch stream of a training run (one input pipeline),
    fast-forwarded past the first `start_step` batches."""

    def sentences():
        epoch = 0
        while True:
            n = 0
            for n, tokens in enumerate(iter_sentences(
                    files, shuffle=opts.shuffle, seed=opts.seed, epoch=epoch,
                    shuffle_buffer=opts.shuffle_buffer, shard_index=shard_index,
                    num_shards=num_shards), 1):
                yield tokens
            if n == 0:
                raise TrainingError(f"input pipeline {shard_index} of {num_shards} gets no "
                                    "sentence: the corpus has fewer sentences than workers")
            epoch += 1

    batcher = StreamBatcher(sentences(), vocab, rows, opts.unroll_steps,
                            char_inputs=opts.model.char_inputs,
                            max_characters_per_token=opts.model.max_characters_per_token)
    batcher.skip(start_step)
    return batcher


def _distributed_dataset(strategy, files, vocab, opts, start_step):
    n_replicas = strategy.num_replicas_in_sync
    if opts.batch_size % n_replicas:
        raise TrainingError(
            f"batch_size={opts.batch_size} does not split over {n_replicas} replicas")

    def dataset_fn(ctx):
        n_pipes = ctx.num_input_pipelines
        rows = opts.batch_size // n_pipes
        n_local = n_replicas // n_pipes
        ds = tf.data.Dataset.from_generator(
            lambda: training_batches(files, vocab, opts, rows, start_step,
                                     ctx.input_pipeline_id, n_pipes),
            output_signature=_batch_signature(rows, opts))
        if n_local > 1:
            # Consecutive elements go to the local replicas in turn: split each batch
            # into row blocks so replica r gets rows [r * rows/n, (r + 1) * rows/n).
            ds = ds.flat_map(lambda b: tf.data.Dataset.from_tensor_slices(
                {k: tf.reshape(v, [n_local, rows // n_local] + v.shape[1:].as_list())
                 for k, v in b.items()}))
        return ds.prefetch(4)

    options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
    return strategy.distribute_datasets_from_function(dataset_fn, options)


def _seed(base, step, *salts):
    s = tf.random.experimental.stateless_fold_in(tf.constant([base, 0], tf.int32),
                                                 tf.cast(step, tf.int32))
    for salt in salts:
        s = tf.random.experimental.stateless_fold_in(s, salt)
    return s


def _named_weights(lm):
    """The trained variables by their Keras path: how checkpoints name them (Keras
    layers kept in Python lists are invisible to TensorFlow's object graph, so the
    checkpoint lists the variables itself)."""
    return {v.path.replace("/", "."): v for v in lm.lm_variables}


def load_checkpoint_weights(lm, checkpoint):
    """Assigns a training checkpoint's weights (not the optimizer's state) to a
    `BiLMLanguageModel` of the same options: e.g. to export or evaluate an
    intermediate checkpoint."""
    tf.train.Checkpoint(weights=_named_weights(lm)).restore(checkpoint).expect_partial() \
        .assert_existing_objects_matched()
    return lm


def export_trained(lm, opts, vocab, out_dir):
    """Writes `options.json` + `weights.hdf5` (bilm-tf's published format, loadable by
    `elmo-keras embed`, `export-hub`, bilm-tf and AllenNLP; a token-input biLM's file
    holds its `embedding` as bilm-tf's does) and `softmax.hdf5`."""
    p = _paths(out_dir)
    _atomic_json(opts.to_dict(vocab.size), p["model_options"])
    tmp = p["weights"] + ".tmp"
    write_weight_file(lm.weight_map(), tmp)
    os.replace(tmp, p["weights"])
    tmp = p["softmax"] + ".tmp"
    with h5py.File(tmp, "w") as f:
        for s in lm.softmaxes:
            f.create_dataset(f"{s.name}/W", data=np.asarray(s.kernel.numpy(), "float32"))
            f.create_dataset(f"{s.name}/b", data=np.asarray(s.bias.numpy(), "float32"))
    os.replace(tmp, p["softmax"])


def load_trained(model_dir):
    """The `BiLMLanguageModel`, options and vocabulary of a trained directory (its
    published-format files)."""
    p = _paths(model_dir)
    for key in ("model_options", "weights", "softmax", "vocab"):
        if not os.path.isfile(p[key]):
            raise TrainingError(f"{model_dir}: missing {os.path.basename(p[key])}; not a "
                                "directory written by elmo-keras train")
    opts = load_training_options(p["model_options"])
    vocab = Vocabulary.load(p["vocab"])
    opts.check_vocabulary(vocab)
    lm = BiLMLanguageModel(opts, vocab.size)
    _read_lm_weights(lm, p["weights"])
    load_softmax(lm, p["softmax"])
    return lm, opts, vocab


def _read_lm_weights(lm, path):
    if lm.char_inputs:
        load_bilm_weights(lm.elmo, path)  # also rejects layers the options lack
    else:
        read_weight_file(lm.weight_map(), path)


def load_softmax(lm, path):
    """Assigns `softmax/W`, `softmax/b` (and `softmax_backward/*` when the directions
    do not share one) from an HDF5 file; `W` is optional when it is tied to the token
    embeddings (bilm-tf's `share_embedding_softmax` files have no `softmax/W`)."""
    tied = lm.options.share_embedding_softmax
    with h5py.File(path, "r") as f:
        for s in lm.softmaxes:
            for var, key in ((s.kernel, "W"), (s.bias, "b")):
                name = f"{s.name}/{key}"
                if tied and key == "W" and name not in f:
                    continue
                if name not in f or tuple(f[name].shape) != tuple(var.shape):
                    found = tuple(f[name].shape) if name in f else "missing"
                    raise TrainingError(
                        f"{path}: dataset '{name}' is {found}, expected shape "
                        f"{tuple(var.shape)} (vocabulary size x projection_dim)")
                var.assign(f[name][...])


def _load_initial_weights(lm, path):
    """Starts training from published weights (and their softmax, from the same file
    or a `softmax.hdf5` beside it; without one the softmax starts random)."""
    _read_lm_weights(lm, path)
    with h5py.File(path, "r") as f:
        has_softmax = "softmax" in f
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), "softmax.hdf5")
    if has_softmax:
        load_softmax(lm, path)
    elif os.path.isfile(beside):
        load_softmax(lm, beside)


def evaluate_lm(lm, vocab, files, batch_size=256, unroll_steps=1, verbose=1):
    """Perplexity of each LM over every token of `files` (full softmax, states carried
    through each row of sentences, bilm-tf's test protocol; the last batch is padded,
    not dropped).

    Returns:
        dict `forward`, `backward`, `average` (exp of the mean of the two losses, the
        perplexity of bilm-tf's total loss) and `n_tokens` (predictions per direction).
    """
    opts = dataclasses.replace(lm.options, unroll_steps=int(unroll_steps))
    batcher = StreamBatcher(iter_sentences(files), vocab, batch_size, opts.unroll_steps,
                            char_inputs=opts.model.char_inputs,
                            max_characters_per_token=opts.model.max_characters_per_token,
                            drop_remainder=False)

    states = lm.zero_states(batch_size)

    @tf.function(input_signature=[_batch_signature(batch_size, opts),
                                  tuple(tf.TensorSpec(s.shape, s.dtype) for s in states)])
    def step(batch, states):
        return lm(batch, states, training=False)

    totals, count, n = np.zeros(2), 0.0, 0
    bar = keras.utils.Progbar(None, verbose=verbose, unit_name="batch")
    for batch in batcher:
        sums, c, states = step(batch, states)
        totals += sums.numpy()
        count += float(c)
        n += 1
        bar.update(n, values=[("ppl", float(np.exp(totals.mean() / max(count, 1))))])
    if count == 0:
        raise TrainingError(f"{', '.join(files)}: no token to evaluate")
    losses = totals / count
    return {"forward": float(np.exp(losses[0])), "backward": float(np.exp(losses[1])),
            "average": float(np.exp(losses.mean())), "n_tokens": int(count)}


def evaluate(model_dir, test_files, batch_size=256, unroll_steps=1, verbose=1):
    """Test perplexity of a trained directory (see `evaluate_lm`)."""
    lm, _, vocab = load_trained(model_dir)
    files = resolve_files(test_files)
    scan_corpus(files, vocab)
    return evaluate_lm(lm, vocab, files, batch_size, unroll_steps, verbose)


def train(out_dir, train_files=None, options=None, vocab=None, valid_files=None, *,
          epochs=None, batch_size=None, max_steps=None, resume=False, init_weights=None,
          strategy=None,
          mixed_precision=None, checkpoint_every=1000, log_every=50, verbose=1):
    """Trains a biLM (see the module docstring for what `out_dir` receives).

    Args:
        out_dir: the run directory (created; must not hold a run unless `resume`).
        train_files: glob pattern(s) of the training corpus.
        options: training options file (bilm-tf's; see `training_options`).
        vocab: vocabulary file.
        valid_files: optional glob(s): validation perplexity after each epoch.
        epochs, batch_size: override the options' `n_epochs`, `batch_size`.
        max_steps: stop after this many steps in all (checkpoint and export as usual).
        init_weights: start from these published-format weights (e.g. to adapt a
            trained biLM to new text) instead of a random initialisation.
        resume: continue the run in `out_dir` from its last checkpoint; `train_files`,
            `options` and `vocab` then default to the run's own.
        strategy: `"default"`, `"mirrored"`, `"multiworker"` or a `tf.distribute`
            strategy. The batch size is global.
        mixed_precision: None, or `"bfloat16"` (compute in bfloat16, weights and
            softmax in float32).
        checkpoint_every: steps between checkpoints.
        log_every: steps between TensorBoard/history entries.
        verbose: 0 silent, 1 progress bar.

    Returns:
        dict: `step`, `train_perplexity` (of the last log interval), `valid` (last
        validation perplexities or None), `tokens_per_sec`, `seconds`, and `elmo`, the
        trained `ELMo` (None for a token-input biLM).

    Raises:
        TrainingError, OptionsError, VocabularyError, CorpusError: before any step.
        TrainingInterrupted: after a SIGINT/SIGTERM, once the checkpoint is written.
    """
    require("tensorboard", "train", "elmo-keras train (its TensorBoard logs)")
    p = _paths(out_dir)
    strategy = get_strategy(strategy)
    chief = _is_chief(strategy)
    has_run = os.path.exists(p["run"])
    if resume and not has_run:
        raise TrainingError(f"{out_dir}: nothing to resume (no run.json)")
    if not resume and has_run and chief:
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
            run = _Run(**{k: v for k, v in json.load(f).items() if k in _RUN_KEYS})
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

    dtype = "mixed_bfloat16" if mixed_precision == "bfloat16" else None
    with strategy.scope():
        keras.utils.set_random_seed(opts.seed)
        lm = BiLMLanguageModel(opts, vocab.size, dtype=dtype)
        variables = lm.lm_variables
        optimizer = keras.optimizers.Adagrad(
            learning_rate=opts.learning_rate,
            initial_accumulator_value=opts.initial_accumulator_value, epsilon=1e-10)
        optimizer.build(variables)
        if init_weights and not resume:
            _load_initial_weights(lm, init_weights)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    if not resume:  # everything checked: the run directory can be written
        os.makedirs(out_dir, exist_ok=True)
        if chief:
            _atomic_json(opts.to_dict(vocab.size), p["options"])
            vocab.save(p["vocab"])
            _atomic_json(dataclasses.asdict(run), p["run"])
    h0, c0 = lm.zero_states(opts.batch_size // _n_workers(strategy))
    state_h = tf.Variable(h0, trainable=False, name="state_h")
    state_c = tf.Variable(c0, trainable=False, name="state_c")
    ckpt = tf.train.Checkpoint(weights=_named_weights(lm), optimizer=optimizer,
                               step=step_var, state_h=state_h, state_c=state_c)
    ckpt_dir = p["checkpoints"] if chief else os.path.join(
        out_dir, f".worker_{strategy.cluster_resolver.task_id}", "checkpoints")
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=3)
    if resume:
        if manager.latest_checkpoint is None:
            raise TrainingError(f"{out_dir}: no checkpoint to resume from")
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start = int(step_var.numpy())

    history = _read_history(p["history"], start)
    if chief:
        with open(p["history"], "w", encoding="utf-8") as f:
            for e in history:
                f.write(json.dumps(e) + "\n")

    n_local = strategy.num_replicas_in_sync // _n_workers(strategy)

    def distribute_states():
        hs = tf.split(state_h, n_local, axis=2)
        cs = tf.split(state_c, n_local, axis=2)
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: (hs[ctx.replica_id_in_sync_group % n_local],
                         cs[ctx.replica_id_in_sync_group % n_local]))

    def gather_states(states):
        local = strategy.experimental_local_results(states)
        state_h.assign(tf.concat([s[0] for s in local], axis=2))
        state_c.assign(tf.concat([s[1] for s in local], axis=2))

    global_tokens = float(opts.batch_size * opts.unroll_steps)

    def replica_step(batch, states, step):
        ctx = tf.distribute.get_replica_context()
        sampled = lm.sample_candidates(_seed(opts.seed, step, 1)) if opts.sample_softmax else None
        drop_seed = _seed(opts.seed, step, 2, ctx.replica_id_in_sync_group)
        if opts.state_reset_prob > 0:  # some rows start this batch from zero states
            rows = tf.shape(states[0])[2]
            keep = tf.random.stateless_uniform(
                [rows], seed=_seed(opts.seed, step, 3, ctx.replica_id_in_sync_group))
            keep = tf.cast(keep >= opts.state_reset_prob, states[0].dtype)[None, None, :, None]
            states = tuple(s * keep for s in states)
        with tf.GradientTape() as tape:
            sums, _, new_states = lm(batch, states, training=True, seed=drop_seed,
                                     sampled=sampled)
            # bilm-tf: mean token loss of the two LMs, times unroll_steps for the gradient.
            loss = 0.5 * (sums[0] + sums[1]) / global_tokens * opts.unroll_steps
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads, norm = tf.clip_by_global_norm(grads, opts.all_clip_norm_val)
        # Keras sums the replicas' gradients once more; hand it equal shares.
        n = ctx.num_replicas_in_sync
        optimizer.apply_gradients(zip([g / n for g in grads] if n > 1 else grads, variables))
        return sums, new_states, norm

    @tf.function
    def train_step(batch, states, step):
        sums, new_states, norm = strategy.run(replica_step, args=(batch, states, step))
        sums = strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)
        norm = strategy.experimental_local_results(norm)[0]
        step_var.assign_add(1)
        return sums, new_states, norm

    states = distribute_states()
    dataset = _distributed_dataset(strategy, files, vocab, opts, start)
    iterator = iter(dataset)
    writer = tf.summary.create_file_writer(os.path.join(p["logs"], "train")) if chief \
        else tf.summary.create_noop_writer()
    valid_writer = tf.summary.create_file_writer(os.path.join(p["logs"], "valid")) if chief \
        else tf.summary.create_noop_writer()

    def save():
        gather_states(states)
        return manager.save(checkpoint_number=int(step_var.numpy()))

    def log(entry):
        history.append(entry)
        if chief:
            with open(p["history"], "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    if verbose and start == 0:
        print(f"corpus: {stats.n_files} file(s), {stats.n_sentences} sentences, "
              f"{stats.n_tokens} tokens ({stats.n_oov} outside the vocabulary of "
              f"{vocab.size}); {run.steps_per_epoch} steps per epoch of "
              f"{opts.batch_size}x{opts.unroll_steps} tokens; {total_steps} steps in all")
    elif verbose:
        print(f"resuming at step {start} of {total_steps}")

    stop = _StopSignals()
    step = start
    acc, acc_steps, t_log = np.zeros(2), 0, time.perf_counter()
    t0, last_valid, last_train_ppl, bar = time.perf_counter(), None, None, None
    tokens_per_sec = None
    with stop.installed():
        while step < total_steps:
            epoch, in_epoch = divmod(step, run.steps_per_epoch)
            epoch_steps = min(run.steps_per_epoch, total_steps - epoch * run.steps_per_epoch)
            if bar is None:
                if verbose:
                    print(f"Epoch {epoch + 1}/{math.ceil(total_steps / run.steps_per_epoch)}")
                bar = keras.utils.Progbar(epoch_steps, verbose=verbose,
                                          stateful_metrics=["ppl", "tok/s"])
            batch = next(iterator)
            sums, states, norm = train_step(batch, states, tf.constant(step, tf.int64))
            step += 1
            sums = sums.numpy() / global_tokens
            acc += sums
            acc_steps += 1
            ppl = float(np.exp(sums.mean()))
            bar.update(in_epoch + 1, values=[("loss", float(sums.mean())), ("ppl", ppl)])
            if step % log_every == 0 or step == total_steps:
                dt = time.perf_counter() - t_log
                tokens_per_sec = acc_steps * global_tokens / dt
                losses = acc / acc_steps
                last_train_ppl = float(np.exp(losses.mean()))
                entry = {"step": step, "epoch": step / run.steps_per_epoch,
                         "train_perplexity": last_train_ppl,
                         "train_perplexity_forward": float(np.exp(losses[0])),
                         "train_perplexity_backward": float(np.exp(losses[1])),
                         "grad_norm": float(norm), "tokens_per_sec": tokens_per_sec}
                log(entry)
                with writer.as_default(step=step):
                    for k, v in entry.items():
                        if k not in ("step", "epoch"):
                            tf.summary.scalar(k, v)
                acc, acc_steps, t_log = np.zeros(2), 0, time.perf_counter()
            if in_epoch + 1 == epoch_steps:
                bar = None
                if valid:
                    last_valid = evaluate_lm(lm, vocab, valid, opts.batch_size,
                                             opts.unroll_steps, verbose=0)
                    log({"step": step, "epoch": step / run.steps_per_epoch,
                         "valid_perplexity": last_valid["average"],
                         "valid_perplexity_forward": last_valid["forward"],
                         "valid_perplexity_backward": last_valid["backward"]})
                    with valid_writer.as_default(step=step):
                        tf.summary.scalar("perplexity", last_valid["average"])
                    if verbose:
                        print(f"validation perplexity forward={last_valid['forward']:.2f} "
                              f"backward={last_valid['backward']:.2f} "
                              f"average={last_valid['average']:.2f}")
            if step % checkpoint_every == 0 and step < total_steps:
                save()
            if stop.requested:
                path = save()
                writer.flush()
                _finish_plots(p, history, chief)
                raise TrainingInterrupted(step, path)
    if step > start or manager.latest_checkpoint is None:
        save()
    del iterator  # stop the input thread now, not at interpreter exit
    writer.flush()
    valid_writer.flush()
    if chief:
        export_trained(lm, opts, vocab, out_dir)
    _finish_plots(p, history, chief)
    return {"step": step, "train_perplexity": last_train_ppl, "valid": last_valid,
            "tokens_per_sec": tokens_per_sec, "seconds": time.perf_counter() - t0,
            "elmo": lm.elmo}


def _finish_plots(p, history, chief):
    if chief and history:
        from elmo_keras.training.plots import plot_learning_curve

        plot_learning_curve(history, p["curve"])


def _cluster(strategy):
    """The `TF_CONFIG` cluster of a multi-worker strategy as a dict, or None."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return (resolver, spec) if spec else None


def _n_workers(strategy):
    cluster = _cluster(strategy)
    if cluster is None:
        return 1
    return sum(len(cluster[1].get(kind, [])) for kind in ("chief", "worker"))


def _is_chief(strategy):
    """The chief (or worker 0 of a cluster without one) writes the run directory."""
    cluster = _cluster(strategy)
    if cluster is None:
        return True
    resolver, spec = cluster
    if "chief" in spec:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0
