"""AllenNLP's published English ELMo models, downloaded on first use into the Keras cache.

`elmo_presets.PUBLISHED` is the registry (data only): for each preset name, what the
model is, where its two bilm-tf files are published, and what is known of them.
`published_dir(name)` makes a local bilm-tf directory (`options.json` + `weights.hdf5`) for a registered name:
downloaded once into `$KERAS_HOME/elmo_keras/<name>/` (default `~/.keras`, see
`elmo_keras.io.downloads`), then used from there without any request.

Each file is checked before it is used:

- `options.json`: at most 1 MiB, its sha256 and size when the registry records them,
  parsed and validated (`elmo_keras.load_options`), and its architecture the one the
  registry states (a mirror serving another model under this name is refused before
  the weights are downloaded);
- `weights.hdf5`: its size and sha256 when recorded (only the original model's are
  public), otherwise at most the bytes the model's parameters need (plus room for
  HDF5's own), and its datasets and their shapes those the options need, all finite
  (`elmo_keras.io.bilm_hdf5.read_bilm_weights`, the checks every load makes).

A file that fails a check is deleted from the cache (with the other file of the model)
and the error names its URL. The structure is checked once per download: a
`.verified.json` beside the files records what was checked.

The base URL of every file (`DEFAULT_BASE_URL`) can be replaced through the
environment variable `ELMO_KERAS_PRESET_BASE_URL` (a mirror, or a local test server).
Without network access, download the two files elsewhere, rename them `options.json` and
`weights.hdf5`, and pass their directory: `ELMo.from_preset("/path/to/dir")`.
"""

import json
import os

from elmo_keras.io import downloads
from elmo_keras.io.bilm_hdf5 import WeightFileError, read_bilm_weights
from elmo_keras.io.bilm_options import OptionsError, load_options
from elmo_keras.io.model_files import PresetError
from elmo_keras.io.paths import atomic_output
from elmo_keras.models.elmo.elmo_presets import (  # noqa: F401 (the registry, here too)
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    OPTIONS_FILE,
    PUBLISHED,
    WEIGHTS_FILE,
)

#: The folder under the Keras cache holding one folder per downloaded preset.
CACHE_SUBDIR = "elmo_keras"
VERIFIED_FILE = ".verified.json"

# The most bytes an options.json download may have (the published ones have about 400).
_OPTIONS_MAX_BYTES = 1 << 20
# Bytes a weights file of unknown size may have beyond 4 per parameter (HDF5's own: the
# original's file has 31 KB more than its float32 values).
_WEIGHTS_SLACK_BYTES = 16 << 20

LOCAL_HINT = ("Without access to it, put the model's options.json and weights.hdf5 in a "
              "directory and pass that: ELMo.from_preset(\"/path/to/dir\")")


def _entry(name):
    if name not in PUBLISHED:
        raise PresetError(f"{name!r}: not a published preset (published: "
                            f"{', '.join(sorted(PUBLISHED))})")
    return PUBLISHED[name]


def file_url(url):
    """`url` with `DEFAULT_BASE_URL` replaced by `$ELMO_KERAS_PRESET_BASE_URL` when set.

    Raises:
        PresetError: the variable is set but not an http:// or https:// URL.
    """
    base = os.environ.get(BASE_URL_ENV)
    if not base:
        return url
    if not base.startswith(("http://", "https://")):
        raise PresetError(f"{BASE_URL_ENV}={base!r:.200}: not an http:// or https:// "
                            "URL")
    if url.startswith(DEFAULT_BASE_URL + "/"):
        return base.rstrip("/") + url[len(DEFAULT_BASE_URL):]
    return url


def published_cache_dir(name):
    """The directory `published_dir(name)` fills and returns, without downloading
    anything (e.g. to keep a command's outputs off the model's files).

    Raises:
        PresetError: `name` is not in `PUBLISHED`.
    """
    _entry(name)
    return os.path.join(downloads.cache_dir(), CACHE_SUBDIR, name)


def list_published():
    """What `ELMo.presets` shows of each published preset (nothing is downloaded).

    Returns:
        `{name: {"description", "params", "bundled" (False: downloaded on first use),
        "download_size" (bytes of the weights file, None where unknown), "source",
        "paper", "license", "url" (the weights file's), "path" (the cache directory),
        "cached" (whether both files are there)}}`.
    """
    listing = {}
    for name, entry in PUBLISHED.items():
        weights = entry["files"][WEIGHTS_FILE]
        path = published_cache_dir(name)
        listing[name] = {
            "description": entry["description"],
            "params": entry["params"],
            "bundled": False,
            "download_size": weights["size"],
            "source": entry["source"],
            "paper": entry["paper"],
            "license": entry["license"],
            "url": file_url(weights["url"]),
            "path": path,
            "cached": all(os.path.isfile(os.path.join(path, f)) for f in entry["files"]),
        }
    return listing


