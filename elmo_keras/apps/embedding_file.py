"""Embedding a text file into HDF5, in the layout of AllenNLP's `elmo` command.

The work is done in chunks written to `OUTPUT.parts/`, which also holds:

- `fingerprint.json`: what the chunks were made from (the input's sha256, the model's
  config and weights, every option that changes the numbers); `resume=True` continues
  only the same work and otherwise says what differs;
- `.lock`: an exclusive `flock` held while a run writes, so a second run on the same
  output fails at once; the kernel drops it when its process dies, so a killed run's
  lock never blocks `resume`.
"""

import contextlib
import hashlib
import json
import logging
import os
import stat
import sys

import h5py
import keras
import numpy as np

from elmo_keras.io.paths import (
    DISK_ERRNOS,
    DiskSpaceError,
    atomic_output,
    check_free_space,
    check_input_file,
    check_output_dir,
    check_output_file,
    disk_error_reason,
    free_bytes,
    latched_output,
)
from elmo_keras.io.text_lines import iter_lines, scan_text
from elmo_keras.models.elmo.elmo_embedder import Embedder
from elmo_keras.training.stop_signals import StopSignals

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

logger = logging.getLogger("elmo_keras")

OUTPUT_FORMATS = ("all", "top", "average")
FINGERPRINT = "fingerprint.json"
LOCK = ".lock"
_DATASET_OVERHEAD = 1024  # bytes of HDF5 metadata per dataset, generously (~370 measured)
_MARGIN = 1 << 20


class EmbeddingFileError(ValueError):
    """An embedding run cannot start or continue (lock held, resume onto other work)."""


def format_layers(layers, output_format):
    """One sentence's `[layers, tokens, dim]` array as `embed` stores it: `"all"` the
    layers as they are, `"top"` the last layer, `"average"` their mean."""
    if output_format == "all":
        return layers
    if output_format == "top":
        return layers[-1]
    return layers.mean(axis=0)


