"""`Embedder`: runs an `ELMo` on batches of tokenized sentences, traced once."""

import numpy as np

from elmo_keras.layers.distinct_tokens import encode_distinct
from elmo_keras.layers.sentence_boundaries import token_mask
from elmo_keras.text.char_ids import batch_to_ids


class Embedder:
    """Runs an `ELMo` model on batches of tokenized sentences, traced once.

    The char CNN runs once per distinct token of a batch (real text repeats many), never
    on padding. With `vocab`, the char-CNN vectors of those tokens (and of `<S>`, `</S>`)
    are computed once and looked up (AllenNLP's `vocab_to_cache`); the char CNN runs only
    for the tokens of a batch that are not in the cache. Results are the same.

    With `jit_compile`, the model is compiled with XLA; batches are padded to a multiple
    of 8 tokens and to the largest batch seen so far, so that few shapes are compiled.

    Args:
        model: an `elmo_keras.ELMo`.
        vocab: optional list of tokens to cache.
        cache_batch_size: tokens per char-CNN call when filling the cache.
        jit_compile: compile with XLA (not with `vocab`).

    Example:
    ```python
    emb = Embedder(model)
    layers = emb([["The", "bank"], ["Hi"]])   # list of [L + 1, n_tokens, 2P] arrays
    ```
    """

    def __init__(self, model, vocab=None, cache_batch_size=4096, jit_compile=False):
        import tensorflow as tf

        self.model = model
        c = model.max_characters_per_token
        spec = tf.TensorSpec([None, None, c], tf.int32)
        self.cache = None
        self.jit_compile = bool(jit_compile)
        if self.jit_compile and vocab is not None:
            raise ValueError("jit_compile and a token cache (vocab) do not combine")
        if self.jit_compile and model.stateful:
            raise ValueError("jit_compile pads batches with rows; a stateful model "
                             "would carry their states")
        self._rows = 0
        table = None
        if vocab is not None:
            tokens = ["<S>", "</S>"] + [t for t in dict.fromkeys(vocab) if t not in ("<S>", "</S>")]
            self.cache = {t: i for i, t in enumerate(tokens)}
            ids = batch_to_ids([[t] for t in tokens], c)
            table = tf.constant(np.concatenate([
                np.asarray(model.char_encoder(ids[i:i + cache_batch_size]))[:, 0]
                for i in range(0, len(tokens), cache_batch_size)]))

        def layers_of(ids, rows=None):
            """The char CNN once per distinct token that is not cached (`rows`: the cache
            row of each framed position, -1 where not cached), never on padding."""
            framed = model.sentence_boundaries(ids)
            framed_mask = token_mask(framed)
            missing = framed_mask if rows is None else tf.logical_and(rows < 0, framed_mask)
            where = tf.where(missing)
            computed = encode_distinct(model.char_encoder, tf.gather_nd(framed, where))
            if rows is None:
                shape = tf.concat([tf.shape(framed, tf.int64)[:2], [model.projection_dim]], 0)
                vectors = tf.scatter_nd(where, computed, shape)
            else:
                vectors = tf.tensor_scatter_nd_update(
                    tf.gather(table, tf.maximum(rows, 0)), where, computed)
                vectors *= tf.cast(framed_mask, vectors.dtype)[..., None]
            _, layers = model.contextualize(vectors, framed_mask, token_mask(ids))
            return tf.stack(layers, axis=1)

        if self.jit_compile:
            @tf.function(input_signature=[spec], jit_compile=True)
            def run(ids):
                return model(ids, training=False)["lm_embeddings"]
        elif table is None:
            run = tf.function(layers_of, input_signature=[spec])
        else:
            run = tf.function(layers_of, input_signature=[
                spec, tf.TensorSpec([None, None], tf.int32)])

        self._run = run

    def __call__(self, sentences):
        """Embeds a batch of token lists: a list of `[L + 1, n_tokens, 2P]` float32 arrays."""
        if not sentences:
            return []
        ids = batch_to_ids(sentences, self.model.max_characters_per_token)
        if self.jit_compile:  # few distinct shapes: pad rows and steps (empty rows)
            self._rows = max(self._rows, ids.shape[0])
            steps = -(-ids.shape[1] // 8) * 8
            ids = np.pad(ids, ((0, self._rows - ids.shape[0]), (0, steps - ids.shape[1]),
                               (0, 0)))
        if self.cache is None:
            layers = self._run(ids)
        else:
            rows = np.full((len(sentences), ids.shape[1] + 2), -1, np.int32)
            for k, s in enumerate(sentences):
                rows[k, 0] = 0  # <S>
                rows[k, 1:len(s) + 1] = [self.cache.get(t, -1) for t in s]
                rows[k, len(s) + 1] = 1  # </S>
            layers = self._run(ids, rows)
        layers = np.asarray(layers)
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
