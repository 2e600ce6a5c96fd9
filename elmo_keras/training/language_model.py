"""The biLM training graph: token encoder -> forward and backward LSTM stacks -> softmax.

This is bilm-tf's `LanguageModel` in training mode. For a character-input biLM the
token encoder and LSTMs are the layers of an `elmo_keras.ELMo` (so a trained model *is*
an ELMo and saves to the published format directly); a token-input biLM (options
without `char_cnn`) embeds token ids instead. The softmax is an `LMSoftmax`, shared by
both directions unless the options say otherwise, and tied to the token embeddings with
`share_embedding_softmax`. Dropout (bilm-tf's `DropoutWrapper` on each LSTM
layer's input, then on the top layer's output) and the sampled softmax draw from
stateless seeds derived from the training step (`stateless_random`, on every backend),
so a resumed run repeats exactly the random numbers of an uninterrupted one.
"""

import keras
from keras import ops

from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.io.bilm_hdf5 import bilm_weight_map, token_bilm_weight_map
from elmo_keras.layers.bilm import BiLM
from elmo_keras.layers.lm_softmax import LMSoftmax
from elmo_keras.training.stateless_random import dropout as stateless_dropout
from elmo_keras.training.stateless_random import fold_in, log_uniform_candidates


class BiLMLanguageModel(keras.layers.Layer):
    """Token encoder + biLM + softmax, computing the two LMs' summed losses.

    Args:
        options: `TrainingOptions`.
        vocab_size: size of the softmax.
        elmo: an existing `ELMo` to train (default: a new one from `options.model`;
            character inputs only).
        dtype: dtype policy of the encoder and LSTMs (e.g. `"mixed_bfloat16"`); the
            softmax is float32.
    """

    def __init__(self, options, vocab_size, elmo=None, dtype=None, **kwargs):
        super().__init__(autocast=False, **kwargs)
        self.options = options
        self.vocab_size = int(vocab_size)
        m = options.model
        self.char_inputs = m.char_inputs
        if self.char_inputs:
            self.elmo = elmo or ELMo.from_options(m, dtype=dtype, name="elmo")
            self.encoder, self.bilm = self.elmo.char_encoder, self.elmo.bilm
        else:
            self.elmo = None
            self.encoder = keras.layers.Embedding(
                self.vocab_size, m.projection_dim, embeddings_initializer="glorot_uniform",
                dtype=dtype, name="embedding")
            self.encoder.build((None,))
            self.bilm = BiLM(m.lstm_dim, m.projection_dim, n_layers=m.n_layers,
                             cell_clip=m.cell_clip, proj_clip=m.proj_clip,
                             use_skip_connections=m.use_skip_connections, dtype=dtype,
                             name="bilm")
            self.bilm.build((None, None, m.projection_dim))
        n_softmax = 1 if options.share_softmax_between_directions else 2
        names = ["softmax", "softmax_backward"][:n_softmax]
        self.softmaxes = [LMSoftmax(self.vocab_size, name=n) for n in names]
        for s in self.softmaxes:
            if options.share_embedding_softmax:
                s.tie_kernel(self.encoder.embeddings)
            s.build((None, m.projection_dim))
        self.built = True  # every weight exists (what stateless_call checks)

    @property
    def lm_variables(self):
        """The variables training updates: token encoder, LSTMs and softmax (not an
        ELMo's scalar mix, which only downstream tasks train), each once."""
        found = {}
        for layer in [self.encoder, self.bilm] + self.softmaxes:
            for v in layer.trainable_variables:
                found.setdefault(id(v), v)
        return list(found.values())

    def weight_map(self):
        """The published weight file's datasets (see `elmo_keras.io.bilm_hdf5`)."""
        if self.char_inputs:
            return bilm_weight_map(self.elmo)
        return token_bilm_weight_map(self.encoder.embeddings, self.bilm)

    def zero_states(self, batch):
        return self.bilm.zero_states(batch, self.bilm.compute_dtype)

    def call(self, batch, states, training=False, seed=None, sampled=None):
        """Runs both LMs on a batch of `corpus.StreamBatcher`.

        Args:
            batch: dict with `char_ids` `[B, 2, T, C]` (character inputs) or
                `token_ids` `[B, 2, T]`, and `targets` `[B, 2, T]`, `weights` `[B, 2, T]`.
            states: `(h, c)` initial LSTM states (`zero_states` layout).
            training: apply dropout.
            seed: a `stateless_random` seed for dropout (needed when training with
                dropout).
            sampled: for the sampled softmax, int `[2, num_sampled]` candidates, one
                draw per direction (`sample_candidates`); None for the full softmax.

        Returns:
            `(loss_sums, n_tokens, new_states)`: float32 `[2]` summed cross-entropy of
            the forward and backward LM, the number of predictions per direction, and
            the final states.
        """
        weights = ops.cast(batch["weights"], "float32")
        targets = batch["targets"]
        top, new_states = self._top_layer(batch, weights, states, training, seed)
        sums = [ops.sum(ce * ops.reshape(weights[:, d, :], (-1,)))
                for d, ce in enumerate(self._direction_losses(top, targets, sampled))]
        return ops.stack(sums), ops.sum(weights[:, 0, :]), new_states

    def token_losses(self, batch, states):
        """Each prediction's cross-entropy under the full softmax (inference): what
        the LMs think of every token, e.g. to score a text or compare two contexts.

        Args:
            batch: as `call` (`corpus.sentence_batches` or `corpus.StreamBatcher`).
            states: initial states (`zero_states(B)` for sentences read alone).

        Returns:
            `(losses, new_states)`: float32 `[B, 2, T]` `-log p(target)` per direction
            and step (0 where `weights` is 0), and the final states.
        """
        weights = ops.cast(batch["weights"], "float32")
        targets = batch["targets"]
        top, new_states = self._top_layer(batch, weights, states, False, None)
        losses = [ops.reshape(ce, ops.shape(targets[:, d, :])) * weights[:, d, :]
                  for d, ce in enumerate(self._direction_losses(top, targets))]
        return ops.stack(losses, axis=1), new_states

    def _direction_losses(self, top, targets, sampled=None):
        """Per direction, float32 `[B * T]` cross-entropy of each target: the full
        softmax, or the sampled one over `sampled[d]`'s candidates."""
        out = []
        for d in range(2):
            softmax = self.softmaxes[min(d, len(self.softmaxes) - 1)]
            h = ops.reshape(top[d], (-1, top.shape[-1]))
            y = ops.reshape(targets[:, d, :], (-1,))
            out.append(softmax.full_loss(h, y) if sampled is None
                       else softmax.sampled_loss(h, y, sampled[d]))
        return out

    def _top_layer(self, batch, weights, states, training, seed):
        """`([2, B, T, P] top LSTM outputs after dropout, new states)` of a batch."""
        if self.char_inputs:
            chars = ops.convert_to_tensor(batch["char_ids"])
            # Both streams through the char CNN at once (each distinct token encoded
            # once where the backend allows): [B, 2, T, C] -> [2, B, T, P].
            x = self.elmo.encode_tokens(ops.transpose(chars, (1, 0, 2, 3)))
        else:
            x = self.encoder(ops.transpose(batch["token_ids"], (1, 0, 2)))  # [2, B, T, P]
        mask = weights[:, 0, :] > 0
        rate = self.options.dropout if training else 0.0
        calls = [0]

        def dropout(v):
            if rate <= 0.0:
                return v
            calls[0] += 1
            return stateless_dropout(v, rate, fold_in(seed, calls[0]))

        outputs, new_states = self.bilm.run_directions(
            x, mask, states, input_dropout=dropout if rate > 0 else None,
            inference=not training)
        return dropout(outputs[-1]), new_states  # [2, B, T, P]

    def sample_candidates(self, seed):
        """The sampled softmax's candidates for one step: one draw per direction, as
        bilm-tf draws (shared by all rows, and by all replicas of a distributed run)."""
        n = min(self.options.n_negative_samples_batch, self.vocab_size)
        return ops.stack([log_uniform_candidates(n, self.vocab_size, fold_in(seed, d))
                          for d in range(2)])
