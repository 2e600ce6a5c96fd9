"""Training on the PyTorch backend: the step eager, differentiated by autograd.

The model's variables are PyTorch parameters: the step differentiates the loss of
`step_math.forward` with `torch.autograd.grad`, clips the gradient and applies Keras'
Adagrad to the variables in place; the carried states are detached from each step's
graph. One device (where Keras puts its tensors). Array checkpoints (`generic`).
"""

import torch
from keras import ops

from elmo_keras.training.backends.generic import (ArrayTrainStep, fold_in, make_seed,
                                                  one_device, seed_int)
from elmo_keras.training.step_math import clip_by_global_norm, forward

NAME = "torch"

__all__ = ["NAME", "TrainStep", "fold_in", "make_seed", "placement", "uniform"]


def uniform(shape, seed, dtype="float32"):
    # Drawn on the device the seed (a Keras tensor) is on.
    generator = torch.Generator(device=seed.device)
    generator.manual_seed(seed_int(seed))
    return torch.rand(tuple(int(d) for d in shape), generator=generator, device=seed.device,
                      dtype=getattr(torch, dtype))


def placement(strategy=None):
    return one_device(strategy, "PyTorch on " + str(ops.convert_to_tensor(0.0).device))


class TrainStep(ArrayTrainStep):
    """The eager PyTorch step (see the module and `generic.ArrayTrainStep`)."""

    NAME = NAME

    def train_step(self, step):
        """Runs step number `step` on the next batch: `(loss sums [2], grad norm)`."""
        opts = self.opts
        batch = {k: ops.convert_to_tensor(v) for k, v in next(self.batches).items()}
        loss, (sums, states) = forward(self.lm, self.lm, opts, batch, self.states, step)
        grads = torch.autograd.grad(loss, [v.value for v in self.variables])
        grads, norm = clip_by_global_norm(list(grads), opts.all_clip_norm_val)
        with torch.no_grad():
            self.optimizer.apply(grads, self.variables)
        self.states = tuple(s.detach() for s in states)
        self.done = step + 1
        return ops.convert_to_numpy(sums), float(norm)
