"""What the JAX and PyTorch steps share, and the fallback for other Keras backends.

- Random numbers drawn on the host: a seed is an int64 pair, `fold_in` a 64-bit mix
  (splitmix64's finaliser) of the pair and the data, `uniform` NumPy's Philox keyed by
  the pair (eager only; PyTorch keeps the seeds and draws on its device).
- Array checkpoints, `ckpt-<step>.npz` (`ArrayCheckpoints`): the trained weights by name
  (`weight_names`, the names TensorFlow checkpoints use), the optimizer's variables in
  order, the LSTM states and the step; written whole, then renamed; the last 3 kept.
- `ArrayTrainStep`: a step whose state can be read out as arrays (run, checkpoint,
  resume), the base of the JAX and PyTorch steps.
- `placement` and `TrainStep` of a backend that cannot train (no gradients): refused.
"""

import contextlib
import dataclasses
import os

import keras
import numpy as np
from keras import ops

from elmo_keras.training.backends import BACKENDS, checkpoint_files
from elmo_keras.training.corpus import training_batches
from elmo_keras.training.errors import TrainingError
from elmo_keras.training.prefetch import Prefetched
from elmo_keras.training.step_math import make_optimizer

NAME = "generic"
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _pair(seed):
    a, b = (int(x) for x in ops.convert_to_numpy(seed))
    return a, b


def _mix64(z):
    """splitmix64's finaliser: a bijective 64-bit hash."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def make_seed(value):
    return ops.convert_to_tensor(np.array([value, 0], np.int64))


def fold_in(seed, data):
    a, b = _pair(seed)
    mixed = _mix64(_mix64((a << 32) ^ (b & 0xFFFFFFFF)) ^ (int(data) & _MASK64))
    return ops.convert_to_tensor(np.array([mixed >> 32, mixed & 0xFFFFFFFF], np.int64))


def seed_int(seed):
    """The seed pair as one 64-bit integer."""
    a, b = _pair(seed)
    return ((a & 0xFFFFFFFF) << 32) | (b & 0xFFFFFFFF)


def uniform(shape, seed, dtype="float32"):
    rng = np.random.Generator(np.random.Philox(key=seed_int(seed)))
    return ops.convert_to_tensor(rng.random(tuple(int(d) for d in shape), dtype=dtype))


@dataclasses.dataclass
class Placement:
    """Where a run trains.

    Attributes:
        description: said when the run starts (e.g. "JAX on 2 gpu devices").
        chief: this process writes the run directory (False on the other workers of a
            cluster).
        worker: this host's index in a cluster.
        devices: the backend's handle: a `tf.distribute.Strategy`, a JAX `Mesh`.
    """

    description: str = ""
    chief: bool = True
    worker: int = 0
    devices: object = None


def one_device(strategy=None, description=""):
    """The placement of a backend that trains on one device (`strategy` None or
    `"default"`)."""
    if strategy not in (None, "default"):
        raise TrainingError(f"strategy {strategy!r} needs the TensorFlow backend (the "
                            f"{keras.backend.backend()} trainer uses one device)")
    return Placement(description)


def placement(strategy=None):
    """No training on this backend: refused before anything is written."""
    raise TrainingError(f"training runs on the Keras backends {', '.join(BACKENDS)}, "
                        f"not {keras.backend.backend()!r}")


def weight_names(variables):
    """The checkpoint names of the trained variables: their Keras paths, `.` for `/`
    (Keras layers kept in Python lists are invisible to TensorFlow's object graph, so
    checkpoints list the variables by name)."""
    return [v.path.replace("/", ".") for v in variables]


def in_current_layout(value, shape):
    """A checkpoint's `value` for a variable of `shape`: as is, or transposed when it was
    saved before `LSTMPCell` stored its kernels output-major (a 2-D value whose shape is
    the reverse of `shape`: a biLM's LSTM kernels, and their optimizer slots, are never
    square). None when it fits neither way."""
    value = np.asarray(value)
    if value.shape == tuple(shape):
        return value
    if value.ndim == 2 and value.shape[::-1] == tuple(shape):
        return np.ascontiguousarray(value.T)
    return None


def _read_weights(f, path, variables):
    values = []
    for name, v in zip(weight_names(variables), variables):
        key = f"weights/{name}"
        value = in_current_layout(f[key], v.shape) if key in f else None
        if value is None:
            found = f[key].shape if key in f else "missing"
            raise TrainingError(f"{path}: weight '{name}' is {found}, expected "
                                f"{tuple(v.shape)}: not a checkpoint of these options")
        values.append(value)
    return values


class ArrayCheckpoints:
    """The array checkpoints `ckpt-<step>.npz` of one folder.

    Args:
        folder: the run's `checkpoints/`.
        keep: how many of the last checkpoints are kept.
    """

    def __init__(self, folder, keep=3):
        self.folder, self.keep = folder, keep

    def latest(self):
        """The path of the last checkpoint, or None."""
        found = checkpoint_files(self.folder, ".npz")
        return found[-1][1] if found else None

    def save(self, variables, params, optimizer_state, states, step):
        """Writes `ckpt-<step>.npz` whole, renames it into place and returns its path."""
        os.makedirs(self.folder, exist_ok=True)
        arrays = {f"weights/{n}": ops.convert_to_numpy(x)
                  for n, x in zip(weight_names(variables), params)}
        arrays.update({f"optimizer/{i:05d}": ops.convert_to_numpy(x)
                       for i, x in enumerate(optimizer_state)})
        # float32 states whatever the compute dtype (NumPy has no bfloat16 of its own).
        arrays.update(state_h=ops.convert_to_numpy(ops.cast(states[0], "float32")),
                      state_c=ops.convert_to_numpy(ops.cast(states[1], "float32")),
                      step=np.asarray(step, np.int64))
        path = os.path.join(self.folder, f"ckpt-{step}.npz")
        tmp = path + ".tmp.npz"
        try:
            np.savez(tmp, **arrays)
        except BaseException:
            with contextlib.suppress(OSError):  # a full disk needs the space back
                os.remove(tmp)
            raise
        os.replace(tmp, path)
        for _, old in checkpoint_files(self.folder, ".npz")[:-self.keep]:
            os.remove(old)
        return path

    def load(self, path, variables, optimizer, states, learning_rate):
        """Assigns a checkpoint's weights and optimizer state (all checked against the
        model first) and returns `(states, step)`. The learning rate is the options'
        (a resumed run may change it), not the checkpoint's.

        Raises:
            TrainingError: the checkpoint is not one of this model's options.
        """
        with np.load(path) as f:
            params = _read_weights(f, path, variables)
            optimizer_state = []
            for i, v in enumerate(optimizer.variables):
                key = f"optimizer/{i:05d}"
                value = in_current_layout(f[key], v.shape) if key in f else None
                if value is None:
                    raise TrainingError(f"{path}: optimizer variable {i} does not match")
                optimizer_state.append(learning_rate if v.path.endswith("learning_rate")
                                       else value)
            loaded = (f["state_h"], f["state_c"])
            step = int(f["step"])
        if any(a.shape != tuple(s.shape) for a, s in zip(loaded, states)):
            raise TrainingError(f"{path}: LSTM states {loaded[0].shape}, expected "
                                f"{tuple(states[0].shape)}")
        for v, x in zip(list(variables) + list(optimizer.variables),
                        params + optimizer_state):
            v.assign(ops.cast(x, v.dtype))
        return tuple(ops.cast(a, s.dtype) for a, s in zip(loaded, states)), step


def load_checkpoint_weights(lm, path):
    """An array checkpoint's weights into `lm` (see `backends.load_checkpoint_weights`)."""
    with np.load(path) as f:
        values = _read_weights(f, path, lm.lm_variables)
    for v, x in zip(lm.lm_variables, values):
        v.assign(x)
    return lm


