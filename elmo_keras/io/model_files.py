"""The one safe way model files are opened: regular files only, JSON size-capped, weights
bounded and finite.

A model directory comes from anywhere (a download, a shared disk, a hostile tester), so
every reader of a model file goes through here:

- `regular_file(path, error, what)`: the path names a regular file (through symlinks).
  A FIFO would block `open` forever; a character device such as `/dev/zero` reads
  forever. Checked before anything opens the file.
- `read_json(path, error, what)`: a JSON object from a regular file of at most
  `MAX_JSON_BYTES`, opened without blocking and checked again on the open descriptor
  (so a file swapped for a FIFO after the check cannot hang it either).
- `check_hdf5_sizes(path, max_values, error, what)`: an HDF5 file's datasets hold no
  more values than the model it should fill (a small compressed file cannot unpack
  into more memory than the model needs).
- `check_archive_sizes(path, max_bytes, error, what)`: the same for a zip archive
  (`.keras`), by the sizes its members declare; `check_archive_hdf5_sizes` for the
  HDF5 weights inside it.
- `check_finite_weights(weights, error, what)`: no NaN or infinity in loaded weights.

Each takes the exception class to raise (`PresetError` for presets, `OptionsError`
for options.json, `WeightFileError` for weight files), so the caller's error type stays
the one its users catch; every message is one line naming the file and the problem.
"""

import json
import os
import stat
import zipfile

import numpy as np

from elmo_keras.io.paths import check_input_file, file_kind

#: The most bytes a JSON model file (config.json, options.json, tokenizer.json,
#: metadata.json, an export's assets/elmo_config.json) may hold; the real ones hold
#: about 1-2 KB.
MAX_JSON_BYTES = 1 << 20


class PresetError(ValueError):
    """A preset value that names no model this package can load, or a model file
    (a preset's config or weights, a `.keras` file, an export's config) that cannot be
    loaded safely. `elmo_keras.PresetError`."""


def regular_file(path, error=ValueError, what="model file"):
    """Checks that `path` (symlinks followed) is an existing regular file.

    Args:
        path: the file.
        error: the exception class to raise.
        what: how the message names the file (`"options file"`, ...).

    Returns:
        `path` as a `str`.

    Raises:
        error: `{path}: {what} does not exist`, or `{path}: {what} is a FIFO (named
            pipe), not a regular file` (a device, a directory, a socket likewise).
    """
    return check_input_file(path, what, error)  # the one check of every input


