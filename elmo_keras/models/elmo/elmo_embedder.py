"""`Embedder`: runs an `ELMo` on batches of tokenized sentences, compiled once."""

import keras
import numpy as np
from keras import ops

from elmo_keras.layers.kernels import STEP_BUCKET, kernels
from elmo_keras.layers.sentence_boundaries import token_mask
from elmo_keras.text.char_ids import batch_to_ids, bos_char_ids, eos_char_ids
from elmo_keras.text.inputs import distinct_rows, distinct_tokens, token_rows


class Embedder:
    """Runs an `ELMo` model on batches of tokenized sentences, on any Keras backend.

    A batch becomes character ids the one way (`batch_to_ids`); its distinct tokens are
    found in NumPy before the model runs (`elmo_keras.text.inputs.distinct_rows`), so
    the char CNN (`CharacterEncoder.encode_rows`) runs once per distinct token, never on
    padding, also where a compiled function could not find them (JAX), and the biLM
    runs on the distinct vectors (`ELMo.contextualize_rows`: framed with `<S>`/`</S>`
    as the model frames its ids, its first layer's input gates once per distinct
    token on every backend). With `vocab`, the char-CNN vectors of those tokens (and of
    `<S>`, `</S>`) are computed once and looked up (AllenNLP's `vocab_to_cache`); the
    char CNN runs only for the batch's other tokens. Results are the same either way.

    The function is compiled the backend's way: a `tf.function` (XLA with
    `jit_compile`) traced once, at the first call, for batches of any shape; `jax.jit`
    (always; shapes bucketed so that few are compiled); or PyTorch eagerly without
    gradients. When compiled with XLA or JAX, batches are
    padded to a multiple of 4 steps (counting `<S>` and `</S>`), the distinct tokens
    to a multiple of 64 (fewer: a power of two from 8: `token_rows`) and cut after
    their characters to a multiple of 8 (`distinct_tokens`), and the rows to the
    largest batch seen so far (empty rows: a stateful model keeps their states).

    Args:
        model: an `elmo_keras.ELMo`.
        vocab: optional list of tokens to cache.
        cache_batch_size: tokens per char-CNN call when filling the cache.
        jit_compile: compile with XLA (TensorFlow backend; JAX always compiles). On a
            CPU, XLA ran the original model's batch at 0.5-0.7x the rate of the
            plain `tf.function` (`benchmarks/inference.py`'s `Embedder + XLA` row).

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
        self.table = None  # no cache: `<S>`, `</S>` go through the char CNN with the batch
        if vocab is not None:
            c = model.max_characters_per_token
            # `<S>` and `</S>` are rows 0 and 1 of the cache, then the vocabulary.
            self._known = {}
            for row in [bos_char_ids(c), eos_char_ids(c)] + list(
                    batch_to_ids([list(dict.fromkeys(vocab))], c)[0]):
                self._known.setdefault(row.tobytes(), len(self._known))
            known = np.stack([np.frombuffer(row, np.int32) for row in self._known])
            # a backend tensor: not copied in again at each call
            self.table = ops.convert_to_tensor(np.concatenate([
                ops.convert_to_numpy(model.char_encoder.encode_rows(
                    known[i:i + cache_batch_size]))
                for i in range(0, len(known), cache_batch_size)]))
        state = model.bilm.states or ()
        c = model.max_characters_per_token
        # What varies: ids' rows and steps, the new tokens and their characters' width
        # (cut: `distinct_tokens`), slots; the cache does not, the cached rows used do.
        shapes = ([None, None, c], [None, None], [None, None]) + (
            (None, None) if self.table is None else (tuple(self.table.shape), [None]))
        self._run = kernels().compiled(self._layers, model.variables, state, jit_compile,
                                       layers=[model], shapes=shapes)

    def _layers(self, ids, distinct_ids, slots, table=None, used=None):
        """`[batch, L + 1, time, 2P]` from the batch's char ids `[batch, time, C]`, its
        new distinct tokens' ids `[N, C]`, and each position's number `slots` `[batch,
        time]` among the batch's distinct tokens: without a cache (`table` None) the
        new tokens themselves (`<S>` and `</S>` first: `distinct_tokens`), with one the
        tokens `used` `[U]` (indices into `table`, the cached vectors, followed by the
        new tokens' vectors; `<S>` and `</S>` first)."""
        model = self.model
        vectors = model.char_encoder.encode_rows(distinct_ids)
        if table is None:
            rows = vectors
        else:  # two lookups, not a copy of the whole table joined to the new vectors
            known = ops.cast(table, vectors.dtype)
            n = ops.shape(known)[0]
            rows = ops.where(ops.expand_dims(used < n, -1),
                             ops.take(known, ops.minimum(used, n - 1), axis=0),
                             ops.take(vectors, ops.maximum(used - n, 0), axis=0))
        _, layers = model.contextualize_rows(rows, slots, token_mask(ids))
        return ops.stack(layers, axis=1)

    def __call__(self, sentences):
        """Embeds a batch of token lists: a list of `[L + 1, n_tokens, 2P]` float32 arrays."""
        if not sentences:
            return []
        ids = batch_to_ids(sentences, self.model.max_characters_per_token)
        if self.jit_compile:  # few distinct shapes
            self._rows = max(self._rows, len(ids))
            # The biLM runs `<S>`, the steps and `</S>`: that count is the multiple.
            ids = np.pad(ids, ((0, self._rows - len(ids)),
                               (0, -(ids.shape[1] + 2) % STEP_BUCKET), (0, 0)))
        if self.table is None:
            new, slots = distinct_tokens(ids, self.jit_compile)
            used = None
        else:
            new, index = distinct_rows(ids, self._known)
            # At least one row (`_layers` looks up in it, every token cached or not).
            new = np.pad(new, ((0, token_rows(len(new), self.jit_compile) - len(new)),
                               (0, 0)))
            # The batch's distinct tokens, `<S>` and `</S>` (cached rows 0 and 1) first;
            # a padded position's index 0 is hidden by the mask.
            used = np.union1d(index, [0, 1])
            slots = np.searchsorted(used, index).astype(np.int32)
            used = np.pad(used, (0, token_rows(len(used), self.jit_compile) - len(used)))
            used = used.astype(np.int32)
        layers = ops.convert_to_numpy(  # float32 also from a bfloat16 model (HDF5)
            ops.cast(self._run(ids, new, slots, self.table, used), "float32"))
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
