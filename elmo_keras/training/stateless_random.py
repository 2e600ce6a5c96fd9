"""Stateless random numbers for training, on every Keras backend.

Dropout and the sampled softmax draw from seeds derived from the run's seed and the
step number, so a resumed run repeats exactly the random numbers of an uninterrupted
one. `keras.random` takes only Python ints or a stateful `SeedGenerator`, neither of
which is a function of a traced step number inside a compiled step, so these use each
backend's own counter-based generator behind one signature (in `backends/`):

| backend | seed | `fold_in` | `uniform` |
| --- | --- | --- | --- |
| tensorflow | int32 `[2]` | `tf.random.experimental.stateless_fold_in` | `tf.random.stateless_uniform` |
| jax | uint32 `[2]` key | `jax.random.fold_in` | `jax.random.uniform` |
| torch | int64 `[2]` | a 64-bit mix of the pair and the salt (eager) | `torch.rand` with a `Generator` seeded from the pair |
| other (`generic`) | int64 `[2]` | the same mix (eager) | NumPy's Philox keyed by the pair |

The same seed gives the same numbers on one backend, not across backends.
"""

import math

from keras import ops

from elmo_keras.training.backends import get as _backend


def make_seed(value):
    """The seed of a run (`int`) as the backend's seed tensor."""
    return _backend().make_seed(int(value))


def fold_in(seed, data):
    """A new seed from `seed` and an integer `data` (Python int or scalar tensor)."""
    return _backend().fold_in(seed, data)


def step_seed(base, step, *salts):
    """The seed of one training step: the run's seed `base` folded with `step` and then
    with each salt (what a step draws for: candidates, dropout, replica)."""
    seed = fold_in(make_seed(base), step)
    for salt in salts:
        seed = fold_in(seed, salt)
    return seed


def uniform(shape, seed, dtype="float32"):
    """Uniform `[0, 1)` numbers of `shape` from `seed`. `float64` falls back to
    `float32` on JAX when 64-bit types are off (JAX's default)."""
    return _backend().uniform(shape, seed, dtype)


def dropout(x, rate, seed):
    """Inverted dropout: each element of `x` is zeroed with probability `rate`, the
    others scaled by `1 / (1 - rate)`."""
    keep = uniform(ops.shape(x), seed) >= rate
    return ops.where(keep, x / ops.cast(1.0 - rate, x.dtype), ops.zeros_like(x))


def log_uniform_candidates(num_sampled, vocab_size, seed):
    """Draws `num_sampled` token ids from the log-uniform (Zipf) distribution of
    `lm_softmax.log_uniform_expected_count`, with replacement, from a stateless seed
    (so a resumed or distributed run draws the same ones).

    This is the proposal of TF's `log_uniform_candidate_sampler` (and so of bilm-tf's
    sampled softmax), which suits vocabularies sorted by decreasing frequency. bilm-tf
    draws without replacement; with replacement the expected count is exactly
    `num_sampled * P(k)` and the estimator is otherwise the same.

    Args:
        num_sampled: number of candidates.
        vocab_size: ids are in `[0, vocab_size)`.
        seed: a seed of this module (`make_seed`, `fold_in`, `step_seed`).

    Returns:
        int32 `[num_sampled]`.

    Examples:
        >>> ids = log_uniform_candidates(8, 1000, make_seed(0))
        >>> tuple(ids.shape)
        (8,)
    """
    u = uniform((num_sampled,), seed, dtype="float64")
    ids = ops.cast(ops.floor(ops.exp(u * math.log(vocab_size + 1.0))), "int32") - 1
    return ops.clip(ids, 0, vocab_size - 1)
