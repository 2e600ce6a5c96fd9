"""The output policy of every writer: outputs checked before anything is written,
written atomically, and disk errors turned into one clear message.

What an output may be:

- never a special file: a character or block device, a FIFO or a socket (also behind a
  symbolic link) is refused, not replaced by a regular file;
- never an input: `check_output_file` and `check_output_dir` compare files by device
  and inode (`os.path.samefile`), so a symlink or a hard link to an input is caught as
  well as the same name, and every file under an input directory counts;
- never a link into a folder the writer deletes files from (`deletes_in=True`), nor a
  folder holding someone else's files where the writer needs an empty one
  (`empty=True`);
- written whole or not at all (`atomic_output`, `atomic_output_dir`), with the mode
  the umask gives (`0o666 & ~umask`, `0o777 & ~umask` for a directory);
- a directory that cannot be written, or a read-only output, is said with the output's
  name before any work;
- a full disk is an ordinary error, also for a writer that cannot take a failed write:
  HDF5 writes through a `LatchedFile` (`latched_output`), which keeps the first
  `OSError` and drops later writes, so HDF5 closes its file normally and the error is
  raised after (an ENOSPC inside HDF5 could otherwise crash the process);
- a figure is saved by `save_figure`, through `atomic_output`.

Inputs are checked by `check_input_file` (model files too, through
`elmo_keras.io.model_files.regular_file`): a directory or a special file is said for
what it is, and never opened (a FIFO would block the reader, a device may never end).
"""

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat

DISK_ERRNOS = {errno.ENOSPC: "no space left on the device",
               errno.EROFS: "read-only file system",
               errno.EDQUOT: "disk quota exceeded"}


class PathConflictError(ValueError):
    """An output would overwrite an input or a file that is not the writer's, or cannot
    be written where it is asked."""


class InputFileError(ValueError):
    """An input is not a regular file (a directory, a device, a FIFO, a socket) or
    cannot be looked at."""


class DiskSpaceError(OSError):
    """Writing failed or would fail for lack of space (or a read-only file system, or
    a quota); the message names the path and the space needed."""

    def __init__(self, message, code=errno.ENOSPC):
        super().__init__(code, message)

    def __str__(self):
        return self.strerror


