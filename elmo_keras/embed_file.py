"""Embedding a text file into HDF5, in the layout of AllenNLP's `elmo` command."""

import json
import sys

import h5py
import numpy as np

from elmo_keras.chars import batch_to_ids

OUTPUT_FORMATS = ("all", "top", "average")


class Embedder:
    """Runs an `ELMo` model on batches of tokenized sentences, traced once.

    Args:
        model: an `elmo_keras.ELMo`.

    Example:
    ```python
    emb = Embedder(model)
    layers = emb([["The", "bank"], ["Hi"]])   # list of [L + 1, n_tokens, 2P] arrays
    ```
    """

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        spec = tf.TensorSpec([None, None, model.max_characters_per_token], tf.int32)

        @tf.function(input_signature=[spec])
        def run(ids):
            out = model(ids, training=False)
            return out["lm_embeddings"]

        self._run = run

    def __call__(self, sentences):
        """Embeds a batch of token lists: a list of `[L + 1, n_tokens, 2P]` float32 arrays."""
        if not sentences:
            return []
        layers = self._run(batch_to_ids(sentences, self.model.max_characters_per_token))
        layers = np.asarray(layers)
        return [layers[k, :, :len(s)] for k, s in enumerate(sentences)]


def _format(layers, output_format):
    if output_format == "all":
        return layers
    if output_format == "top":
        return layers[-1]
    return layers.mean(axis=0)


def embed_file(model, input_path, output_path, batch_size=64, stateful=False,
               output_format="all", progress=True):
    """Embeds every line of `input_path` (tokens separated by whitespace) into HDF5.

    One dataset per line, named by the line's 0-based index: `[L + 1, n_tokens, 2P]`
    for `output_format="all"`, `[n_tokens, 2P]` for `"top"` (last layer) and
    `"average"` (mean of all layers); plus `sentence_to_index`, a JSON string mapping
    each line's text to its index. An empty line keeps its index and gets an empty
    dataset.

    Args:
        model: an `ELMo`; if `stateful`, it must have been built with `stateful=True`.
        batch_size: sentences per batch.
        stateful: batch in file order and carry LSTM states row by row from batch to
            batch (bilm-tf's protocol). Otherwise batches group sentences of similar
            length (results do not depend on batching).
        output_format: "all", "top" or "average".
        progress: show a progress bar on stderr.

    Returns:
        The indices of empty lines.
    """
    from tqdm import tqdm

    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if stateful and not model.stateful:
        raise ValueError("stateful embedding needs a model built with stateful=True")
    try:
        with open(input_path, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        raise FileNotFoundError(f"{input_path}: input file does not exist") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{input_path}: not UTF-8 text ({e})") from None
    sentences = [line.split() for line in lines]
    empty = [i for i, s in enumerate(sentences) if not s]
    order = list(range(len(sentences)))
    if not stateful:
        order.sort(key=lambda i: len(sentences[i]))
    embedder = Embedder(model)
    with h5py.File(output_path, "w") as out, tqdm(
        total=len(sentences), unit="sent", disable=not progress, file=sys.stderr,
        desc="embedding",
    ) as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = [sentences[i] for i in idx]
            results = embedder(batch)
            for i, layers in zip(idx, results):
                out.create_dataset(str(i), data=_format(layers, output_format))
            bar.update(len(idx))
        index = {}
        for i, line in enumerate(lines):
            index.setdefault(line, str(i))
        out.create_dataset("sentence_to_index", data=np.array([json.dumps(index)], dtype=object),
                           dtype=h5py.string_dtype())
    if empty:
        print(f"note: {len(empty)} empty line(s) kept as empty datasets: "
              f"{', '.join(map(str, empty[:10]))}{' ...' if len(empty) > 10 else ''}",
              file=sys.stderr)
    return empty
