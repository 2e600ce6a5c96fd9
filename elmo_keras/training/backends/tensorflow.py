"""Training on the TensorFlow backend: the step under any `tf.distribute` strategy
(`distribution`: one device, the local GPUs, several hosts), TensorFlow checkpoints.

Each replica differentiates the loss of `step_math.forward` on its rows with
`tf.GradientTape`; the gradients are summed over the replicas, clipped by their global
norm (bilm-tf clips the summed gradient), and applied by Keras' Adagrad. Keras'
optimizer sums the replicas' gradients itself and has no public way to take them
summed, so on several replicas each hands it `1 / replicas` of the clipped sum: a
second all-reduce of the gradient, the price of public APIs (on one device nothing is
reduced). The mirrored-strategy test (one device against two) fails if the sum is
wrong.

Checkpoints (`tf.train.CheckpointManager`, `ckpt-<step>.index` + data, the last 3
kept) hold the trained weights by name (`generic.weight_names`), the optimizer, the
step and the carried LSTM states.
"""

import glob
import os
import shutil

import tensorflow as tf

from elmo_keras.training.backends.generic import Placement, in_current_layout, weight_names
from elmo_keras.training.callbacks import TensorBoardLog
from elmo_keras.training.distribution import (CarriedStates, distributed_dataset,
                                              get_strategy, is_chief, n_workers,
                                              worker_id)
from elmo_keras.training.step_math import clip_by_global_norm, forward, make_optimizer

NAME = "tensorflow"


def make_seed(value):
    return tf.constant([value, 0], tf.int32)


def fold_in(seed, data):
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(data, tf.int32))


def uniform(shape, seed, dtype="float32"):
    return tf.random.stateless_uniform(shape, seed=seed, dtype=dtype)


def placement(strategy=None):
    """`strategy`: `"default"`, `"mirrored"`, `"multiworker"` or a `tf.distribute`
    strategy (see `distribution.get_strategy`)."""
    strategy = get_strategy(strategy)
    n = strategy.num_replicas_in_sync
    return Placement(f"TensorFlow, {n} replicas" if n > 1 else "", is_chief(strategy),
                     worker_id(strategy), strategy)


def _named_weights(lm):
    return dict(zip(weight_names(lm.lm_variables), lm.lm_variables))


def load_checkpoint_weights(lm, checkpoint):
    """A TensorFlow checkpoint's weights into `lm` (see
    `backends.load_checkpoint_weights`)."""
    if _input_major(checkpoint):
        _assign_transposed(checkpoint, {f"weights/{n}": v
                                        for n, v in _named_weights(lm).items()})
        return lm
    tf.train.Checkpoint(weights=_named_weights(lm)).restore(checkpoint).expect_partial() \
        .assert_existing_objects_matched()
    return lm


def _input_major(checkpoint):
    """Whether `checkpoint` was saved before `LSTMPCell` stored its kernels output-major:
    its first recurrent kernel is `[P, 4U]`, not `[4U, P]`."""
    shapes = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
    for key, shape in shapes.items():
        if key.startswith("weights/") and "recurrent_kernel" in key:
            return len(shape) == 2 and shape[0] < shape[1]
    return False


def _assign_transposed(checkpoint, variables):
    """Assigns each of `variables` (`{checkpoint name: variable}`) its value in an
    input-major `checkpoint`, the LSTM kernels and their slots transposed
    (`generic.in_current_layout`); a checkpoint that lacks one, or holds it in another
    shape, is not one of this model's."""
    reader = tf.train.load_checkpoint(checkpoint)
    for name, var in variables.items():
        key = name.replace(".", "..") + "/.ATTRIBUTES/VARIABLE_VALUE"
        value = (in_current_layout(reader.get_tensor(key), var.shape)
                 if reader.has_tensor(key) else None)
        if value is None:
            raise ValueError(f"{checkpoint}: {name} missing or of another shape than "
                             f"{tuple(var.shape)}: not a checkpoint of this model")
        var.assign(value)


