"""Output paths checked before anything is written, written atomically, and disk errors
turned into one clear message.

An output never aliases an input: `check_output_file` and `check_output_dir` compare
files by device and inode (`os.path.samefile`), so a symlink or a hard link to an input
is caught as well as the same name.
"""

import contextlib
import errno
import os
import re
import shutil
import tempfile

DISK_ERRNOS = {errno.ENOSPC: "no space left on the device",
               errno.EROFS: "read-only file system",
               errno.EDQUOT: "disk quota exceeded"}


class PathConflictError(ValueError):
    """An output would overwrite an input, or cannot be written where it is asked."""


class DiskSpaceError(OSError):
    """Writing failed or would fail for lack of space (or a read-only file system, or
    a quota); the message names the path and the space needed."""

    def __init__(self, message, code=errno.ENOSPC):
        super().__init__(code, message)

    def __str__(self):
        return self.strerror


def _files_under(path):
    """The existing files a path names: itself, or every file under a directory."""
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for name in files:
                yield os.path.join(root, name)
    elif os.path.exists(path):
        yield path


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_file(output, inputs, what="output"):
    """Refuses an output file that would destroy an input or cannot be written.

    Args:
        output: the file to write.
        inputs: paths that must not be overwritten (files or directories; `None`s are
            skipped); every file under a directory counts.
        what: how the message names the output.

    Raises:
        PathConflictError: `output` is a directory, its directory does not exist, or it
            is the same file as an input (also through a symlink or hard link).
    """
    output = os.fspath(output)
    if os.path.isdir(output):
        raise PathConflictError(f"{output}: is a directory; give a file name for the {what}")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise PathConflictError(f"{output}: the directory {parent} does not exist")
    if not os.path.lexists(output):
        return
    for item in inputs:
        if item is None:
            continue
        for f in _files_under(os.fspath(item)):
            if _same_file(output, f):
                same = "" if os.path.abspath(f) == os.path.abspath(output) else f" ({f})"
                raise PathConflictError(
                    f"{output}: the {what} is the same file as an input{same}; refusing to "
                    "overwrite it, choose another output path")


def check_output_dir(outdir, inputs, what="output directory"):
    """Refuses an output directory that is, holds or lies inside an input.

    Raises:
        PathConflictError: `outdir` is an existing file, or an input lies in it, or it
            lies in an input directory.
    """
    outdir = os.fspath(outdir)
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise PathConflictError(f"{outdir}: exists and is not a directory")
    for item in inputs:
        if item is None or not os.path.exists(item):
            continue
        item = os.fspath(item)
        if _inside(item, outdir) or (os.path.isdir(item) and _inside(outdir, item)):
            raise PathConflictError(
                f"{outdir}: the {what} overlaps the input {item}; refusing to write into "
                "it, choose another directory")


@contextlib.contextmanager
def atomic_output(path):
    """Yields a fresh temporary path next to `path`; renames it over `path` when the
    block ends without error, deletes it otherwise (so `path` is never half written).

    Example:
    ```python
    with atomic_output("vocab.txt") as tmp:
        write_to(tmp)
    ```
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def free_bytes(path):
    """Free bytes on the file system holding `path` (an existing file or directory)."""
    return shutil.disk_usage(path).free


def _megabytes(n):
    return f"{n / 1e6:,.1f} MB"


def check_free_space(path, needed, doing, then=""):
    """Raises `DiskSpaceError` if the file system of `path` has less than `needed` bytes
    free (`doing` says what needs them, `then` what to do next)."""
    free = free_bytes(path)
    if free < needed:
        raise DiskSpaceError(
            f"{path}: not enough disk space to {doing}: needs about {_megabytes(needed)}, "
            f"{_megabytes(free)} free{then}")


def disk_error_reason(error):
    """The reason ("no space left on the device", ...) if `error` is a disk error
    (no space, read-only, quota), else None. h5py's errors carry the errno in text."""
    if isinstance(error, DiskSpaceError):
        return DISK_ERRNOS[errno.ENOSPC]
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return DISK_ERRNOS[error.errno]
    text = str(error)
    m = re.search(r"errno = (\d+)", text)
    if m and int(m.group(1)) in DISK_ERRNOS:
        return DISK_ERRNOS[int(m.group(1))]
    for code, reason in DISK_ERRNOS.items():
        if os.strerror(code) in text:
            return reason
    return None
