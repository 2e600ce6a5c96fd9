"""Embedding a text file into HDF5, in the layout of AllenNLP's `elmo` command."""

import json
import sys

import h5py
import numpy as np

from elmo_keras.chars import batch_to_ids
from elmo_keras.distinct_tokens import encode_distinct
from elmo_keras.layers.sentence_boundaries import token_mask

OUTPUT_FORMATS = ("all", "top", "average")


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


def _format(layers, output_format):
    if output_format == "all":
        return layers
    if output_format == "top":
        return layers[-1]
    return layers.mean(axis=0)


def _read_lines(input_path):
    try:
        with open(input_path, encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n")
    except UnicodeDecodeError as e:
        raise ValueError(f"{input_path}: not UTF-8 text ({e})") from None


def _chunks(lines, size):
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def embed_file(model, input_path, output_path, batch_size=64, stateful=False,
               output_format="all", progress=True, resume=False, chunk_lines=10_000,
               vocab=None, jit_compile=False):
    """Embeds every line of `input_path` (tokens separated by whitespace) into HDF5.

    One dataset per line, named by the line's 0-based index: `[L + 1, n_tokens, 2P]`
    for `output_format="all"`, `[n_tokens, 2P]` for `"top"` (last layer) and
    `"average"` (mean of all layers); plus `sentence_to_index`, a JSON string mapping
    each line's text to its index. An empty line keeps its index and gets an empty
    dataset.

    The input is read `chunk_lines` lines at a time (it never has to fit in memory);
    each finished chunk is written to its own file in `OUTPUT.parts/`, and the parts are
    merged into `output_path` at the end. An interrupted run continues with
    `resume=True`: finished chunks are not embedded again.

    Args:
        model: an `ELMo`; if `stateful`, it must have been built with `stateful=True`.
        batch_size: sentences per batch.
        stateful: batch in file order and carry LSTM states row by row from batch to
            batch (bilm-tf's protocol; no resuming). Otherwise batches group sentences
            of similar length within each chunk (results do not depend on batching).
        output_format: "all", "top" or "average".
        progress: show a progress bar on stderr.
        resume: keep the finished chunks of an earlier, interrupted run.
        chunk_lines: lines per chunk.
        vocab: optional tokens whose char-CNN vectors are cached (see `Embedder`).
        jit_compile: compile the model with XLA (see `Embedder`).

    Returns:
        The indices of empty lines.
    """
    import os
    import shutil

    from tqdm import tqdm

    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    if batch_size < 1 or chunk_lines < 1:
        raise ValueError(f"batch_size and chunk_lines must be >= 1, got {batch_size}, "
                         f"{chunk_lines}")
    if stateful and not model.stateful:
        raise ValueError("stateful embedding needs a model built with stateful=True")
    if stateful and resume:
        raise ValueError("a stateful run cannot resume: its states depend on every "
                         "earlier batch")
    if not os.path.isfile(input_path):
        raise FileNotFoundError(f"{input_path}: input file does not exist")
    if stateful:  # batches must not straddle chunks: the states follow the rows
        chunk_lines = -(-chunk_lines // batch_size) * batch_size
    output_path = os.fspath(output_path)
    parts = output_path + ".parts"
    if not resume and os.path.isdir(parts):
        shutil.rmtree(parts)
    os.makedirs(parts, exist_ok=True)
    with open(input_path, "rb") as f:
        total = sum(1 for _ in f)
    embedder = Embedder(model, vocab=vocab, jit_compile=jit_compile)
    index, empty, names = {}, [], []
    with tqdm(total=total, unit="sent", disable=not progress, file=sys.stderr,
              desc="embedding") as bar:
        for k, chunk in enumerate(_chunks(_read_lines(input_path), chunk_lines)):
            first = k * chunk_lines
            for i, line in enumerate(chunk, first):
                index.setdefault(line, str(i))
                if not line.split():
                    empty.append(i)
            name = os.path.join(parts, f"{k:08d}.hdf5")
            names.append(name)
            if not os.path.exists(name):
                _embed_chunk(embedder, chunk, first, name, batch_size, stateful,
                             output_format)
            bar.update(len(chunk))
    tmp = output_path + ".tmp"
    with h5py.File(tmp, "w") as out:
        for name in names:
            with h5py.File(name, "r") as part:
                for key in part:
                    part.copy(part[key], out, name=key)
        out.create_dataset("sentence_to_index", data=np.array([json.dumps(index)], dtype=object),
                           dtype=h5py.string_dtype())
    os.replace(tmp, output_path)
    shutil.rmtree(parts)
    if empty:
        print(f"note: {len(empty)} empty line(s) kept as empty datasets: "
              f"{', '.join(map(str, empty[:10]))}{' ...' if len(empty) > 10 else ''}",
              file=sys.stderr)
    return empty


def _embed_chunk(embedder, lines, first, path, batch_size, stateful, output_format):
    """Embeds one chunk into its own HDF5 file, written whole then renamed."""
    import os

    sentences = [line.split() for line in lines]
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as out:
        for i, layers in embedder.embed_all(sentences, batch_size,
                                            sort_by_length=not stateful):
            out.create_dataset(str(first + i), data=_format(layers, output_format))
    os.replace(tmp, path)