def published_dir(name, progress=True):
    """A local bilm-tf directory (`options.json` + `weights.hdf5`) holding the published
    model `name`, downloaded into the Keras cache on first use and checked (see the
    module docstring); later calls make no request.

    Args:
        name: a key of `PUBLISHED`.
        progress: say on stderr what is downloaded.

    Returns:
        The directory, a `str` (`$KERAS_HOME/elmo_keras/<name>`).

    Raises:
        PresetError: `name` is not published, `$ELMO_KERAS_PRESET_BASE_URL` is not a URL,
            or a downloaded file is not the model the registry describes (the message
            names its URL; the files are deleted from the cache).
        elmo_keras.io.downloads.DownloadError: a file cannot be downloaded, or does not
            have its recorded size or sha256 (the message names the URL and how to pass
            a local directory instead; nothing is left in the cache).
    """
    entry = _entry(name)
    subdir = os.path.join(CACHE_SUBDIR, name)
    urls = {f: file_url(spec["url"]) for f, spec in entry["files"].items()}
    directory = published_cache_dir(name)
    options_path = _fetch(entry, subdir, OPTIONS_FILE, urls, progress)
    options = None
    if not _verified(directory, entry):  # before the weights: a wrong model costs no more
        options = _check_options(name, entry, directory, options_path, urls)
    weights_path = _fetch(entry, subdir, WEIGHTS_FILE, urls, progress, options)
    if not _verified(directory, entry):  # downloaded now, or never checked
        if options is None:
            options = _check_options(name, entry, directory, options_path, urls)
        _check_weights(directory, options_path, weights_path, urls)
        _write_verified(directory, entry)
    return directory


def _fetch(entry, subdir, fname, urls, progress, options=None):
    spec = entry["files"][fname]
    if fname == OPTIONS_FILE:
        bound = _OPTIONS_MAX_BYTES
    else:
        params = options.parameter_count() if options is not None else entry["params"]
        bound = 4 * params + _WEIGHTS_SLACK_BYTES
    try:
        return downloads.fetch(urls[fname], subdir, sha256=spec["sha256"], size=spec["size"],
                               fname=fname, max_bytes=bound, progress=progress)
    except downloads.DownloadError as e:
        raise downloads.DownloadError(f"{e}. {LOCAL_HINT}") from None


def _one_line(error):
    return " ".join(str(error).split())


def _refuse(directory, url, problem):
    """Deletes the model's files from the cache; the error to raise, naming `url`."""
    for f in (OPTIONS_FILE, WEIGHTS_FILE, VERIFIED_FILE):
        try:
            os.remove(os.path.join(directory, f))
        except FileNotFoundError:
            pass
    return PresetError(f"{url}: {problem}; deleted from the cache")


def _check_options(name, entry, directory, options_path, urls):
    """The downloaded options, parsed and validated, stating the registered
    architecture."""
    url = urls[OPTIONS_FILE]
    try:
        options = load_options(options_path)
        stated = options.model_kwargs()
    except OptionsError as e:
        raise _refuse(directory, url, f"not a usable bilm-tf options file "
                                      f"({_one_line(e)})") from None
    for key, expected in entry["architecture"].items():
        if stated.get(key) != expected:
            raise _refuse(directory, url, f"these options give {key}={stated.get(key)!r:.80}"
                                          f", but {name} has {key}={expected!r:.80}: not "
                                          f"the model {name}")
    return options


def _check_weights(directory, options_path, weights_path, urls):
    """Reads the weights once as a load does (`read_bilm_weights`): every dataset the
    options need, of its shape, finite; no layer the options lack."""
    try:
        read_bilm_weights(options_path, weights_path)
    except (WeightFileError, OptionsError) as e:
        raise _refuse(directory, urls[WEIGHTS_FILE], f"does not match its options "
                                                     f"({_one_line(e)})") from None


def _stamp(directory, entry):
    """What `.verified.json` records: each file's size and modification time, and the
    registered architecture and files they were checked against."""
    stamp = {"architecture": entry["architecture"],
             "files": {f: {"sha256": spec["sha256"], "size": spec["size"]}
                       for f, spec in entry["files"].items()}}
    for f in entry["files"]:
        try:
            st = os.stat(os.path.join(directory, f))
        except OSError:
            return None
        stamp["files"][f]["local"] = [st.st_size, st.st_mtime_ns]
    return stamp


def _verified(directory, entry):
    """Whether the cached files are those a `.verified.json` says were checked."""
    stamp = _stamp(directory, entry)
    path = os.path.join(directory, VERIFIED_FILE)
    if stamp is None or not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f) == json.loads(json.dumps(stamp))
    except (OSError, ValueError):
        return False


def _write_verified(directory, entry):
    with atomic_output(os.path.join(directory, VERIFIED_FILE), what="verified stamp") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(_stamp(directory, entry), f, indent=2, sort_keys=True)
