"""Google's TF Hub ELMo module by its handle: downloaded once into the Keras cache,
unpacked safely, checked, and returned as a module directory.

Handles accepted (`is_hub_handle`), all for `google/elmo/<version>` (2 and 3 are the
published ELMo modules; the version must be given):

- TF Hub: `https://tfhub.dev/google/elmo/3`, and its compressed download
  `https://tfhub.dev/google/elmo/3?tf-hub-format=compressed` (TF Hub's documented
  protocol: a `.tar.gz` of the module directory). Since November 2023 tfhub.dev
  redirects to Kaggle Models, which serves the same tarball.
- Kaggle Models: `https://www.kaggle.com/models/google/elmo/tensorFlow1/elmo/3` (the
  framework is also written `TensorFlow1`), the long form
  `https://www.kaggle.com/models/google/elmo/frameworks/TensorFlow1/variations/elmo/versions/3`,
  and the API download `https://www.kaggle.com/api/v1/models/google/elmo/tensorFlow1/elmo/3/download`.
- Any other `http(s)://` URL whose path ends in `.tar.gz`, `.tgz` or `.tar` (a mirror
  of the tarball), downloaded as given.

Every `google/elmo/<version>` form is one module: one cache entry,
`$KERAS_HOME/elmo_keras/hub/google_elmo_<version>/` (default `~/.keras`, see
`elmo_keras.io.downloads`), downloaded from the URL given when it is a download URL
(the compressed or the Kaggle API form), else from
`https://tfhub.dev/google/elmo/<version>?tf-hub-format=compressed`. The environment
variable `ELMO_KERAS_HUB_BASE_URL` replaces `https://tfhub.dev` for every such handle (a
mirror with tfhub.dev's layout, or a local test server).

No hash or size of the module is published, so what is checked is:

- the download: complete (the server's Content-Length reached), at most
  `MAX_DOWNLOAD_BYTES`, written under a temporary name and renamed only when complete
  (`elmo_keras.io.downloads.fetch`);
- the archive: a readable tar, gzip's CRC and length (the whole stream is read), every
  entry a regular file or directory inside the target (no absolute name, no `..`, no
  link, no device), at most `MAX_MODULE_BYTES` unpacked (`tfhub_module.safe_extract`);
- the module: `tfhub_module.pb` present, and its checkpoint read in full by
  `tfhub_module.read_hub_module`: exactly the variables of one ELMo architecture (names
  and shapes against the options inferred from them), float values, none NaN or
  infinite.

The module is unpacked into a temporary folder beside its cache entry and renamed to
it only after these checks, with a `.elmo_keras_module.json` recording what was
checked (and the tarball's size and sha256); the tarball is then deleted. A download or
module that fails a check leaves nothing in the cache. Later calls use the cache
entry without any request. Reading the module needs TensorFlow (checked first, before
anything is downloaded).
"""

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import tempfile
import time
import urllib.parse

from elmo_keras.io import downloads
from elmo_keras.io.tfhub_module import (HUB_MODULE_FILE, HubModuleError, module_root,
                                        read_hub_module, safe_extract)

TFHUB_BASE_URL = "https://tfhub.dev"
HUB_BASE_URL_ENV = "ELMO_KERAS_HUB_BASE_URL"
#: The folder under the Keras cache holding the unpacked modules.
CACHE_SUBDIR = os.path.join("elmo_keras", "hub")
#: What a cache entry holds besides the module: what was checked.
VERIFIED_FILE = ".elmo_keras_module.json"
#: The most bytes a module download may have (google/elmo/3's is about 350 MB).
MAX_DOWNLOAD_BYTES = 2 << 30
#: The most bytes a module may unpack to.
MAX_MODULE_BYTES = 2 << 30
#: A temporary folder of an unpacking not touched for this long belongs to a process
#: that died; the next fetch of the same module deletes it.
STALE_S = 3600

_TFHUB_HOSTS = ("tfhub.dev", "www.tfhub.dev")
_KAGGLE_HOSTS = ("kaggle.com", "www.kaggle.com")
_TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_VERSION = re.compile(r"[1-9][0-9]{0,3}")
_LOCAL_HINT = ("Without access to it, download it elsewhere, unpack it (mkdir elmo && "
               "tar -xzf FILE -C elmo) and pass the directory: "
               "ELMo.from_preset(\"/path/to/elmo\")")


class HubHandleError(HubModuleError):
    """A TF Hub or Kaggle handle that names no ELMo module this package reads."""


