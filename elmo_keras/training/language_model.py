"""The biLM training graph: char CNN -> forward and backward LSTM stacks -> softmax.

This is bilm-tf's `LanguageModel` in training mode. The token encoder and LSTMs are
the layers of an `elmo_keras.ELMo` (so a trained model *is* an ELMo and saves to the
published format directly); the softmax is an `LMSoftmax`, shared by both directions
unless the options say otherwise. Dropout (bilm-tf's `DropoutWrapper` on each LSTM
layer's input, then on the top layer's output) and the sampled softmax draw from
stateless seeds derived from the training step, so a resumed run repeats exactly the
random numbers of an uninterrupted one.
"""

import keras
import tensorflow as tf
from keras import ops

from elmo_keras.backbone import ELMo
from elmo_keras.layers.lm_softmax import LMSoftmax, log_uniform_candidates


class BiLMLanguageModel(keras.layers.Layer):
    """Token encoder + biLM + softmax, computing the two LMs' summed losses.

    Args:
        options: `TrainingOptions`.
        vocab_size: size of the softmax.
        elmo: an existing `ELMo` to train (default: a new one from `options.model`).
        dtype: dtype policy of the ELMo layers (e.g. `"mixed_bfloat16"`); the softmax
            is float32.
    """

    def __init__(self, options, vocab_size, elmo=None, dtype=None, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.options = options
        self.vocab_size = int(vocab_size)
        self.elmo = elmo or ELMo.from_options(options.model, dtype=dtype, name="elmo")
        n_softmax = 1 if options.share_softmax_between_directions else 2
        names = ["softmax", "softmax_backward"][:n_softmax]
        self.softmaxes = [LMSoftmax(self.vocab_size, name=n) for n in names]
        dim = options.model.projection_dim
        for s in self.softmaxes:
            s.build((None, dim))

    @property
    def bilm(self):
        return self.elmo.bilm

    @property
    def lm_variables(self):
        """The variables training updates: char CNN, LSTMs and softmax (not the ELMo's
        scalar mix, which only downstream tasks train)."""
        return (self.elmo.char_encoder.trainable_variables + self.bilm.trainable_variables
                + [v for s in self.softmaxes for v in s.trainable_variables])

    def zero_states(self, batch):
        return self.bilm.zero_states(batch, self.elmo.char_encoder.compute_dtype)

    def call(self, batch, states, training=False, seed=None, sampled=None):
        """Runs both LMs on a batch of `corpus.StreamBatcher`.

        Args:
            batch: dict with `char_ids` `[B, 2, T, C]`, `targets` `[B, 2, T]`,
                `weights` `[B, 2, T]`.
            states: `(h, c)` initial LSTM states (`zero_states` layout).
            training: apply dropout.
            seed: int32 `[2]` stateless seed for dropout (needed when training with
                dropout).
            sampled: for the sampled softmax, int `[2, num_sampled]` candidates, one
                draw per direction (`sample_candidates`); None for the full softmax.

        Returns:
            `(loss_sums, n_tokens, new_states)`: float32 `[2]` summed cross-entropy of
            the forward and backward LM, the number of predictions per direction, and
            the final states.
        """
        chars = ops.convert_to_tensor(batch["char_ids"])
        weights = ops.cast(batch["weights"], "float32")
        targets = batch["targets"]
        b, t = ops.shape(chars)[0], ops.shape(chars)[2]
        # Both streams through the char CNN at once: [2B, T, C] -> [2, B, T, P].
        streams = ops.reshape(ops.transpose(chars, (1, 0, 2, 3)),
                              (2 * b, t, chars.shape[-1]))
        x = self.elmo.char_encoder(streams)
        x = ops.reshape(x, (2, b, t, x.shape[-1]))
        mask = weights[:, 0, :] > 0
        rate = self.options.dropout if training else 0.0
        calls = [0]

        def dropout(v):
            if rate <= 0.0:
                return v
            calls[0] += 1
            s = tf.random.experimental.stateless_fold_in(seed, calls[0])
            keep = tf.random.stateless_uniform(tf.shape(v), seed=s) >= rate
            return tf.where(keep, v / ops.cast(1.0 - rate, v.dtype), ops.zeros_like(v))

        outputs, new_states = self.bilm.run_directions(
            x, mask, states, input_dropout=dropout if rate > 0 else None)
        top = dropout(outputs[-1])  # [2, B, T, P]
        sums = []
        for d in range(2):
            softmax = self.softmaxes[min(d, len(self.softmaxes) - 1)]
            h = ops.reshape(top[d], (-1, top.shape[-1]))
            y = ops.reshape(targets[:, d, :], (-1,))
            w = ops.reshape(weights[:, d, :], (-1,))
            if sampled is None:
                ce = softmax.full_loss(h, y)
            else:
                ce = softmax.sampled_loss(h, y, sampled[d])
            sums.append(ops.sum(ce * w))
        return ops.stack(sums), ops.sum(weights[:, 0, :]), new_states

    def sample_candidates(self, seed):
        """The sampled softmax's candidates for one step: one draw per direction, as
        bilm-tf draws (shared by all rows, and by all replicas of a distributed run)."""
        n = min(self.options.n_negative_samples_batch, self.vocab_size)
        return tf.stack([log_uniform_candidates(
            n, self.vocab_size, tf.random.experimental.stateless_fold_in(seed, d))
            for d in range(2)])
