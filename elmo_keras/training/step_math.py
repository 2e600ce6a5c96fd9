"""The training step's math, written once for every backend (bilm-tf's recipe).

Each backend's `TrainStep` (`backends/`) differentiates `forward`, all-reduces where it
runs on several devices, and applies `clip_by_global_norm` and the `make_optimizer`
Adagrad, so the numbers are these whatever the backend:

- the seeds of step `s` from the run's seed (`stateless_random.step_seed`): the sampled
  softmax's candidates `(s, 1)`, dropout `(s, 2, replica)`, state resets `(s, 3)`; so a
  resumed or distributed run draws what an uninterrupted one-device run draws;
- state resets (`state_reset_prob`): each row's carried LSTM states zeroed with that
  probability before the batch (one draw for the global batch's rows);
- the loss: the mean token loss of the two LMs, `0.5 * (forward + backward)` over the
  global batch's `batch_size * unroll_steps` tokens, times `unroll_steps` for the
  gradient (bilm-tf's `total_loss * unroll_steps`);
- the gradient clipped by its global norm (`all_clip_norm_val`) after the replicas'
  gradients are summed, as bilm-tf clips the averaged gradient;
- Adagrad (`learning_rate`, `initial_accumulator_value`, epsilon 1e-10).
"""

import keras
from keras import ops

from elmo_keras.training.stateless_random import step_seed, uniform

CANDIDATES, DROPOUT, RESET = 1, 2, 3  # the salts of a step's seeds


def make_optimizer(opts, variables):
    """The run's Adagrad (Keras'), built for `variables`."""
    optimizer = keras.optimizers.Adagrad(
        learning_rate=opts.learning_rate,
        initial_accumulator_value=opts.initial_accumulator_value, epsilon=1e-10,
        name="adagrad")
    optimizer.build(variables)
    return optimizer


def reset_rows(states, prob, seed, replica=0, n_replicas=1):
    """Zeroes the states `(h, c)` (rows on axis 2) of each row with probability `prob`.
    One draw for the rows of all replicas, each taking its own block of rows, so a
    mirrored run resets the rows a one-device run would."""
    if prob <= 0:
        return tuple(states)
    rows = ops.shape(states[0])[2]
    draw = uniform([rows * n_replicas], seed)
    keep = draw[replica * rows:(replica + 1) * rows] >= prob
    keep = ops.cast(keep, states[0].dtype)[None, None, :, None]
    return tuple(s * keep for s in states)


def forward(lm, call, opts, batch, states, step, replica=0, n_replicas=1):
    """The loss of one step and what it carries on.

    Args:
        lm: the `BiLMLanguageModel` (draws the candidates).
        call: `call(batch, states, training=, seed=, sampled=)`: the model's call
            (`lm` itself, or a stateless call of its values).
        opts: the run's `TrainingOptions`.
        batch, states: this replica's rows of the batch and of the carried states.
        step: the step number (an int or a scalar tensor).
        replica, n_replicas: this replica among those of the step.

    Returns:
        `(loss, (sums, new_states))`: the loss to differentiate, the forward and
        backward loss sums `[2]` of these rows, and the states to carry.
    """
    sampled = (lm.sample_candidates(step_seed(opts.seed, step, CANDIDATES))
               if opts.sample_softmax else None)
    states = reset_rows(states, opts.state_reset_prob, step_seed(opts.seed, step, RESET),
                        replica, n_replicas)
    sums, _, new_states = call(batch, states, training=True,
                               seed=step_seed(opts.seed, step, DROPOUT, replica),
                               sampled=sampled)
    loss = 0.5 * (sums[0] + sums[1]) / float(opts.batch_size * opts.unroll_steps)
    return loss * opts.unroll_steps, (sums, tuple(new_states))


def clip_by_global_norm(grads, clip):
    """`(grads scaled to a global norm of at most clip, the global norm before)`."""
    norm = ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads))
    scale = clip / ops.maximum(norm, clip)
    return [g * ops.cast(scale, g.dtype) for g in grads], norm
