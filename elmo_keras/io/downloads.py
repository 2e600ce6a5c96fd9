"""Downloading a file into the Keras cache, checked before it is ever used.

`fetch(url, cache_subdir)` returns the local path of `url`'s file under the Keras cache
(`$KERAS_HOME`, default `~/.keras`, as `keras.utils.get_file`), downloading it only if it
is not there yet. What it adds to `keras.utils.get_file` (Keras 3.15):

- the file is written under a temporary name in the same folder and renamed to its
  cache name only once it is complete (the server's Content-Length reached) and its
  size and sha256, when known, match; a download that fails, is interrupted, or does
  not match is deleted, never left where a later call would take it for the file
  (`get_file` writes to the final name, and keeps a file whose hash does not match);
- `KERAS_HOME` is read at each call (Keras reads it once, when it is imported), so a
  test or a program can point the cache elsewhere at any time;
- a size bound (`max_bytes`) stops a server that sends more than expected;
- errors are one line (`DownloadError`) naming the URL and the problem.

A cached file is used without any request; if a size or sha256 is known and the cached
file does not match it (a disk error, an edit), it is deleted and downloaded again.
"""

import contextlib
import hashlib
import http.client
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from elmo_keras.io.paths import check_free_space
from elmo_keras.version import __version__

CHUNK_BYTES = 1 << 20
#: Seconds a connection may wait for the server (to connect, or for the next bytes).
TIMEOUT_S = 60
#: A temporary file not written to for this long belongs to a download that died
#: (killed process, power loss); the next download of the same file deletes it.
STALE_PART_S = 3600
_PART_SUFFIX = ".part"


class DownloadError(OSError):
    """A file could not be downloaded, or what was downloaded is not the expected file.

    The message is one line naming the URL and the problem; nothing of the failed
    download is left in the cache.
    """


def cache_dir():
    """The Keras cache folder, as `keras.utils.get_file` uses it: `$KERAS_HOME` if set,
    else `~/.keras`; `/tmp/.keras` where that cannot be written. Read at each call."""
    home = os.environ.get("KERAS_HOME")
    if home:
        base = os.path.expanduser(home)
    else:
        user = os.path.expanduser("~")
        base = os.path.join(user if os.access(user, os.W_OK) else tempfile.gettempdir(),
                            ".keras")
    with contextlib.suppress(OSError):
        os.makedirs(base, exist_ok=True)
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return base


def cached_path(url, cache_subdir, fname=None):
    """Where `fetch` keeps `url`'s file (nothing is created or downloaded).

    Args:
        url: the file's URL.
        cache_subdir: a folder under the cache (`cache_dir()`); an absolute path is used
            as it is (as `keras.utils.get_file`).
        fname: the local file name (default: the last part of the URL's path).
    """
    if fname is None:
        fname = os.path.basename(urllib.parse.urlsplit(url).path)
    if not fname or fname in (".", "..") or "/" in fname or os.sep in fname:
        raise ValueError(f"{url}: cannot make a cache file name from {fname!r}; pass "
                         "fname=")
    parts = os.path.normpath(cache_subdir).split(os.sep)
    if ".." in parts:
        raise ValueError(f"cache_subdir {cache_subdir!r} must not contain '..'")
    return os.path.join(cache_dir(), cache_subdir, fname)