def is_hub_handle(value):
    """True if `value` is a URL `fetch_hub_module` takes for a TF Hub module: a
    tfhub.dev or Kaggle Models handle, or an `http(s)://` URL of a `.tar.gz`, `.tgz` or
    `.tar`. Nothing is downloaded; a handle of another model is a handle too
    (`fetch_hub_module` refuses it, saying why).

    Args:
        value: anything (`from_preset`'s argument).

    Examples:

    ```python
    is_hub_handle("https://tfhub.dev/google/elmo/3")  # True
    is_hub_handle("elmo_small_en")  # False
    ```
    """
    if not isinstance(value, str):
        return False
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host, path = parts.hostname.lower(), parts.path
    if host in _TFHUB_HOSTS:
        return True
    if host in _KAGGLE_HOSTS:
        return path.startswith(("/models/", "/api/v1/models/"))
    return path.lower().endswith(_TARBALL_SUFFIXES)


def hub_source(handle):
    """Where `fetch_hub_module` downloads `handle` from and caches it, without any
    request.

    Args:
        handle: a handle `is_hub_handle` accepts.

    Returns:
        `(name, url)`: the cache entry's name (`google_elmo_3`; `url_<hash>` for a
        tarball URL of another form) and the download URL.

    Raises:
        HubHandleError: not a handle, a handle of another model, a handle without a
            version, or `$ELMO_KERAS_HUB_BASE_URL` not an http(s) URL.
    """
    if not is_hub_handle(handle):
        raise HubHandleError(f"{handle!r:.200}: not a TF Hub module handle (a tfhub.dev or "
                             "kaggle.com/models URL, or an http(s) URL of a .tar.gz)")
    parts = urllib.parse.urlsplit(handle)
    host = parts.hostname.lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in _TFHUB_HOSTS:
        version = _elmo_version(handle, segments)
        given = _is_compressed_query(parts.query)
    elif host in _KAGGLE_HOSTS:
        version, given = _kaggle_version(handle, segments)
    else:
        return "url_" + hashlib.sha256(handle.encode()).hexdigest()[:16], handle
    base = os.environ.get(HUB_BASE_URL_ENV)
    if base:
        if not base.startswith(("http://", "https://")):
            raise HubHandleError(f"{HUB_BASE_URL_ENV}={base!r:.200}: not an http:// or "
                                 "https:// URL")
        url = f"{base.rstrip('/')}/google/elmo/{version}?tf-hub-format=compressed"
    elif given:
        url = handle
    else:
        url = f"{TFHUB_BASE_URL}/google/elmo/{version}?tf-hub-format=compressed"
    return f"google_elmo_{version}", url


def _is_compressed_query(query):
    return ("tf-hub-format", "compressed") in urllib.parse.parse_qsl(query)


def _elmo_version(handle, segments):
    """The version of a `google/elmo/<version>` path (its segments)."""
    if [s.lower() for s in segments[:2]] != ["google", "elmo"]:
        raise HubHandleError(f"{handle}: not Google's ELMo module; elmo-keras reads "
                             "google/elmo/<version> (e.g. https://tfhub.dev/google/elmo/3)")
    if len(segments) != 3 or not _VERSION.fullmatch(segments[2]):
        raise HubHandleError(f"{handle}: name the module's version, e.g. "
                             "https://tfhub.dev/google/elmo/3")
    return int(segments[2])


def _kaggle_version(handle, segments):
    """`(version, is a download URL)` of a Kaggle Models handle (its path segments)."""
    download = segments[:3] == ["api", "v1", "models"]
    rest = segments[3:] if download else segments[1:]
    if download:
        if rest[-1:] != ["download"]:
            raise HubHandleError(f"{handle}: a Kaggle API URL of a model ends in "
                                 "/download")
        rest = rest[:-1]
    if len(rest) == 8 and [rest[i].lower() for i in (2, 4, 6)] == \
            ["frameworks", "variations", "versions"]:
        rest = [rest[0], rest[1], rest[3], rest[5], rest[7]]
    if [s.lower() for s in rest[:2]] != ["google", "elmo"]:
        raise HubHandleError(f"{handle}: not Google's ELMo module; elmo-keras reads "
                             "google/elmo (e.g. https://www.kaggle.com/models/google/elmo/"
                             "tensorFlow1/elmo/3)")
    if len(rest) != 5 or rest[2].lower() != "tensorflow1" or rest[3].lower() != "elmo" \
            or not _VERSION.fullmatch(rest[4]):
        raise HubHandleError(f"{handle}: name the TF1 module and its version, e.g. "
                             "https://www.kaggle.com/models/google/elmo/tensorFlow1/elmo/3")
    return int(rest[4]), download


