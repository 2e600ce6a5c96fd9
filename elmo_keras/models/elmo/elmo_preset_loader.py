"""Loading and saving ELMo presets: one resolver, one loader per layout, and the saver.

`ELMo.from_preset(preset)` (and `ELMoEmbedding`, `ELMoTextClassifier`, `ELMoTokenizer`,
`ELMoTextEmbedder`, the command line's `--model`, the notebooks, the examples) resolves
`preset` here. Accepted forms, tried in this order:

1. an `ELMo` (used as it is, or rebuilt with its weights when arguments override its
   config);
2. a registered name (`ELMo.presets`, the data of `elmo_presets`): `"elmo_small_en"`,
   whose files ship inside the package, or one of AllenNLP's published models
   (`elmo_allennlp_{small,medium,original,original_5_5b}_en`), downloaded into the Keras
   cache on first use and checked (`published_download`);
3. a preset directory written by `ELMo.save_to_preset` (keras-hub's layout:
   `config.json`, `model.weights.h5`, `metadata.json`, `tokenizer.json`);
4. a directory holding bilm-tf's `options.json` + `weights.hdf5` (a published ELMo, or
   what `elmo-keras train` writes);
5. a directory written by `elmo-keras export-hub` / `export_hub` (needs TensorFlow);
6. a directory holding Google's TF Hub ELMo module (`tfhub_module.pb`; `google/elmo/2`
   or `/3` extracted), its variables read as data (`elmo_keras.io.tfhub_module`; needs
   TensorFlow), or its handle (`https://tfhub.dev/google/elmo/3`, the Kaggle model URL
   or a module tarball URL), downloaded, checked and unpacked into the Keras cache on
   first use (`elmo_keras.io.hub_handles`);
7. a `.keras` file holding an `ELMo`.

Anything else raises `PresetError`, naming what was tried and what is accepted.
`resolve_preset` says which layout a value is; `get_preset_loader(kind)` is the loader
of that layout (keras-hub's `get_preset_loader`). The file formats (`elmo_keras.io`)
return configs and arrays and import no model: every loader here is given the model
class (`cls`, as keras-hub's loaders are), builds it and assigns the weights.

Loading never runs code from the files: configs are read as data, weights as arrays.
Files are read only if they are regular files (`elmo_keras.io.model_files`), JSON files
only up to 1 MiB; a config's sizes are checked against their bounds
(`elmo_keras.io.bilm_options.check_model_config`) before any model is built, and the
loaded weights are refused if they hold NaN or infinity.
"""

import datetime
import json
import os
import pathlib
import zipfile

import keras
import numpy as np

from elmo_keras.io import hub_handles, model_files
from elmo_keras.io.bilm_hdf5 import load_bilm_weights, save_bilm
from elmo_keras.io.bilm_options import (
    MAX_PARAMETERS,
    OptionsError,
    check_model_config,
    load_options,
)
from elmo_keras.io.model_files import PresetError
from elmo_keras.io.paths import atomic_output
from elmo_keras.io.tfhub_module import (
    HUB_MODULE_FILE,
    assign_hub_weights,
    hub_model_kwargs,
    read_hub_module,
)
from elmo_keras.layers.weight_init import weights_assigned_next
from elmo_keras.models.elmo import published_download
from elmo_keras.models.elmo.elmo_precision import resolve_auto_dtype
from elmo_keras.models.elmo.elmo_presets import PUBLISHED, REGISTRY
from elmo_keras.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
TOKENIZER_FILE = "tokenizer.json"
BILM_OPTIONS_FILE = "options.json"
BILM_WEIGHTS_FILE = "weights.hdf5"
SAVED_MODEL_FILE = "saved_model.pb"

ACCEPTED = (
    f"a registered name ({', '.join(sorted(REGISTRY) + sorted(PUBLISHED))}"
    "; the published ones are downloaded on first use); a preset directory "
    f"({CONFIG_FILE} + {WEIGHTS_FILE} or {BILM_WEIGHTS_FILE}, written by "
    f"save_to_preset); a directory with bilm-tf's {BILM_OPTIONS_FILE} + "
    f"{BILM_WEIGHTS_FILE} (a published ELMo, or `elmo-keras train` output); an "
    f"`elmo-keras export-hub` directory ({SAVED_MODEL_FILE}); a TF Hub ELMo module "
    f"directory ({HUB_MODULE_FILE}, e.g. google/elmo/3 extracted) or its handle "
    "(https://tfhub.dev/google/elmo/3, its Kaggle URL or a module tarball URL, "
    f"downloaded on first use); or a .keras file "
    "holding an ELMo")


