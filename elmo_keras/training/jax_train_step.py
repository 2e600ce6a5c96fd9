"""The biLM's training step on the JAX backend, jit-compiled (no TensorFlow needed).

The TensorFlow trainer's step (`trainer.train`) in JAX: the same losses (full or
sampled softmax, `0.5 * (forward + backward)` mean token loss, times `unroll_steps` for
the gradient), global-norm gradient clipping, Keras' `Adagrad` (its `stateless_apply`),
LSTM states carried from batch to batch, dropout and candidates drawn from the step
number (`stateless_random`). The `BiLMLanguageModel` runs through Keras' stateless API
(`stateless_call`) inside `jax.value_and_grad` and `jax.jit`. `jax_trainer` runs it
over a corpus into a run directory; `benchmarks/gpu.py` times it.
"""

import jax
import jax.numpy as jnp
import keras

from elmo_keras.training import stateless_random


class JaxTrainStep:
    """The jit-compiled training step of a `BiLMLanguageModel`.

    The model's variables stay as they are; the steps take and return their values
    (`values()`, `assign(...)`), as JAX wants.

    Args:
        lm: a `BiLMLanguageModel` (built on the JAX backend).
        opts: its `TrainingOptions`.

    Examples:
        >>> step = JaxTrainStep(lm, opts)                        # doctest: +SKIP
        >>> params, opt_state = step.values()                    # doctest: +SKIP
        >>> states = lm.zero_states(opts.batch_size)             # doctest: +SKIP
        >>> params, opt_state, states, sums, norm = step.train(
        ...     params, opt_state, states, batch, 0)             # doctest: +SKIP
    """

    def __init__(self, lm, opts):
        if keras.backend.backend() != "jax":
            raise ValueError("the JAX training step needs KERAS_BACKEND=jax, got "
                             f"{keras.backend.backend()!r}")
        self.lm, self.opts = lm, opts
        self.variables = lm.lm_variables
        trained = {id(v) for v in self.variables}
        # The rest of the layer's weights (an ELMo's scalar mixes) pass through unchanged.
        self._frozen = [v for v in lm.trainable_variables if id(v) not in trained]
        self.optimizer = keras.optimizers.Adagrad(
            learning_rate=opts.learning_rate,
            initial_accumulator_value=opts.initial_accumulator_value, epsilon=1e-10)
        self.optimizer.build(self.variables)
        self.tokens = float(opts.batch_size * opts.unroll_steps)
        donate = (0, 1) if jax.default_backend() != "cpu" else ()
        self.train = jax.jit(self._train, donate_argnums=donate)

    def values(self):
        """`(params, optimizer_state)`: copies of the current values of the trained
        variables and of the optimizer's (accumulators, iteration count); on an
        accelerator `train` reuses the memory of the values it is given."""
        return ([jnp.copy(v.value) for v in self.variables],
                [jnp.copy(v.value) for v in self.optimizer.variables])

    def assign(self, params, optimizer_state=None):
        """Writes values back into the model's (and optimizer's) variables."""
        for v, x in zip(self.variables, params):
            v.assign(x)
        for v, x in zip(self.optimizer.variables, optimizer_state or []):
            v.assign(x)

    def _call(self, params, batch, states, **kwargs):
        by_id = {id(v): x for v, x in zip(self.variables, params)}
        by_id.update((id(v), v.value) for v in self._frozen)
        trainable = [by_id[id(v)] for v in self.lm.trainable_variables]
        non_trainable = [v.value for v in self.lm.non_trainable_variables]
        outputs, _ = self.lm.stateless_call(trainable, non_trainable, batch, states, **kwargs)
        return outputs

    def _train(self, params, optimizer_state, states, batch, step):
        opts = self.opts
        sampled = (self.lm.sample_candidates(stateless_random.step_seed(opts.seed, step, 1))
                   if opts.sample_softmax else None)
        drop_seed = stateless_random.step_seed(opts.seed, step, 2, 0)
        if opts.state_reset_prob > 0:  # some rows start this batch from zero states
            rows = states[0].shape[2]
            u = stateless_random.uniform((rows,), stateless_random.step_seed(opts.seed, step, 3, 0))
            keep = (u >= opts.state_reset_prob).astype(states[0].dtype)[None, None, :, None]
            states = tuple(s * keep for s in states)

        def loss_fn(params):
            sums, _, new_states = self._call(params, batch, states, training=True,
                                             seed=drop_seed, sampled=sampled)
            # bilm-tf: mean token loss of the two LMs, times unroll_steps for the gradient.
            loss = 0.5 * (sums[0] + sums[1]) / self.tokens * opts.unroll_steps
            return loss, (sums, new_states)

        (_, (sums, new_states)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(g.astype("float32"))) for g in grads))
        clip = opts.all_clip_norm_val
        grads = [g * (clip / jnp.maximum(norm, clip)).astype(g.dtype) for g in grads]
        params, optimizer_state = self.optimizer.stateless_apply(optimizer_state, grads, params)
        return params, optimizer_state, tuple(new_states), sums, norm