def hub_cache_dir(handle):
    """The directory `fetch_hub_module(handle)` fills and returns (nothing is
    downloaded)."""
    name, _ = hub_source(handle)
    return pathlib.Path(downloads.cache_dir(), CACHE_SUBDIR, name)


def fetch_hub_module(handle, progress=True):
    """The directory of the TF1 Hub module `handle` names, downloaded into the Keras
    cache, unpacked and checked on first use (see the module docstring); later calls
    make no request.

    Args:
        handle: a tfhub.dev or Kaggle Models handle of `google/elmo/<version>`, or an
            `http(s)://` URL of the module's `.tar.gz` (see `is_hub_handle`).
        progress: say on stderr what is downloaded.

    Returns:
        The module directory, a `pathlib.Path`
        (`$KERAS_HOME/elmo_keras/hub/google_elmo_<version>`), for
        `tfhub_module.read_hub_module` or `ELMo.from_preset`.

    Raises:
        ImportError: TensorFlow is not importable (checked before downloading).
        HubHandleError: `handle` names no ELMo module (see `hub_source`).
        elmo_keras.io.downloads.DownloadError: the download failed or was cut short;
            one line naming the URL and how to pass a local directory instead.
        HubModuleError: the download is not a safe archive of an ELMo module; one line
            naming the URL. Nothing is left in the cache.

    Examples:

    ```python
    module = fetch_hub_module("https://tfhub.dev/google/elmo/3")
    options, weights = read_hub_module(module)
    ```
    """
    from elmo_keras.requires_tensorflow import tensorflow_for

    name, url = hub_source(handle)
    tensorflow_for("reading a TF Hub module")
    folder = pathlib.Path(downloads.cache_dir(), CACHE_SUBDIR)
    target = folder / name
    if _cached(target):
        return target
    _remove(target)  # a cache entry without its record: not one this function made
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale(folder, name)
    try:
        tarball = downloads.fetch(url, CACHE_SUBDIR, fname=name + ".tar.gz",
                                  max_bytes=MAX_DOWNLOAD_BYTES, progress=progress)
    except downloads.DownloadError as e:
        raise downloads.DownloadError(f"{e}. {_LOCAL_HINT}") from None
    tmp = tempfile.mkdtemp(dir=folder, prefix=f".{name}.", suffix=".unpack")
    try:
        _unpack(handle, url, tarball, tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.remove(tarball)  # the unpacked module is what is kept
    return target


def _unpack(handle, url, tarball, tmp, target):
    """Unpacks and checks `tarball` in `tmp`, then renames the module to `target`."""
    try:
        safe_extract(tarball, tmp, max_bytes=MAX_MODULE_BYTES)
        root = module_root(tmp)
        if not (root / HUB_MODULE_FILE).is_file():
            raise HubModuleError(f"{tarball}: no {HUB_MODULE_FILE}: not a TF1 Hub module")
        options, _ = read_hub_module(root)
    except HubModuleError as e:
        raise HubModuleError(f"{url}: not a usable ELMo module ({_one_line(e)}); deleted "
                             "from the cache") from None
    record = {"handle": handle, "url": url, "tarball_bytes": os.path.getsize(tarball),
              "tarball_sha256": downloads.file_sha256(tarball), "options": options,
              "checked": ["complete download", "tar entries", "gzip CRC",
                          HUB_MODULE_FILE, "variable names and shapes", "finite values"]}
    with open(root / VERIFIED_FILE, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    try:
        os.replace(root, target)
    except OSError:
        if not _cached(target):  # another process finished first otherwise
            raise


def _one_line(error):
    return " ".join(str(error).split())


def _cached(target):
    """Whether `target` is a cache entry `fetch_hub_module` finished."""
    record = target / VERIFIED_FILE
    return (target.is_dir() and not target.is_symlink() and record.is_file()
            and not record.is_symlink())


def _remove(path):
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _remove_stale(folder, name):
    """Deletes temporary folders of unpackings of `name` that died."""
    now = time.time()
    for entry in folder.iterdir():
        if entry.name.startswith(f".{name}.") and entry.name.endswith(".unpack"):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > STALE_S:
                    shutil.rmtree(entry)