class classproperty(property):  # noqa: N801 (named as keras-hub's)
    """A read-only property of the class (`ELMo.presets`)."""

    def __get__(self, obj, owner=None):
        return self.fget(owner)


# ----------------------------------------------------------------------------- registry
def list_presets():
    """`{name: {"description", "params", "bundled", "download_size", "source",
    "license", "path", ...}}` of the registered presets: the bundled one, then the
    published ones (downloaded on first use; see `published_download.list_published`).
    Nothing is downloaded."""
    listing = {}
    for name, entry in REGISTRY.items():
        metadata = _read_json(entry["path"] / METADATA_FILE)
        listing[name] = {
            "description": entry["description"],
            "params": metadata.get("parameter_count"),
            "bundled": True,
            "download_size": None,
            "source": entry["source"],
            "license": entry["license"],
            "path": str(entry["path"]),
        }
    listing.update(published_download.list_published())
    return listing


def preset_dir(preset):
    """The directory a registered name or directory path stands for (a published
    model's is downloaded on first use), or None (a `.keras` file, an `ELMo`)."""
    if isinstance(preset, str) and preset in REGISTRY:
        return REGISTRY[preset]["path"]
    if isinstance(preset, str) and preset in PUBLISHED:
        return pathlib.Path(published_download.published_dir(preset))  # cached after once
    if isinstance(preset, str) and hub_handles.is_hub_handle(preset):
        return hub_handles.fetch_hub_module(preset)  # downloaded, checked, cached
    if isinstance(preset, (str, os.PathLike)) and os.path.isdir(preset):
        return pathlib.Path(preset)
    return None


# ----------------------------------------------------------------------------- resolver
def resolve_preset(preset, cls=None):
    """What `preset` names, without loading it: the one resolution behind every
    `from_preset`.

    Args:
        preset: a model, a registered name, or a path (see the module docstring).
        cls: the model class a model instance must be (None: any Keras model).

    Returns:
        `(kind, where)`: `("model", the model)`, `("preset" | "bilm" | "export" |
        "tfhub", directory)` for a directory of that layout (a registered name is a
        "bilm" directory), or `("keras", path)` for a `.keras` file.

    Raises:
        PresetError: `preset` is none of the accepted forms (the message names it and
            lists them), or a directory holds none of the model layouts.
    """
    if isinstance(preset, cls or keras.Model):
        return "model", preset
    if not isinstance(preset, (str, os.PathLike)):
        raise PresetError(f"preset must be a name or a path, got {type(preset).__name__}; "
                          f"accepted: {ACCEPTED}")
    path = os.fspath(preset)
    directory = preset_dir(preset)
    if directory is not None:
        return _layout(directory, path), directory
    if path.endswith(".keras") and os.path.exists(path):
        return "keras", model_files.regular_file(path, PresetError, ".keras file")
    if os.path.exists(path):
        what = "a file that is not .keras"
    elif os.sep in path or "/" in path or path.endswith(".keras"):
        what = "no such file or directory"
    else:
        what = "not a registered name, and no such file or directory"
    raise PresetError(f"{path!r}: {what}. Accepted: {ACCEPTED}")


def _layout(directory, given):
    """Which model layout `directory` holds: "tfhub", "preset", "bilm" or "export"."""
    files = {p.name for p in directory.iterdir()}
    if HUB_MODULE_FILE in files:  # before "export": a hub module holds saved_model.pb too
        return "tfhub"
    if CONFIG_FILE in files:
        return "preset"
    if BILM_OPTIONS_FILE in files and BILM_WEIGHTS_FILE in files:
        return "bilm"
    if SAVED_MODEL_FILE in files:
        return "export"
    shown = ", ".join(sorted(files)[:8]) or "nothing"
    raise PresetError(f"{given!r}: a directory holding {shown}; none of the model layouts. "
                      f"Accepted: {ACCEPTED}")