class TrainStep:
    """A run's model, optimizer, carried states and checkpoints, and its step (the
    interface of `generic.ArrayTrainStep`)."""

    NAME = NAME

    def __init__(self, opts, build_lm, placement, folder):
        self.opts = opts
        self.strategy = strategy = placement.devices
        with strategy.scope():
            self.lm = build_lm()
            self.variables = self.lm.lm_variables
            self.optimizer = make_optimizer(opts, self.variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.carried = CarriedStates(
            strategy, self.lm.zero_states(opts.batch_size // n_workers(strategy)))
        ckpt = tf.train.Checkpoint(weights=_named_weights(self.lm), optimizer=self.optimizer,
                                   step=self.step, state_h=self.carried.h,
                                   state_c=self.carried.c)
        self.manager = tf.train.CheckpointManager(ckpt, folder, max_to_keep=3)
        self._step_fn = tf.function(self._train_step)
        self._iterator = self._states = None

    @property
    def done(self):
        return int(self.step.numpy())

    def restore(self):
        latest = self.manager.latest_checkpoint
        if latest is not None and _input_major(latest):  # saved by an earlier version
            variables = {f"weights/{n}": v for n, v in _named_weights(self.lm).items()}
            # The optimizer's step count and learning rate are saved under their own
            # names (the learning rate is the options' anyway: below).
            variables.update({f"optimizer/_variables/{i}": v
                              for i, v in enumerate(self.optimizer.variables)
                              if v is not self.optimizer.iterations
                              and not v.path.endswith("learning_rate")})
            variables.update({"optimizer/_iterations": self.optimizer.iterations,
                              "step": self.step, "state_h": self.carried.h,
                              "state_c": self.carried.c})
            _assign_transposed(latest, variables)
        elif latest is not None:
            self.manager.checkpoint.restore(latest).assert_existing_objects_matched()
            # A resumed run may change the learning rate (recorded in the run).
            self.optimizer.learning_rate = self.opts.learning_rate
        return self.done

    def latest_checkpoint(self):
        return self.manager.latest_checkpoint

    def start(self, files, vocab, start_step):
        self._states = self.carried.distribute()
        self._iterator = iter(distributed_dataset(self.strategy, files, vocab, self.opts,
                                                  start_step))

    def _replica_step(self, batch, states, step):
        opts = self.opts
        ctx = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            loss, (sums, new_states) = forward(
                self.lm, self.lm, opts, batch, states, step, ctx.replica_id_in_sync_group,
                ctx.num_replicas_in_sync)
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, self.variables)]
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads, norm = clip_by_global_norm(grads, opts.all_clip_norm_val)
        n = ctx.num_replicas_in_sync
        if n > 1:
            # Keras' optimizer sums the replicas' gradients again (it has no public way
            # to take them summed): each replica hands it its share of the clipped sum.
            grads = [g / n for g in grads]
        self.optimizer.apply(grads, self.variables)
        return sums, new_states, norm

    def _train_step(self, batch, states, step):
        strategy = self.strategy
        sums, new_states, norm = strategy.run(self._replica_step, args=(batch, states, step))
        sums = strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)
        norm = strategy.experimental_local_results(norm)[0]
        self.step.assign_add(1)
        return sums, new_states, norm

    def train_step(self, step):
        """Runs step number `step` on the next batch: `(loss sums [2], grad norm)`."""
        sums, self._states, norm = self._step_fn(next(self._iterator), self._states,
                                                 tf.constant(step, tf.int64))
        return sums.numpy(), norm

    def save(self):
        self.carried.gather(self._states)
        try:
            return self.manager.save(checkpoint_number=self.done)
        except Exception:
            # SaveV2 writes `<prefix>_temp/` first: what a failed save left there takes
            # space that a full disk needs back.
            for tmp in glob.glob(os.path.join(glob.escape(self.manager.directory), "*_temp")):
                shutil.rmtree(tmp, ignore_errors=True)
            raise

    def sync(self):
        """The variables are the trained values already."""

    def callbacks(self, paths):
        return [TensorBoardLog(paths["logs"])]

    def close(self):
        self._iterator = None  # stops the input thread now, not at interpreter exit