def file_kind(mode):
    """What a file of this `st_mode` is, said for a person ("a directory", "a FIFO
    (named pipe)", ...)."""
    for test, kind in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def _stat(path):
    """`os.stat(path)` (links followed), or None when nothing (or a broken link) is there."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _via_link(path):
    """" (a symbolic link to TARGET)" when `path` is a symbolic link, else ""."""
    if not os.path.islink(path):
        return ""
    with contextlib.suppress(OSError):
        return f" (a symbolic link to {os.readlink(path)})"
    return " (a symbolic link)"


def check_input_file(path, what="input file", error=None):
    """Checks that an input is an existing regular file (links followed), without
    opening it: a FIFO would block the reader, a device such as `/dev/zero` reads
    forever. Every reader of a user's file (inputs, vocabularies, corpora, model files:
    `elmo_keras.io.model_files.regular_file`) checks through here.

    Args:
        path: the input.
        what: how the message names it ("input file", "corpus file", "options file").
        error: the exception class to raise instead of the two below (a reader's own
            error type, e.g. `PresetError`); `None` keeps them.

    Returns:
        `path` as a `str`.

    Raises:
        FileNotFoundError: nothing is there (or a broken symbolic link).
        InputFileError: it is a directory, a device, a FIFO or a socket, or it cannot
            be looked at (no permission).

    Example:
    ```python
    check_input_file("corpus.txt", "corpus file")
    ```
    """
    path = os.fspath(path)
    try:
        st = _stat(path)
    except OSError as e:
        raise (error or InputFileError)(
            f"{path}: {what} cannot be read ({e.strerror or e})") from None
    if st is None:
        link = f"{_via_link(path)} to a missing file" if os.path.islink(path) else ""
        raise (error or FileNotFoundError)(f"{path}: {what} does not exist{link}")
    if stat.S_ISDIR(st.st_mode):
        raise (error or InputFileError)(f"{path}: {what} is a directory{_via_link(path)}, "
                                        f"not a file; give the {what} itself")
    if not stat.S_ISREG(st.st_mode):
        raise (error or InputFileError)(
            f"{path}: {what} is {file_kind(st.st_mode)}{_via_link(path)}, not a regular "
            "file; refusing to read it")
    return path


def _check_target(path, what):
    """Refuses to replace a directory or a special file (also behind a link) at `path`."""
    if not os.path.lexists(path):
        return
    st = _stat(path)
    if st is None:  # a broken link: replacing it loses nothing but the link
        return
    if stat.S_ISDIR(st.st_mode):
        raise PathConflictError(f"{path}: is a directory{_via_link(path)}; give a file name "
                                f"for the {what}")
    if not stat.S_ISREG(st.st_mode):
        raise PathConflictError(
            f"{path}: is {file_kind(st.st_mode)}{_via_link(path)}; refusing to replace it "
            f"with the {what} (only regular files are written), choose another output path")


def _cannot_write(path, folder, error=None, what="output"):
    """The error for an output that cannot be created in `folder` (`error`: the OSError
    that said so, else `os.access` did)."""
    code = error.errno if error is not None else None
    if code is None:
        with contextlib.suppress(OSError):
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                code = errno.EROFS
    if code in DISK_ERRNOS:
        return DiskSpaceError(f"{path}: cannot write the {what}: {DISK_ERRNOS[code]} "
                              f"({folder})", code)
    if code in (None, errno.EACCES, errno.EPERM):
        return PathConflictError(f"{path}: cannot write the {what}: permission denied (no "
                                 f"write permission on the directory {folder}); choose "
                                 "another output path")
    return OSError(code, f"cannot write the {what} in {folder}: {error.strerror}", path)


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
    """Refuses an output file that would destroy an input or something that is not a
    regular file, or that cannot be written.

    Args:
        output: the file to write.
        inputs: paths that must not be overwritten (files or directories; `None`s are
            skipped); every file under a directory counts.
        what: how the message names the output.

    Raises:
        PathConflictError: `output` is a directory or a special file (a device, a
            FIFO, a socket; also behind a symbolic link), its directory does not exist
            or is not writable, it is read-only, or it is the same file as an input
            (also through a symlink or hard link).
        DiskSpaceError: its directory is on a read-only file system.
    """
    output = os.fspath(output)
    _check_target(output, what)
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise PathConflictError(f"{output}: the directory {parent} does not exist")
    if os.path.lexists(output):
        for item in inputs:
            if item is None:
                continue
            for f in _files_under(os.fspath(item)):
                if _same_file(output, f):
                    same = "" if os.path.abspath(f) == os.path.abspath(output) else f" ({f})"
                    raise PathConflictError(
                        f"{output}: the {what} is the same file as an input{same}; refusing "
                        "to overwrite it, choose another output path")
    if not os.access(parent, os.W_OK):
        raise _cannot_write(output, parent, what=what)
    if os.path.exists(output) and not os.access(output, os.W_OK):
        raise PathConflictError(f"{output}: is read-only (no write permission); refusing to "
                                f"replace it with the {what}, make it writable or choose "
                                "another output path")


def check_output_dir(outdir, inputs, what="output directory", deletes_in=False, empty=False):
    """Refuses an output directory that is, holds or lies inside an input, or holds
    what the writer must not touch.

    Args:
        outdir: the directory to write (it may not exist yet).
        inputs: paths that must not be written into (`None`s are skipped).
        what: how the message names the directory.
        deletes_in: the writer deletes files in it: a symbolic link there is refused
            (its files are someone else's).
        empty: it must be new or empty (the writer would overwrite files in it).

    Raises:
        PathConflictError: `outdir` exists and is not a directory, is a link (with
            `deletes_in`), overlaps an input, or is not empty (with `empty`).
    """
    outdir = os.fspath(outdir)
    if deletes_in and os.path.islink(outdir):
        raise PathConflictError(
            f"{outdir}: is a symbolic link (to {os.readlink(outdir)}); the {what} is a "
            "folder elmo-keras deletes its own files from, so it never follows a link there: "
            "remove the link or choose another output")
    if os.path.lexists(outdir):
        st = _stat(outdir)
        if st is None or not stat.S_ISDIR(st.st_mode):
            kind = "a broken symbolic link" if st is None else file_kind(st.st_mode)
            raise PathConflictError(f"{outdir}: exists and is {kind}{_via_link(outdir)}, not "
                                    f"a directory; choose another {what}")
    for item in inputs:
        if item is None or not os.path.exists(item):
            continue
        item = os.fspath(item)
        if _inside(item, outdir) or (os.path.isdir(item) and _inside(outdir, item)):
            raise PathConflictError(
                f"{outdir}: the {what} overlaps the input {item}; refusing to write into "
                "it, choose another directory")
    if empty and os.path.isdir(outdir):
        names = sorted(os.listdir(outdir))
        if names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise PathConflictError(
                f"{outdir}: is not empty (holds {shown}); the {what} must be a new or empty "
                "directory so that no file of yours is overwritten, choose another")
    parent = os.path.dirname(os.path.abspath(outdir))
    if not os.path.exists(outdir) and os.path.isdir(parent) and not os.access(parent, os.W_OK):
        raise _cannot_write(outdir, parent, what=what)


def _new_name(folder, name):
    return os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")


def _renamed_error(error, tmp, path):
    """`error` naming `path` where it named the temporary file `tmp`."""
    if (isinstance(error, OSError) and not isinstance(error, DiskSpaceError)
            and error.filename == tmp and error.errno is not None):
        return OSError(error.errno, error.strerror, path)
    return error


@contextlib.contextmanager
def atomic_output(path, what="output"):
    """Yields a fresh temporary path next to `path`; renames it over `path` when the
    block ends without error, deletes it otherwise (so `path` is never half written).

    The temporary file is created empty with mode `0o666 & ~umask`, so the output gets
    the mode any new file gets. A directory or a special file (a device, a FIFO, a
    socket) at `path` is refused, before and again right before the rename. An error
    that names the temporary file names `path` instead.

    Example:
    ```python
    with atomic_output("vocab.txt") as tmp:
        write_to(tmp)
    ```
    """
    path = os.fspath(path)
    _check_target(path, what)
    folder, name = os.path.split(os.path.abspath(path))
    for _ in range(100):
        tmp = _new_name(folder, name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise _cannot_write(path, folder, e, what) from None
        os.close(fd)
        break
    else:
        raise FileExistsError(errno.EEXIST, "cannot find a free temporary name", path)
    try:
        yield tmp
        _check_target(path, what)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        renamed = _renamed_error(e, tmp, path)
        if renamed is e:
            raise
        raise renamed from None


@contextlib.contextmanager
def atomic_output_dir(path, what="output directory"):
    """Yields a fresh temporary directory next to `path` (mode `0o777 & ~umask`); when
    the block ends without error, renames it to `path`, which must then be absent or an
    empty directory (a symbolic link to one gets the files in its target); deletes it
    otherwise (so `path` never holds half an output)."""
    path = os.fspath(path)
    target = os.path.realpath(path) if os.path.islink(path) else path
    folder, name = os.path.split(os.path.abspath(target))
    for _ in range(100):
        tmp = _new_name(folder, name)
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        except OSError as e:
            raise _cannot_write(path, folder, e, what) from None
        break
    else:
        raise FileExistsError(errno.EEXIST, "cannot find a free temporary name", path)
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise PathConflictError(f"{path}: is not empty any more; the {what} was not "
                                        "written there, choose another") from None
            raise
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)  # made here, by this block: all ours
        renamed = _renamed_error(e, tmp, path)
        if renamed is e:
            raise
        raise renamed from None


def save_figure(figure, path, what="plot", **savefig_kwargs):
    """Saves a matplotlib figure to `path` through `atomic_output` (so a device, a
    FIFO or a directory there is refused, and an interrupted save leaves the old file),
    in the format its extension names (PNG without one).

    Args:
        figure: a `matplotlib.figure.Figure`.
        path: the image file.
        what: how an error names it.
        **savefig_kwargs: passed to `figure.savefig` (`dpi`, ...).

    Example:
    ```python
    save_figure(fig, "curve.png", dpi=100)
    ```
    """
    path = os.fspath(path)
    image_format = os.path.splitext(path)[1][1:].lower() or "png"
    with atomic_output(path, what=what) as tmp:
        figure.savefig(tmp, format=image_format, **savefig_kwargs)


class LatchedFile:
    """A file opened for writing whose writes never raise: the first `OSError` (a full
    disk, say) is kept in `error` and every later write is dropped, so that a writer
    which cannot recover from a failed write (HDF5 leaves its file half open and may
    crash the process when it is freed) runs to its end; `check()` then raises the kept
    error as an ordinary `OSError` naming the file. Reads, seeks and `tell` pass through
    (dropped bytes read back as nothing; h5py fills them with zeros).

    Use it through `latched_output`; h5py writes to it as `h5py.File(latched, "w")`.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.error = None
        self._raw = open(self.path, "w+b", buffering=0)

    def _keep(self, error):
        if self.error is None:
            self.error = error

    def write(self, data):
        view = memoryview(data).cast("B")
        size = len(view)
        if self.error is None:
            try:
                while view:  # an unbuffered write may take only part of it
                    view = view[self._raw.write(view):]
                return size
            except OSError as e:
                self._keep(e)
        self._raw.seek(len(view), os.SEEK_CUR)
        return size

    def seek(self, offset, whence=os.SEEK_SET):
        return self._raw.seek(offset, whence)

    def tell(self):
        return self._raw.tell()

    def readinto(self, buffer):
        return self._raw.readinto(buffer)

    def read(self, size=-1):
        return self._raw.read(size)

    def truncate(self, size=None):
        if self.error is None:
            try:
                return self._raw.truncate(size)
            except OSError as e:
                self._keep(e)
        return self.tell() if size is None else size

    def flush(self):
        """Makes what was written durable (`fsync`), so that a disk error the file
        system reports late is kept too."""
        if self.error is None:
            try:
                os.fsync(self._raw.fileno())
            except OSError as e:
                self._keep(e)

    def check(self):
        """Raises the kept error, if any, as an `OSError` naming the file."""
        if self.error is not None:
            raise OSError(self.error.errno, self.error.strerror, self.path)

    def close(self):
        if not self._raw.closed:
            self.flush()
            self._raw.close()


@contextlib.contextmanager
def latched_output(path):
    """Yields a `LatchedFile` writing `path` (created or emptied); when the block ends,
    flushes it to disk, closes it and raises the first write error, if any, as an
    `OSError` naming `path` (also when the block itself failed for it).

    Example:
    ```python
    with latched_output(tmp) as f:
        with h5py.File(f, "w") as out:
            out["x"] = data
    ```
    """
    latched = LatchedFile(path)
    try:
        yield latched
    except BaseException:
        latched.close()
        latched.check()  # the disk error is the cause: say it, not what followed
        raise
    latched.close()
    latched.check()


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
    (no space, read-only, quota), else None. h5py's errors (OSError, or RuntimeError
    when copying objects) carry the errno in their text."""
    if isinstance(error, DiskSpaceError):
        return DISK_ERRNOS.get(error.errno, DISK_ERRNOS[errno.ENOSPC])
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