def get_preset_loader(kind):
    """The loader of a layout `resolve_preset` names: a function
    `(cls, where, overrides) -> model` (keras-hub's `get_preset_loader`)."""
    return _LOADERS[kind]


def load_preset(cls, preset, **kwargs):
    """The model of class `cls` that `preset` stands for (see the module docstring).

    Args:
        cls: the model class (`ELMo`): built from the files' config, or checked against
            a model given or held in a `.keras` file.
        preset: a model, a registered name, or a path.
        **kwargs: constructor arguments to override (`stateful`, `max_batch_size`,
            `do_layer_norm`, `l2_coef`, `num_output_representations`, `dtype`, ...);
            a None is given as None (no clip, no penalty); `dtype="auto"`: float32,
            or bfloat16 where it pays (`elmo_precision.resolve_auto_dtype`). A model
            given (or in a `.keras` file) whose config they change is rebuilt with
            them and its weights.

    Raises:
        PresetError: `preset` is none of the accepted forms (the message lists them), or
            a preset's files are not regular files, too large, hold sizes above their
            bounds, or weights with NaN or infinity.
        OptionsError, WeightFileError: bilm-tf files that are there but broken.
    """
    kind, where = resolve_preset(preset, cls)
    if kwargs.get("dtype") == "auto":
        return resolve_auto_dtype(get_preset_loader(kind)(cls, where,
                                                          {**kwargs, "dtype": "float32"}))
    return get_preset_loader(kind)(cls, where, kwargs)


def resolve_model(cls, model=None, options=None, weights=None, default="elmo_small_en",
                  **kwargs):
    """`model=` (any preset form), or `options=` + `weights=` (bilm-tf files), or neither
    (`default`): the one choice behind `ELMoEmbedding` and the command line.

    Raises:
        PresetError: both kinds given, or only one of options/weights.
    """
    if model is not None:
        if options is not None or weights is not None:
            raise PresetError("give either a model (preset) or options + weights, not both")
        return load_preset(cls, model, **kwargs)
    if options is None and weights is None:
        return load_preset(cls, default, **kwargs)
    if options is None or weights is None:
        raise PresetError("options (options.json) and weights (weights.hdf5) go together; "
                          f"or give a model (preset), or neither for {default}")
    return load_bilm_files(cls, options, weights, **kwargs)


def tokenizer_config(preset):
    """The `ELMoTokenizer` config a preset records (its `tokenizer.json`), or None for
    a preset that records none (a model, a `.keras` file, a directory without one).

    `preset` is resolved as `load_preset` resolves it (`resolve_preset`), so a value
    that names no model raises the same `PresetError` here.

    Raises:
        PresetError: `preset` names no model, or its `tokenizer.json` is not a regular
            file, too large, not JSON, or not an ELMoTokenizer config.
    """
    if isinstance(preset, str) and preset in PUBLISHED:
        return None  # bilm-tf files record no tokenizer: whitespace splitting
    kind, where = resolve_preset(preset)
    if kind in ("model", "keras", "tfhub"):
        return None
    path = where / TOKENIZER_FILE
    if not os.path.lexists(path):
        return None
    data = model_files.read_json(path, PresetError, "tokenizer config")
    config = data.get("config")
    if data.get("class_name") != "ELMoTokenizer" or not isinstance(config, dict):
        raise PresetError(f"{path}: not an ELMoTokenizer config")
    return config


# ----------------------------------------------------------------------------- loaders
def _from_model(cls, model, kwargs, source="the given model"):
    """`model` itself when `kwargs` change nothing in its config; else a new `cls`
    from its config and `kwargs`, holding its weights (matched by weight path: a
    `stateful` model adds state variables, another `num_output_representations`
    mixes)."""
    config = model.get_config()
    if all(_same_setting(model, config, k, v) for k, v in kwargs.items()):
        return model
    rebuilt = cls.from_config({**config, **kwargs})
    saved = {w.path: w for w in model.weights}
    for w in rebuilt.weights:
        if w.path in saved:
            w.assign(keras.ops.cast(saved.pop(w.path).value, w.dtype))
    if saved:
        raise PresetError(f"{source}: weights {sorted(saved)[:3]} do not fit the model with "
                          f"{kwargs}")
    return rebuilt


