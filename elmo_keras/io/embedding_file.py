"""Embedding a text file into HDF5, in the layout of AllenNLP's `elmo` command."""

import json
import sys

import h5py
import numpy as np

from elmo_keras.models.elmo.elmo_embedder import Embedder

OUTPUT_FORMATS = ("all", "top", "average")


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