class ArrayTrainStep:
    """A run's model, optimizer, carried states and array checkpoints, and its step:
    what `trainer.train` asks of each backend's `TrainStep`.

    Args:
        opts: the run's `TrainingOptions`.
        build_lm: makes the run's `BiLMLanguageModel` (seeded).
        placement: `Placement`.
        folder: the checkpoints' folder.

    Attributes:
        lm: the model. done: the steps taken.
    """

    NAME = NAME

    def __init__(self, opts, build_lm, placement, folder):
        self.opts, self.placement = opts, placement
        self.lm = build_lm()
        self.variables = self.lm.lm_variables
        self.optimizer = make_optimizer(opts, self.variables)
        self.checkpoints = ArrayCheckpoints(folder)
        self.states = tuple(self.lm.zero_states(opts.batch_size))
        self.done = 0
        self.batches = None

    def restore(self):
        """Continues from the last checkpoint, if any; returns its step (0 without)."""
        path = self.checkpoints.latest()
        if path is not None:
            self.states, self.done = self.checkpoints.load(
                path, self.variables, self.optimizer, self.states, self.opts.learning_rate)
        return self.done

    def latest_checkpoint(self):
        return self.checkpoints.latest()

    def start(self, files, vocab, start_step):
        """Starts the run's batch stream at step `start_step` (`begin`), built ahead
        on a thread (`prefetch.Prefetched`)."""
        self.begin(Prefetched(training_batches(files, vocab, self.opts,
                                               self.opts.batch_size, start_step)))

    def begin(self, batches):
        """Starts the steps on `batches` (an iterator of `corpus.StreamBatcher`
        batches of `batch_size` rows) from the model's variables, as restored or
        initialised."""
        self.batches = batches

    def values(self):
        """`(params, optimizer_state, states)` as the steps left them."""
        return ([v.value for v in self.variables],
                [v.value for v in self.optimizer.variables], self.states)

    def save(self):
        """Writes a checkpoint of the steps taken; returns its path."""
        params, optimizer_state, states = self.values()
        return self.checkpoints.save(self.variables, params, optimizer_state, states,
                                     self.done)

    def sync(self):
        """Makes the model's variables hold the trained values (evaluation, export)."""

    def callbacks(self, paths):
        """The backend's own callbacks for the run directory `paths` (chief only)."""
        return []

    def close(self):
        if isinstance(self.batches, Prefetched):
            self.batches.close()
        self.batches = None


class TrainStep(ArrayTrainStep):
    """No training step on this backend (`placement` refuses first)."""

    def __init__(self, *args, **kwargs):
        placement()