def _same_setting(model, config, key, value):
    if key == "dtype":
        return keras.dtype_policies.get(value).name == model.dtype_policy.name
    return key in config and config[key] == value


def load_bilm_files(cls, options_path, weights_path, **kwargs):
    """A `cls` model from bilm-tf's `options.json` and `weights.hdf5` (see
    `elmo_keras.load_bilm`).

    Raises:
        OptionsError: bad options file. WeightFileError: bad weight file.
    """
    if kwargs.get("dtype") == "auto":
        return resolve_auto_dtype(load_bilm_files(cls, options_path, weights_path,
                                                  **{**kwargs, "dtype": "float32"}))
    options = load_options(options_path)  # its sizes within their bounds
    try:
        with weights_assigned_next():  # every random weight is the file's (checked there)
            model = cls(**options.model_kwargs(), **kwargs)
    except ValueError as e:
        raise OptionsError(f"{options_path}: {e}") from None
    return load_bilm_weights(model, weights_path)


def _load_bilm_dir(cls, directory, kwargs):
    return load_bilm_files(cls, directory / BILM_OPTIONS_FILE, directory / BILM_WEIGHTS_FILE,
                           **kwargs)


def _load_export(cls, directory, kwargs):
    """An `export_hub` directory: its recorded config and its checkpoint's weights."""
    from elmo_keras.io.saved_model import CONFIG_ASSET, read_export_config, read_export_weights

    config = {**read_export_config(directory), **kwargs}
    try:
        with weights_assigned_next():  # the checkpoint holds every weight (read next)
            model = cls.from_config(config)
    except (ValueError, TypeError, KeyError) as e:
        config_path = os.path.join(os.fspath(directory), "assets", CONFIG_ASSET)
        raise PresetError(f"{config_path}: not a valid ELMo config ({e})") from None
    values = read_export_weights(directory, [(w.path, tuple(w.shape)) for w in model.weights])
    for w, value in zip(model.weights, values):
        w.assign(value.astype(w.dtype, copy=False))
    return model


def _load_hub(cls, path, kwargs):
    """Google's TF Hub ELMo module, read as data (`read_hub_module`)."""
    source = os.fspath(path)
    options, weights = read_hub_module(path)
    with weights_assigned_next():
        model = cls(**hub_model_kwargs(options, kwargs, source))
    return assign_hub_weights(model, weights, source)


def _load_preset_dir(cls, directory, kwargs):
    """A `save_to_preset` directory: `config.json`, then `model.weights.h5` (or bilm-tf's
    `weights.hdf5` when it is the only one)."""
    with weights_assigned_next():  # from the weights file, which must hold all of them
        model = _model_from_config(cls, directory / CONFIG_FILE, kwargs)
    weights = directory / WEIGHTS_FILE
    if not os.path.lexists(weights):
        if not os.path.lexists(directory / BILM_WEIGHTS_FILE):
            raise PresetError(f"{directory}: has {CONFIG_FILE} but neither {WEIGHTS_FILE} "
                              f"nor {BILM_WEIGHTS_FILE}")
        return load_bilm_weights(model, directory / BILM_WEIGHTS_FILE)  # checked there
    # Regular, no more values than the model holds (a small compressed file cannot
    # unpack into more), then loaded, then no NaN or infinity.
    model_files.check_hdf5_sizes(weights, _values_bound(model), PresetError,
                                 "weights file")
    try:
        model.load_weights(weights)
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise PresetError(f"{weights}: these weights do not fit the model of "
                          f"{CONFIG_FILE}: {_one_line(e)}") from None
    model_files.check_finite_weights(model.weights, PresetError, str(weights))
    return model


def _model_from_config(cls, config_path, kwargs):
    """A `cls` model from a preset's config.json, its sizes checked before it is
    built."""
    config = model_files.read_json(config_path, PresetError, "model config")
    if config.get("class_name") != cls.__name__ or not isinstance(config.get("config"),
                                                                   dict):
        raise PresetError(f"{config_path}: holds a {config.get('class_name')!r:.60} config, "
                          f"not an {cls.__name__}")
    # What the file says is bounded; the caller's own arguments are the caller's.
    check_model_config(config["config"], str(config_path), PresetError)
    try:
        return cls.from_config({**config["config"], **kwargs})
    except (ValueError, TypeError, KeyError) as e:
        raise PresetError(f"{config_path}: not a valid ELMo config ({_one_line(e)})") from None