def file_sha256(path):
    """The sha256 of a file, as a hex string, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url, cache_subdir, sha256=None, size=None, fname=None, max_bytes=None,
          timeout=TIMEOUT_S, progress=True):
    """The local path of `url`'s file in the Keras cache, downloaded if not cached.

    A cached file is returned without any request (after its size and sha256 are
    checked, where given). Otherwise the file is downloaded to a temporary name in the
    cache folder, checked (complete, `size` bytes, `sha256`), and only then renamed to
    its cache name; on any failure, the temporary file is deleted.

    Args:
        url: an `http://` or `https://` URL.
        cache_subdir: a folder under the cache (`cache_dir()`: `$KERAS_HOME` or
            `~/.keras`), e.g. `"elmo_keras/elmo_allennlp_small_en"`.
        sha256: the file's expected sha256 (hex), or None if unknown.
        size: the file's expected size in bytes, or None if unknown.
        fname: the local file name (default: the last part of the URL's path).
        max_bytes: the most bytes to accept when `size` is unknown (None: no bound).
        timeout: seconds to wait for the server (connecting, or between bytes).
        progress: say on stderr what is downloaded (a progress bar on a terminal).

    Returns:
        The local path (a `str`).

    Raises:
        DownloadError: the server cannot be reached or answers with an error, the
            connection ends before the file does, or the file is not `size` bytes, is
            larger than `max_bytes`, or does not have the sha256 `sha256`; the message
            is one line naming `url`.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise DownloadError(f"{url}: not an http:// or https:// URL")
    if sha256 is not None:
        sha256 = sha256.lower()
    target = cached_path(url, cache_subdir, fname)
    if os.path.lexists(target):
        if not os.path.isfile(target):
            raise DownloadError(f"{target}: is in the way of {url}: not a regular file")
        problem = _mismatch(target, sha256, size)
        if problem is None:
            return target
        if progress:
            print(f"{target}: the cached file {problem}; downloading it again",
                  file=sys.stderr)
        os.remove(target)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_parts(folder, os.path.basename(target))
    if size is not None:
        check_free_space(folder, size, f"download {url}")
    fd, part = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.",
                                suffix=_PART_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, received = _download(url, out, size, max_bytes, timeout, progress)
        if size is not None and received != size:
            raise DownloadError(f"{url}: the download has {received} bytes, expected "
                                f"{size}")
        if sha256 is not None and digest != sha256:
            raise DownloadError(f"{url}: the download has sha256 {digest}, expected "
                                f"{sha256}; refusing it (deleted)")
        os.chmod(part, 0o644)
        os.replace(part, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(part)
        raise
    return target


def _mismatch(path, sha256, size):
    """Why the cached file `path` is not the expected file, or None if it may be."""
    actual = os.path.getsize(path)
    if size is not None and actual != size:
        return f"has {actual} bytes, expected {size}"
    if sha256 is not None:
        digest = file_sha256(path)
        if digest != sha256:
            return f"has sha256 {digest}, expected {sha256}"
    return None


def _remove_stale_parts(folder, name):
    """Deletes temporary files of earlier downloads of `name` that died."""
    now = time.time()
    for entry in os.listdir(folder):
        if entry.startswith(f".{name}.") and entry.endswith(_PART_SUFFIX):
            path = os.path.join(folder, entry)
            with contextlib.suppress(OSError):
                if now - os.path.getmtime(path) > STALE_PART_S:
                    os.remove(path)


def _reason(error):
    """A short reason for a network error."""
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return " ".join(str(error.reason).split())
        error = error.reason
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out waiting for the server"
    if isinstance(error, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())


def _download(url, out, size, max_bytes, timeout, progress):
    """Streams `url` into the open file `out`; returns (sha256 hex, bytes received)."""
    request = urllib.request.Request(url, headers={"User-Agent": f"elmo-keras/{__version__}"})
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.strip().isdigit() else None
            if size is not None and length is not None and length != size:
                raise DownloadError(f"{url}: the server offers {length} bytes, expected "
                                    f"{size}")
            bound = size if size is not None else max_bytes
            if bound is not None and length is not None and length > bound:
                raise DownloadError(f"{url}: the server offers {length} bytes, more than "
                                    f"the bound of {bound} bytes")
            if progress:
                print(f"Downloading {url}", file=sys.stderr)
            with _progress_bar(length or size, progress) as bar:
                while True:
                    chunk = response.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    received += len(chunk)
                    if bound is not None and received > bound:
                        raise DownloadError(f"{url}: the server sent more than {bound} "
                                            "bytes, more than expected; refusing it")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except DownloadError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:
        # URLError, HTTPError, timeouts, resets and IncompleteRead (chunked bodies).
        if isinstance(e, urllib.error.HTTPError):
            e.close()
        got = f" after {received} bytes" if received else ""
        raise DownloadError(f"{url}: download failed{got}: {_reason(e)}") from None
    if length is not None and received != length:
        # http.client returns b"" when the connection closes early, without an error.
        raise DownloadError(f"{url}: the connection closed after {received} of {length} "
                            "bytes; the download is incomplete (deleted)")
    return digest.hexdigest(), received


@contextlib.contextmanager
def _progress_bar(total, progress):
    """A tqdm bar on stderr when `progress` and stderr is a terminal, else a no-op."""
    from tqdm import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
              disable=None if progress else True, leave=False) as bar:
        yield bar
