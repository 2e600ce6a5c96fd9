"""`Embedder`: runs an `ELMo` on batches of tokenized sentences, compiled once."""

import keras
import numpy as np
from keras import ops

from elmo_keras.layers.kernels import kernels
from elmo_keras.text.char_ids import token_to_char_ids
from elmo_keras.text.special_tokens import BOS_TOKEN, EOS_TOKEN

#: Compiled shapes are padded to multiples of these (fewer distinct shapes to compile).
STEP_BUCKET, TOKEN_BUCKET = 8, 64


class Embedder:
    """Runs an `ELMo` model on batches of tokenized sentences, on any Keras backend.

    Each batch's distinct tokens are found in NumPy, by string, before the model runs:
    the char CNN (`ELMo.encode_tokens`) runs once per distinct token, never on padding,
    then the biLM (`ELMo.contextualize`). With `vocab`, the char-CNN vectors of those
    tokens (and of `<S>`, `</S>`) are computed once and looked up (AllenNLP's
    `vocab_to_cache`); the char CNN runs only for the batch's other tokens. Results
    are the same either way.

    The function is compiled the backend's way: a `tf.function` (XLA with
    `jit_compile`), `jax.jit` (always; shapes bucketed so that few are compiled), or
    PyTorch eagerly without gradients. When compiled with XLA or JAX, batches are
    padded to a multiple of 8 steps, the distinct tokens to a multiple of 64, and the
    rows to the largest batch seen so far (empty rows: a stateful model keeps their
    states).

    Args:
        model: an `elmo_keras.ELMo`.
        vocab: optional list of tokens to cache.
        cache_batch_size: tokens per char-CNN call when filling the cache.
        jit_compile: compile with XLA (TensorFlow backend; JAX always compiles).

    Example:
    ```python
    emb = Embedder(model)
    layers = emb([["The", "bank"], ["Hi"]])   # list of [L + 1, n_tokens, 2P] arrays
    ```
    """

    def __init__(self, model, vocab=None, cache_batch_size=4096, jit_compile=False):
        self.model = model
        self.jit_compile = bool(jit_compile) or keras.backend.backend() == "jax"
        self._rows = 0
        self.cache = {}
        self.table = None
        if vocab is not None:
            tokens = [BOS_TOKEN, EOS_TOKEN] + [
                t for t in dict.fromkeys(vocab) if t not in (BOS_TOKEN, EOS_TOKEN)]
            self.cache = {t: i for i, t in enumerate(tokens)}
            self.table = np.concatenate([
                ops.convert_to_numpy(model.encode_tokens(
                    self._char_ids(tokens[i:i + cache_batch_size])))
                for i in range(0, len(tokens), cache_batch_size)])
        state = model.bilm.states or ()
        self._run = kernels().compiled(self._layers, model.variables, state, jit_compile)

    def _layers(self, distinct_ids, index, table=None):
        """`[batch, L + 1, time, 2P]` from the distinct tokens' char ids `[U, C]` and
        each framed position's row `index` `[batch, time + 2]` (-1: padding) in
        `table` (the cached vectors, or None) followed by those tokens' vectors."""
        model = self.model
        vectors = model.encode_tokens(distinct_ids)
        if table is not None:
            vectors = ops.concatenate([ops.cast(table, vectors.dtype), vectors], axis=0)
        index = ops.convert_to_tensor(index)
        framed_mask = index >= 0
        tokens = ops.take(vectors, ops.maximum(index, 0), axis=0)
        tokens = tokens * ops.expand_dims(ops.cast(framed_mask, tokens.dtype), -1)
        # The unframed mask: position t is a token iff framed position t + 2 is.
        _, layers = model.contextualize(tokens, framed_mask, framed_mask[:, 2:])
        return ops.stack(layers, axis=1)

    def _char_ids(self, tokens):
        c = self.model.max_characters_per_token
        if not tokens:
            return np.zeros((0, c), np.int32)
        return np.stack([token_to_char_ids(t, c) for t in tokens])

    def __call__(self, sentences):
        """Embeds a batch of token lists: a list of `[L + 1, n_tokens, 2P]` float32 arrays."""
        if not sentences:
            return []
        steps, rows = max(len(s) for s in sentences) + 2, len(sentences)
        if self.jit_compile:  # few distinct shapes
            self._rows = rows = max(self._rows, rows)
            steps = -(-steps // STEP_BUCKET) * STEP_BUCKET
        index = np.full((rows, steps), -1, np.int32)
        distinct = {}
        offset = len(self.cache)
        for b, sentence in enumerate(sentences):
            for t, token in enumerate([BOS_TOKEN, *sentence, EOS_TOKEN]):
                row = self.cache.get(token)
                if row is None:
                    row = offset + distinct.setdefault(token, len(distinct))
                index[b, t] = row
        ids = self._char_ids(list(distinct))
        if self.jit_compile:
            ids = np.pad(ids, ((0, -len(ids) % TOKEN_BUCKET), (0, 0)))
        layers = ops.convert_to_numpy(self._run(ids, index, self.table))
        return [layers[k, :, :len(s)] for k, s in enumerate(sentences)]

    def embed_all(self, sentences, batch_size=64, sort_by_length=True):
        """Embeds any number of token lists in batches of `batch_size`.

        Yields `(index, [L + 1, n_tokens, 2P] layers)` for every sentence; with
        `sort_by_length` (less padding) the batches group sentences of similar length,
        so the indices do not come in order.
        """
        order = list(range(len(sentences)))
        if sort_by_length:
            order.sort(key=lambda i: len(sentences[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield from zip(idx, self([sentences[i] for i in idx]))
