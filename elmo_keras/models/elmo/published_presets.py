"""AllenNLP's published English ELMo models, downloaded on first use into the Keras cache.

`PUBLISHED` is the registry (data only): for each preset name, what the model is, where
its two bilm-tf files are published, and what is known of them. `published_dir(name)`
makes a local bilm-tf directory (`options.json` + `weights.hdf5`) for a registered name:
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
  (loaded once through `elmo_keras.load_bilm`, whose checks these are).

A file that fails a check is deleted from the cache (with the other file of the model)
and the error names its URL. The structure is checked once per download: a
`.verified.json` beside the files records what was checked.

Names: `elmo_allennlp_<size>_en`, keras-hub's `<model>_<variant>_<language>` pattern
(`bert_base_en`), with `allennlp` (the publisher) so that none can be taken for
`elmo_small_en`, the model this project trained; `<size>` is AllenNLP's own name for
each model (small, medium, original, original 5.5B).

The base URL of every file (`DEFAULT_BASE_URL`) can be replaced through the
environment variable `ELMO_KERAS_PRESET_BASE_URL` (a mirror, or a local test server).
Without network access, download the two files elsewhere, rename them `options.json` and
`weights.hdf5`, and pass their directory: `ELMo.from_preset("/path/to/dir")`.
"""

import json
import os
import tempfile

from elmo_keras.io import downloads
from elmo_keras.io.bilm_hdf5 import WeightFileError, load_bilm
from elmo_keras.io.bilm_options import OptionsError, load_options

DEFAULT_BASE_URL = "https://s3-us-west-2.amazonaws.com/allennlp/models/elmo"
BASE_URL_ENV = "ELMO_KERAS_PRESET_BASE_URL"
#: The folder under the Keras cache holding one folder per downloaded preset.
CACHE_SUBDIR = "elmo_keras"
OPTIONS_FILE = "options.json"
WEIGHTS_FILE = "weights.hdf5"
VERIFIED_FILE = ".verified.json"

_PAPER = ("Peters, Neumann, Iyyer, Gardner, Clark, Lee and Zettlemoyer (2018), \"Deep "
          "contextualized word representations\", NAACL-HLT 2018, "
          "https://arxiv.org/abs/1802.05365")
_SOURCE = ("AllenNLP (Allen Institute for AI), https://allenai.org/allennlp/software/elmo; "
           "trained with bilm-tf")
_ONE_BILLION = "the 1 Billion Word Language Model Benchmark (about 800M tokens)"
_FIVE_BILLION = ("5.5B tokens: Wikipedia (1.9B) and the WMT 2008-2012 monolingual news "
                 "crawl (3.6B)")
# The char CNN of all four: 2048 filters of widths 1 to 7, 16-dimensional characters.
_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]

# name -> entry. "params" is what `ELMo.count_params()` gives for the model (one scalar
# mix, the character table with its padding row), AllenNLP's 13.6M / 28.0M / 93.6M.
# "architecture": `ELMo` arguments the downloaded options.json must state.
# "files": local name -> URL, sha256 and size (None where no figure is published);
# the weights file's size is the download size.
def _files(folder, weights_sha256=None, weights_size=None):
    """A published model's files: local name -> URL (AllenNLP's layout:
    `<base>/<folder>/elmo_<folder>_{options.json,weights.hdf5}`), sha256 and size (None
    where no figure is published)."""
    url = f"{DEFAULT_BASE_URL}/{folder}/elmo_{folder}_"
    return {OPTIONS_FILE: {"url": url + "options.json", "sha256": None, "size": None},
            WEIGHTS_FILE: {"url": url + "weights.hdf5", "sha256": weights_sha256,
                           "size": weights_size}}


