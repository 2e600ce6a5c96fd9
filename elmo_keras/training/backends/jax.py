"""Training on the JAX backend: one `jax.jit`-compiled step, data-parallel over the
local devices.

The model runs through Keras' stateless API (`stateless_call`) inside
`jax.value_and_grad`; Keras' Adagrad updates the values by `stateless_apply`. The
step's values live outside the model's variables (`sync` writes them back, for
validation and export).

Several devices (`placement`): a `jax.sharding.Mesh` of all local devices (GPUs, TPU
cores, or CPU devices made with `XLA_FLAGS=--xla_force_host_platform_device_count=N`)
on one axis, `"batch"`. The parameters and the optimizer state are replicated; the
batch and the carried LSTM states are sharded by rows, so each device runs
`batch_size / N` rows. XLA's partitioner sums the gradient over the devices before
the clip, the global batch's loss and random numbers are those of one device (JAX's
partitionable threefry), and the step equals the one-device step up to the order of
float sums. Checkpoints hold the global arrays, so a run resumes on any device count.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from elmo_keras.training.backends.generic import ArrayTrainStep, Placement
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.step_math import clip_by_global_norm, forward

NAME = "jax"


def make_seed(value):
    return jax.random.PRNGKey(value)


def fold_in(seed, data):
    return jax.random.fold_in(seed, jnp.asarray(data, jnp.uint32))


def uniform(shape, seed, dtype="float32"):
    if dtype == "float64" and not jax.config.jax_enable_x64:
        dtype = "float32"
    return jax.random.uniform(seed, tuple(shape), dtype=dtype)


def placement(strategy=None):
    """The devices of a run: all local devices for `None`, `"default"` or
    `"mirrored"`; or the given `jax.sharding.Mesh` (one axis), or list of devices."""
    if strategy in (None, "default", "mirrored"):
        devices = jax.local_devices()
    elif isinstance(strategy, Mesh):
        devices = list(strategy.devices.flat)
    elif isinstance(strategy, (list, tuple)) and strategy and \
            all(isinstance(d, jax.Device) for d in strategy):
        devices = list(strategy)
    else:
        raise TrainingError(f"strategy {strategy!r}: the JAX trainer takes None, 'default' "
                            "or 'mirrored' (all local devices), a jax.sharding.Mesh or a "
                            "list of devices")
    kind = devices[0].platform
    where = f"{len(devices)} {kind} devices" if len(devices) > 1 else kind
    return Placement(f"JAX on {where}", devices=Mesh(np.array(devices), ("batch",)))


class TrainStep(ArrayTrainStep):
    """The jit-compiled JAX step (see the module and `generic.ArrayTrainStep`)."""

    NAME = NAME

    def __init__(self, opts, build_lm, placement, folder):
        mesh = placement.devices
        if opts.batch_size % mesh.size:
            raise TrainingError(
                f"batch_size={opts.batch_size} does not split over {mesh.size} devices; "
                "choose a multiple of the device count (or fewer devices: "
                "CUDA_VISIBLE_DEVICES)")
        super().__init__(opts, build_lm, placement, folder)
        self._replicated = NamedSharding(mesh, PartitionSpec())
        self._rows = NamedSharding(mesh, PartitionSpec("batch"))
        states = NamedSharding(mesh, PartitionSpec(None, None, "batch"))
        self._state_rows = (states, states)
        trained = {id(v) for v in self.variables}
        # The rest of the layer's weights (an ELMo's scalar mixes) pass through unchanged.
        self._frozen = [v for v in self.lm.trainable_variables if id(v) not in trained]
        # On an accelerator the step reuses the memory of the values it is given.
        donate = (0, 1) if jax.default_backend() != "cpu" else ()
        rep = self._replicated
        self._train = jax.jit(self._step, donate_argnums=donate,
                              out_shardings=(rep, rep, self._state_rows, rep, rep))

    def begin(self, batches):
        super().begin(batches)
        rep = self._replicated
        copy = functools.partial(jax.tree.map, jnp.copy)  # the variables keep their own
        self.params = jax.device_put(copy([v.value for v in self.variables]), rep)
        self.optimizer_state = jax.device_put(
            copy([v.value for v in self.optimizer.variables]), rep)
        self.fixed = jax.device_put(([v.value for v in self._frozen],
                                     [v.value for v in self.lm.non_trainable_variables]), rep)
        self.states = jax.device_put(tuple(self.states), self._state_rows)

    def _call(self, params, fixed, batch, states, **kwargs):
        frozen, non_trainable = fixed
        by_id = {id(v): x for v, x in zip(self.variables + self._frozen,
                                          list(params) + list(frozen))}
        trainable = [by_id[id(v)] for v in self.lm.trainable_variables]
        outputs, _ = self.lm.stateless_call(trainable, non_trainable, batch, states, **kwargs)
        return outputs

    def _step(self, params, optimizer_state, fixed, states, batch, step):
        def loss_fn(params):
            call = functools.partial(self._call, params, fixed)
            return forward(self.lm, call, self.opts, batch, states, step)

        (_, (sums, new_states)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        grads, norm = clip_by_global_norm(grads, self.opts.all_clip_norm_val)
        params, optimizer_state = self.optimizer.stateless_apply(optimizer_state, grads, params)
        return params, optimizer_state, new_states, sums, norm

    def train_step(self, step):
        """Runs step number `step` on the next batch: `(loss sums [2], grad norm)`."""
        batch = jax.device_put(next(self.batches), self._rows)
        self.params, self.optimizer_state, self.states, sums, norm = self._train(
            self.params, self.optimizer_state, self.fixed, self.states, batch,
            jnp.asarray(step, jnp.int32))
        self.done = step + 1
        return sums, norm

    def values(self):
        return self.params, self.optimizer_state, self.states

    def sync(self):
        for v, x in zip(self.variables + self.optimizer.variables,
                        list(self.params) + list(self.optimizer_state)):
            v.assign(np.asarray(x))
