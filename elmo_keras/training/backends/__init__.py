"""Everything in training that differs per Keras backend, behind one signature, as
`keras/src/backend/<name>/` holds one implementation per backend.

`get()` picks the module of the current Keras backend once: `tensorflow`, `jax` or
`torch`, and `generic` (what the other two share, and the fallback for any other
backend, which cannot train). Each defines:

| name | what |
| --- | --- |
| `NAME` | the trainer a run directory records (`run_directory.RunRecord.trainer`) |
| `make_seed`, `fold_in`, `uniform` | counter-based random numbers (`stateless_random`) |
| `placement(strategy)` | where a run trains (`generic.Placement`): devices, chief, worker |
| `TrainStep(opts, build_lm, placement, folder)` | the step and its checkpoints |

and the modules of the two checkpoint formats (`tensorflow`, `generic`)
`load_checkpoint_weights(lm, path)`.

`TrainStep` runs the step math of `step_math` (written once) the backend's way:
`tf.GradientTape` under a `tf.distribute` strategy and TensorFlow checkpoints;
`jax.value_and_grad` under `jax.jit`, the batch sharded over a mesh of devices; eager
PyTorch autograd. The JAX and PyTorch steps keep the array checkpoints of `generic`.
`trainer.train` runs any of them and does not know which.
"""

import functools
import importlib
import os
import re

import keras

BACKENDS = ("tensorflow", "jax", "torch")

# Checkpoints are `ckpt-<step>` + a suffix in the run's `checkpoints/` folder: TensorFlow's
# index file, or an array checkpoint (`generic.ArrayCheckpoints`).
_CHECKPOINT = re.compile(r"^ckpt-(\d+)(\.index|\.npz)$")


@functools.cache
def _module(name):
    return importlib.import_module(f"{__name__}.{name if name in BACKENDS else 'generic'}")


def get():
    """The training module of the current Keras backend (`keras.backend.backend()`)."""
    return _module(keras.backend.backend())


def checkpoint_files(folder, suffix=None):
    """`[(step, path)]` of the checkpoints in `folder` (of one format: `suffix`
    `".index"` or `".npz"`), by step."""
    found = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            m = _CHECKPOINT.match(name)
            if m and suffix in (None, m.group(2)):
                found.append((int(m.group(1)), os.path.join(folder, name)))
    return sorted(found)


def load_checkpoint_weights(lm, checkpoint):
    """Assigns a training checkpoint's weights (not the optimizer's state) to a
    `BiLMLanguageModel` of the same options: e.g. to export or evaluate an
    intermediate checkpoint. A TensorFlow checkpoint (its prefix, `.../ckpt-<step>`)
    needs TensorFlow; an array checkpoint (`ckpt-<step>.npz`) reads on any backend.

    Examples:

    >>> load_checkpoint_weights(lm, "runs/alice/checkpoints/ckpt-300")  # doctest: +SKIP
    """
    fmt = "generic" if os.fspath(checkpoint).endswith(".npz") else "tensorflow"
    return _module(fmt).load_checkpoint_weights(lm, checkpoint)