PUBLISHED = {
    "elmo_allennlp_small_en": {
        "description": (
            "AllenNLP's small English ELMo (2x1024_128_2048cnn_1xhighway): char CNN "
            "(2048 filters, 1 highway), 2 biLSTM layers of 1024 cells projected to 128 "
            "(256-dimensional ELMo vectors); trained on " + _ONE_BILLION + "."),
        "params": 13_593_316,
        "architecture": {"filters": _FILTERS, "char_embedding_dim": 16, "n_highway": 1,
                         "lstm_dim": 1024, "projection_dim": 128, "n_layers": 2},
        "allennlp_name": "2x1024_128_2048cnn_1xhighway",
        "training_data": _ONE_BILLION,
        "source": _SOURCE,
        "paper": _PAPER,
        "license": "Apache-2.0",
        "files": _files("2x1024_128_2048cnn_1xhighway"),
    },
    "elmo_allennlp_medium_en": {
        "description": (
            "AllenNLP's medium English ELMo (2x2048_256_2048cnn_1xhighway): char CNN "
            "(2048 filters, 1 highway), 2 biLSTM layers of 2048 cells projected to 256 "
            "(512-dimensional ELMo vectors); trained on " + _ONE_BILLION + "."),
        "params": 28_027_748,
        "architecture": {"filters": _FILTERS, "char_embedding_dim": 16, "n_highway": 1,
                         "lstm_dim": 2048, "projection_dim": 256, "n_layers": 2},
        "allennlp_name": "2x2048_256_2048cnn_1xhighway",
        "training_data": _ONE_BILLION,
        "source": _SOURCE,
        "paper": _PAPER,
        "license": "Apache-2.0",
        "files": _files("2x2048_256_2048cnn_1xhighway"),
    },
    "elmo_allennlp_original_en": {
        "description": (
            "AllenNLP's original English ELMo, the model of the paper "
            "(2x4096_512_2048cnn_2xhighway): char CNN (2048 filters, 2 highway), 2 biLSTM "
            "layers of 4096 cells projected to 512 (1024-dimensional ELMo vectors); "
            "trained on " + _ONE_BILLION + "."),
        "params": 93_600_868,
        "architecture": {"filters": _FILTERS, "char_embedding_dim": 16, "n_highway": 2,
                         "lstm_dim": 4096, "projection_dim": 512, "n_layers": 2},
        "allennlp_name": "2x4096_512_2048cnn_2xhighway",
        "training_data": _ONE_BILLION,
        "source": _SOURCE,
        "paper": _PAPER,
        "license": "Apache-2.0",
        "files": _files("2x4096_512_2048cnn_2xhighway",
                        weights_sha256="a6b92b9ccbb13fe489faacd2221c795d4bebe84b75f8aded9d85ea464fa5c994",
                        weights_size=374_434_792),
    },
    "elmo_allennlp_original_5_5b_en": {
        "description": (
            "AllenNLP's original English ELMo trained on 5.5B tokens "
            "(2x4096_512_2048cnn_2xhighway_5.5B): the architecture of the original "
            "(1024-dimensional ELMo vectors), trained on " + _FIVE_BILLION + "."),
        "params": 93_600_868,
        "architecture": {"filters": _FILTERS, "char_embedding_dim": 16, "n_highway": 2,
                         "lstm_dim": 4096, "projection_dim": 512, "n_layers": 2},
        "allennlp_name": "2x4096_512_2048cnn_2xhighway_5.5B",
        "training_data": _FIVE_BILLION,
        "source": _SOURCE,
        "paper": _PAPER,
        "license": "Apache-2.0",
        "files": _files("2x4096_512_2048cnn_2xhighway_5.5B"),
    },
}

# The most bytes an options.json download may have (the published ones have about 400).
_OPTIONS_MAX_BYTES = 1 << 20
# Bytes a weights file of unknown size may have beyond 4 per parameter (HDF5's own: the
# original's file has 31 KB more than its float32 values).
_WEIGHTS_SLACK_BYTES = 16 << 20

LOCAL_HINT = ("Without access to it, put the model's options.json and weights.hdf5 in a "
              "directory and pass that: ELMo.from_preset(\"/path/to/dir\")")


def _preset_error(message):
    from elmo_keras.models.elmo.elmo_presets import PresetError  # it imports this module

    return PresetError(message)


def _entry(name):
    if name not in PUBLISHED:
        raise _preset_error(f"{name!r}: not a published preset (published: "
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
        raise _preset_error(f"{BASE_URL_ENV}={base!r:.200}: not an http:// or https:// "
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
    return _preset_error(f"{url}: {problem}; deleted from the cache")


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
    """Loads the weights once through `load_bilm`: every dataset the options need, of
    its shape, finite; no layer the options lack."""
    try:
        load_bilm(options_path, weights_path)
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
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=VERIFIED_FILE + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_stamp(directory, entry), f, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(directory, VERIFIED_FILE))
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