def _chunks(lines, size):
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def model_fingerprint(model):
    """sha256 of an `ELMo`'s config (but its name) and of every weight's path and value."""
    config = {k: v for k, v in model.get_config().items() if k != "name"}
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for w in model.weights:
        digest.update(w.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return digest.hexdigest()


def _differences(old, new):
    """The keys of two fingerprints that differ, said for a person."""
    said = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key.endswith("sha256") and isinstance(a, str) and isinstance(b, str):
            said.append(f"{key.replace('_sha256', '')} (was sha256 {a[:12]}..., "
                        f"now {b[:12]}...)")
        else:
            said.append(f"{key} (was {a!r}, now {b!r})")
    return said


@contextlib.contextmanager
def _exclusive(parts, output_path):
    """Holds the lock of `parts` (created if needed) for the block. A link or anything
    but a regular file at `parts/.lock` is refused, never opened through."""
    os.makedirs(parts, exist_ok=True)
    if os.path.islink(parts):  # made a link since it was checked
        raise EmbeddingFileError(f"{parts}: is a symbolic link; elmo-keras never deletes "
                                 "files through a link: remove it or choose another output")
    path = os.path.join(parts, LOCK)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise EmbeddingFileError(f"{path}: is not a regular file, so elmo-keras did not "
                                     "write it; move it away or choose another output")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK
                 | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                raise EmbeddingFileError(
                    f"{output_path}: another elmo-keras embed is writing this output "
                    f"(pid {holder}, lock {path}); wait for it to finish or choose "
                    "another output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _our_file(parts, name):
    """Whether `parts/name` may be a file of an embedding run: a regular file (not a
    link) with one of the names a run writes."""
    stem = name.split(".")[0]
    if not (name in (FINGERPRINT, LOCK) or name.endswith(".tmp")
            or (len(stem) == 8 and stem.isdigit() and name == f"{stem}.hdf5")):
        return False
    try:
        return stat.S_ISREG(os.lstat(os.path.join(parts, name)).st_mode)
    except FileNotFoundError:
        return True


def _our_fingerprint(path):
    """The fingerprint at `path`, or None if there is none a run wrote."""
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) and "format" in old else None


def _start(parts, fingerprint, resume):
    """Empties `parts` for a fresh run, or checks that it holds the same work for
    `resume`; writes the fingerprint. Deletes only files a run wrote: anything else
    there, or chunks without a run's fingerprint, is refused."""
    names = [n for n in os.listdir(parts) if n != LOCK]
    foreign = [n for n in names if not _our_file(parts, n)]
    if foreign:
        raise EmbeddingFileError(
            f"{parts}: holds files elmo-keras did not write ({', '.join(sorted(foreign)[:5])}); "
            "move them away or choose another output")
    chunks = [n for n in names if n.endswith(".hdf5")]
    path = os.path.join(parts, FINGERPRINT)
    old = _our_fingerprint(path)
    if chunks and old is None:  # a run writes its fingerprint before any chunk
        raise EmbeddingFileError(
            f"{parts}: holds chunk files ({', '.join(sorted(chunks)[:3])}) but no readable "
            f"{FINGERPRINT}, so what made them is unknown and elmo-keras neither resumes "
            "nor deletes them: move them away or choose another output")
    if resume and chunks:
        diff = _differences(old, fingerprint)
        if diff:
            raise EmbeddingFileError(
                f"{parts}: --resume refused: the finished chunks were made from other "
                f"work: {'; '.join(diff)}. Run without --resume to start over, or with "
                "the same input, model and options")
    elif chunks:
        logger.warning("%s: starting over, deleting %d finished chunk(s) of an earlier run "
                       "(--resume keeps them)", parts, len(chunks))
    for name in sorted(names, key=lambda n: n == FINGERPRINT):  # the fingerprint last
        if not (resume and chunks) or name.endswith(".tmp"):
            os.remove(os.path.join(parts, name))
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(fingerprint, f, indent=1, sort_keys=True)


def _chunk_bytes(lines, layers_per_token):
    tokens = sum(len(line.split()) for line in lines)
    return tokens * layers_per_token * 4 + len(lines) * _DATASET_OVERHEAD + _MARGIN


def embed_file(model, input_path, output_path, batch_size=64, stateful=False,
               output_format="all", progress=True, resume=False, chunk_lines=10_000,
               vocab=None, jit_compile=False):
    """Embeds every line of `input_path` (tokens separated by whitespace) into HDF5.

    One dataset per line, named by the line's 0-based index: `[L + 1, n_tokens, 2P]`
    for `output_format="all"`, `[n_tokens, 2P]` for `"top"` (last layer) and
    `"average"` (mean of all layers); plus `sentence_to_index`, a JSON string mapping
    each line's text to its index. An empty line keeps its index and gets an empty
    dataset. Lines end at `\\n` only (see `elmo_keras.io.text_lines`); the whole input
    is checked to be UTF-8 before any work.

    The input is read `chunk_lines` lines at a time (it never has to fit in memory);
    each finished chunk is written to its own file in `OUTPUT.parts/`, and the parts are
    merged into `output_path` at the end (part by part, deleting each once copied, when
    the disk has no room for both). An interrupted run continues with `resume=True`:
    finished chunks are not embedded again, provided the input, the model and the
    options are the same (otherwise `EmbeddingFileError` says what differs). A second
    run on the same output while one is writing fails at once. A full disk, also while
    HDF5 writes, ends the run with a `DiskSpaceError` and keeps the finished chunks.
    What is worth saying but not an error (a byte order mark dropped, empty lines kept,
    chunks of an earlier run deleted, a merge chunk by chunk) goes to the
    `logging.getLogger("elmo_keras")` logger (the command line shows it as `note:`
    lines); nothing is printed but the progress bar (`progress`).

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

    Raises:
        FileNotFoundError: no input file.
        elmo_keras.io.paths.InputFileError: the input is a directory or a special file.
        elmo_keras.io.text_lines.TextFileError: the input is not UTF-8 (line named).
        elmo_keras.io.paths.PathConflictError: the output is the input, a directory or
            a special file (device, FIFO, socket), or cannot be written; `OUTPUT.parts`
            is a symbolic link or holds files a run did not write.
        EmbeddingFileError: another run holds the output, or `resume` onto other work.
        elmo_keras.io.paths.DiskSpaceError: not enough space, found before a chunk or
            the merge, or while writing one (no space, a quota, a read-only file
            system); the finished chunks are kept. An `OSError` (`errno` set) as well.
        OSError: another write error (naming the file).

    Example:
    ```python
    embed_file(elmo_keras.ELMo.from_preset("elmo_small_en"), "in.txt", "out.hdf5")
    ```
    """
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
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    check_input_file(input_path)
    parts = output_path + ".parts"
    check_output_file(output_path, [input_path])
    check_output_dir(parts, [input_path], what="parts directory (OUTPUT.parts)",
                     deletes_in=True)
    scan = scan_text(input_path)
    if scan.bom:
        logger.info("%s: a UTF-8 byte order mark at the start was dropped", input_path)
    if stateful:  # batches must not straddle chunks: the states follow the rows
        chunk_lines = -(-chunk_lines // batch_size) * batch_size
    vocab = None if vocab is None else list(vocab)
    fingerprint = {
        "format": 1,
        "input_sha256": scan.sha256,
        "input_lines": scan.n_lines,
        "model_sha256": model_fingerprint(model),
        "output_format": output_format,
        "batch_size": int(batch_size),
        "chunk_lines": int(chunk_lines),
        "stateful": bool(stateful),
        "jit_compile": bool(jit_compile),
        "vocab_cache_sha256": None if vocab is None else hashlib.sha256(
            "\n".join(vocab).encode("utf-8", "surrogatepass")).hexdigest(),
    }
    layer_floats = model.projection_dim * 2 * (
        model.n_layers + 1 if output_format == "all" else 1)
    embedder = Embedder(model, vocab=vocab, jit_compile=jit_compile)
    index, empty, names = {}, [], []
    stop = StopSignals()
    with stop.installed(), _exclusive(parts, output_path):
        _start(parts, fingerprint, resume)
        with tqdm(total=scan.n_lines, unit="sent", disable=not progress, file=sys.stderr,
                  desc="embedding") as bar:
            for k, chunk in enumerate(_chunks(iter_lines(input_path), chunk_lines)):
                first = k * chunk_lines
                for i, line in enumerate(chunk, first):
                    index.setdefault(line, str(i))
                    if not line.split():
                        empty.append(i)
                name = os.path.join(parts, f"{k:08d}.hdf5")
                names.append(name)
                if not os.path.exists(name):
                    check_free_space(parts, _chunk_bytes(chunk, layer_floats),
                                     f"write chunk {k} (lines {first}-{first + len(chunk) - 1})",
                                     _KEPT)
                    _write(_embed_chunk, name, embedder, chunk, first, batch_size, stateful,
                           output_format, stop)
                bar.update(len(chunk))
                _stop_point(stop)
        if scan_text(input_path).sha256 != scan.sha256:
            raise EmbeddingFileError(f"{input_path}: the input changed while it was being "
                                     "embedded; run again")
        _merge(names, index, output_path, stop)
        for name in names + [os.path.join(parts, FINGERPRINT)]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)
        with contextlib.suppress(OSError):
            os.remove(os.path.join(parts, LOCK))
    with contextlib.suppress(OSError):
        os.rmdir(parts)
    if empty:
        logger.info("%d empty line(s) kept as empty datasets: %s%s", len(empty),
                    ", ".join(map(str, empty[:10])), " ..." if len(empty) > 10 else "")
    return empty


_KEPT = "; the finished chunks are kept: free some space, then rerun with --resume"


def _write(function, path, *args):
    """Runs `function(*args, tmp)` writing `path` whole through a temporary file, removed
    if it fails or is stopped; a disk error becomes one `DiskSpaceError` naming the path."""
    tmp = path + ".tmp"
    try:
        function(*args, tmp)
        os.replace(tmp, path)
    except BaseException as e:  # a stop (Ctrl-C) too: no torn temporary file is left
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if not isinstance(e, OSError):
            raise
        reason = disk_error_reason(e)
        if reason is None:
            raise
        raise DiskSpaceError(f"{path}: {reason} while writing it{_KEPT}",
                             _errno(e, reason)) from None


def _errno(error, reason):
    """The errno of a disk error whose `reason` `disk_error_reason` gave."""
    codes = {said: code for code, said in DISK_ERRNOS.items()}
    return getattr(error, "errno", None) or codes[reason]


def _stop_point(stop):
    """Stops the run here on Ctrl-C or SIGTERM (`StopSignals` makes them a flag): at a
    point between two pieces of work, never inside a library call, where a
    KeyboardInterrupt can come out as another error (NumPy turns one raised during a
    structured-array comparison into a TypeError) or leave a file half written."""
    if stop.requested:
        raise KeyboardInterrupt(stop.requested)


def _merge(names, index, output_path, stop):
    """Copies the datasets of every part into `output_path`, through a temporary file.
    If the disk cannot hold both the parts and the merged file, each part is deleted
    once copied (an interrupted merge then re-embeds those chunks on `--resume`)."""
    index_json = json.dumps(index)
    sizes = [os.path.getsize(n) for n in names]
    needed = sum(sizes) + len(index_json.encode()) + _MARGIN
    folder = os.path.dirname(os.path.abspath(output_path))
    piecewise = free_bytes(folder) < needed
    if piecewise:
        check_free_space(folder, max(sizes, default=0) + len(index_json.encode()) + _MARGIN,
                         f"merge the chunks into {output_path}", _KEPT)
        logger.info("%s: too little space to hold both the chunks and %s; merging chunk by "
                    "chunk, deleting each once copied", folder, output_path)
    try:
        with atomic_output(output_path) as tmp, latched_output(tmp) as file:
            with h5py.File(file, "w") as out:
                for name in names:
                    with h5py.File(name, "r") as part:
                        for key in part:
                            part.copy(part[key], out, name=key)
                    file.check()
                    _stop_point(stop)
                    if piecewise:
                        out.flush()  # on disk before the part goes
                        file.check()
                        os.remove(name)
                out.create_dataset("sentence_to_index", data=np.array([index_json], dtype=object),
                                   dtype=h5py.string_dtype())
    except OSError as e:
        reason = disk_error_reason(e)
        if reason is None:
            raise
        kept = ("; the chunks not yet merged are kept: free some space, then rerun with "
                "--resume (it embeds the merged ones again)") if piecewise else _KEPT
        raise DiskSpaceError(f"{output_path}: {reason} while merging the chunks (needs "
                             f"about {needed / 1e6:,.1f} MB){kept}", _errno(e, reason)) from None


def _embed_chunk(embedder, lines, first, batch_size, stateful, output_format, stop, path):
    """Embeds one chunk into the HDF5 file `path`, written through a `LatchedFile`: a
    full disk stops the chunk with an `OSError`, and HDF5 never sees a failed write;
    Ctrl-C (`stop`) between two sentences."""
    sentences = [line.split() for line in lines]
    with latched_output(path) as file, h5py.File(file, "w") as out:
        for i, layers in embedder.embed_all(sentences, batch_size,
                                            sort_by_length=not stateful):
            out.create_dataset(str(first + i), data=format_layers(layers, output_format))
            file.check()
            _stop_point(stop)