def _load_keras_file(cls, path, kwargs):
    """A `.keras` file holding a `cls` model, its config and sizes checked as data
    before Keras builds anything from it (in safe mode)."""
    if not zipfile.is_zipfile(path):
        raise PresetError(f"{path}: not a .keras model file (not a zip archive)")
    # An ELMo's sizes within their bounds, and the archive no larger than such a model
    # needs.
    config = model_files.read_archive_json(path, "config.json", PresetError, ".keras file")
    max_values = MAX_PARAMETERS
    if config is not None and config.get("class_name") == cls.__name__:
        if not isinstance(config.get("config"), dict):
            raise PresetError(f"{path}: cannot load this .keras file: its config.json has "
                              "no ELMo config")
        options = check_model_config(config["config"], f"{path}/config.json", PresetError)
        outputs = config["config"].get("num_output_representations", 1)
        max_values = 2 * options.parameter_count(outputs) + 1_000_000
    model_files.check_archive_sizes(path, 8 * max_values + (16 << 20), PresetError,
                                    ".keras file")
    model_files.check_archive_hdf5_sizes(path, WEIGHTS_FILE, max_values, PresetError,
                                         ".keras file's weights")
    # Safe mode: a Lambda layer or other code in the file is refused. Keras fills every
    # weight from the archive and refuses one that lacks a layer's (ValueError).
    try:
        with weights_assigned_next():
            loaded = keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise PresetError(f"{path}: cannot load this .keras file: {_one_line(e)}") from None
    if not isinstance(loaded, cls):
        raise PresetError(f"{path}: holds a {type(loaded).__name__}, not an {cls.__name__}")
    model_files.check_finite_weights(loaded.weights, PresetError, path)
    return _from_model(cls, loaded, kwargs, source=path)


_LOADERS = {
    "model": _from_model,
    "keras": _load_keras_file,
    "preset": _load_preset_dir,
    "bilm": _load_bilm_dir,
    "export": _load_export,
    "tfhub": _load_hub,
}


# ----------------------------------------------------------------------------- saver
def save_to_preset(model, preset_dir, tokenizer):
    """Writes `model` as a preset directory: keras-hub's layout (`config.json`,
    `model.weights.h5`, `metadata.json`, `tokenizer.json`) and bilm-tf's
    `options.json` + `weights.hdf5`, so bilm-tf and AllenNLP read it too.

    Args:
        model: an `ELMo`.
        preset_dir: the directory (created; must not hold a preset already).
        tokenizer: the `ELMoTokenizer` to record.

    Returns:
        `preset_dir` as a `pathlib.Path`.

    Raises:
        FileExistsError: `preset_dir` holds a preset's files already.
    """
    out = pathlib.Path(preset_dir)
    names = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, TOKENIZER_FILE, BILM_OPTIONS_FILE,
             BILM_WEIGHTS_FILE)
    existing = [n for n in names if (out / n).exists()]
    if existing:
        raise FileExistsError(f"{out}: already holds {', '.join(existing)}; choose a new "
                              "directory")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / CONFIG_FILE, keras.saving.serialize_keras_object(model))
    model.save_weights(out / WEIGHTS_FILE)
    _write_json(out / TOKENIZER_FILE, keras.saving.serialize_keras_object(tokenizer))
    _write_json(out / METADATA_FILE, {
        "keras_version": keras.version(),
        "elmo_keras_version": __version__,
        "parameter_count": int(model.count_params()),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
    })
    save_bilm(model, out / BILM_OPTIONS_FILE, out / BILM_WEIGHTS_FILE)
    return out


def _values_bound(model):
    """The most values a weight file of `model` may hold: its weights, with room."""
    return 2 * sum(int(np.prod(w.shape)) for w in model.weights) + 1_000_000


def _one_line(error):
    return " ".join(str(error).split())[:300]


def _read_json(path):
    """A preset's JSON file through the safe reader ({} when it is missing)."""
    if not os.path.lexists(path):
        return {}
    return model_files.read_json(path, PresetError, "JSON file")


def _write_json(path, data):
    with atomic_output(path, what="preset file") as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