def read_bytes(path, limit, error=ValueError, what="model file"):
    """The bytes of a regular file of at most `limit` bytes.

    The file is opened with `O_NONBLOCK` (a FIFO cannot block the open) and checked on
    the open descriptor: regular, and not larger than `limit`. At most `limit` bytes
    are read, whatever the file does meanwhile.

    Raises:
        error: the file is missing, not a regular file, or larger than `limit`.
    """
    path = regular_file(path, error, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise error(f"{path}: {what} cannot be opened ({e.strerror or e})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: {what} is {file_kind(info.st_mode)}, not a regular file; "
                        "refusing to read it")
        if info.st_size > limit:
            raise error(f"{path}: {what} holds {info.st_size} bytes, above the bound of "
                        f"{limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{path}: {what} holds more than {limit} bytes, above the bound")
    return data


def parse_json_object(data, path, error=ValueError, what="JSON file"):
    """`data` (bytes) parsed as a JSON object, with errors that name `path`."""
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise error(f"{path}: {what} is not UTF-8 text ({e.reason} at byte {e.start})") \
            from None
    except (ValueError, RecursionError) as e:
        message = str(e) if isinstance(e, ValueError) else "nested too deeply"
        raise error(f"{path}: not a valid JSON {what} ({message})") from None
    if not isinstance(value, dict):
        raise error(f"{path}: {what} must hold a JSON object, found "
                    f"{type(value).__name__}")
    return value


def read_json(path, error=ValueError, what="JSON file", limit=MAX_JSON_BYTES):
    """The JSON object of a regular file of at most `limit` bytes (`read_bytes`).

    Args:
        path: the file.
        error: the exception class to raise.
        what: how the message names the file.
        limit: the most bytes the file may hold (1 MiB).

    Returns:
        The parsed `dict`.

    Raises:
        error: the file is missing, not a regular file, too large, not UTF-8, not JSON,
            or not a JSON object; the message names the file.
    """
    return parse_json_object(read_bytes(path, limit, error, what), os.fspath(path), error,
                             what)


def check_hdf5_sizes(path, max_values, error=ValueError, what="weight file"):
    """Checks that the datasets of the HDF5 file `path` hold at most `max_values` values
    in all, from their shapes alone (nothing is read).

    Raises:
        error: the file is not a regular file or not HDF5, or holds too many values (the
            message names the largest dataset).
    """
    path = regular_file(path, error, what)
    _check_hdf5_sizes(path, path, max_values, error, what)


def _check_hdf5_sizes(source, name, max_values, error, what):
    """`check_hdf5_sizes` on `source`, a path or a seekable binary file (`name` for the
    message)."""
    import h5py

    sizes = {}
    try:
        with h5py.File(source, "r") as f:
            f.visititems(lambda key, obj: sizes.__setitem__(key, int(obj.size))
                         if isinstance(obj, h5py.Dataset) else None)
    except (OSError, ValueError) as e:
        raise error(f"{name}: {what} is not a readable HDF5 file ({e})") from None
    total = sum(sizes.values())
    if total > max_values:
        largest = max(sizes, key=sizes.get)
        raise error(f"{name}: {what} holds {total} values (dataset '{largest}' alone "
                    f"{sizes[largest]}), above the bound of {max_values} for this model")


def check_archive_hdf5_sizes(path, member, max_values, error=ValueError,
                             what="model archive"):
    """`check_hdf5_sizes` on the HDF5 file `member` of the zip archive `path` (a
    `.keras` file's `model.weights.h5`), read in place; nothing when it has none."""
    path = regular_file(path, error, what)
    try:
        with zipfile.ZipFile(path) as z:
            if member not in z.namelist():
                return
            with z.open(member) as f:
                _check_hdf5_sizes(f, f"{path}/{member}", max_values, error, what)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as e:
        raise error(f"{path}: {what} is not a readable zip archive ({e})") from None


def check_archive_sizes(path, max_bytes, error=ValueError, what="model archive",
                        json_limit=MAX_JSON_BYTES):
    """Checks the sizes the members of the zip archive `path` declare (what reading
    them may unpack): each `.json` member at most `json_limit` bytes, all members
    together at most `max_bytes`.

    Raises:
        error: not a regular file, not a zip archive, or a member too large.
    """
    path = regular_file(path, error, what)
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise error(f"{path}: {what} is not a zip archive ({e})") from None
    for m in members:
        if m.filename.endswith(".json") and m.file_size > json_limit:
            raise error(f"{path}: {what} member '{m.filename}' holds {m.file_size} bytes, "
                        f"above the bound of {json_limit} bytes")
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise error(f"{path}: {what} unpacks to {total} bytes, above the bound of "
                    f"{max_bytes} bytes for this model")


def read_archive_json(path, member, error=ValueError, what="model archive",
                      limit=MAX_JSON_BYTES):
    """The JSON object of `member` inside the zip archive `path`, of at most `limit`
    bytes; None when the archive has no such member."""
    path = regular_file(path, error, what)
    try:
        with zipfile.ZipFile(path) as z:
            try:
                info = z.getinfo(member)
            except KeyError:
                return None
            if info.file_size > limit:
                raise error(f"{path}: {what} member '{member}' holds {info.file_size} "
                            f"bytes, above the bound of {limit} bytes")
            with z.open(info) as f:
                data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as e:
        raise error(f"{path}: {what} is not a readable zip archive ({e})") from None
    return parse_json_object(data, f"{path}/{member}", error, f"'{member}'")


def check_finite_weights(weights, error=ValueError, what="model file"):
    """Refuses NaN or infinite values among loaded weights.

    Args:
        weights: pairs `(name, array-like)` or Keras variables (named by their path).
        error: the exception class to raise.
        what: the file they came from, for the message (None: left out).

    Raises:
        error: `{what}: weight '{name}' holds N NaN or infinite value(s)`.
    """
    import keras

    for w in weights:
        name, value = w if isinstance(w, tuple) else (w.path, w)
        array = np.asarray(keras.ops.convert_to_numpy(value))
        if array.dtype.kind in "biuOSU":  # integers hold no NaN
            continue
        if array.dtype.kind not in "fc":  # bfloat16 and other extension floats
            array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            count = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            where = f"{what}: " if what else ""
            raise error(f"{where}weight '{name}' holds {count} NaN or infinite value(s); "
                        "refusing a model that would give NaN embeddings")
