"""Named pretrained ELMo models, and the one resolver every entry point uses.

`ELMo.from_preset(preset)` (and `ELMoEmbedding`, `ELMoTextClassifier`, `ELMoTokenizer`,
`ELMoTextEmbedder`, the command line's `--model`, the notebooks, the examples) resolves
`preset` here. Accepted forms, tried in this order:

1. a registered name (`ELMo.presets` lists them): `"elmo_small_en"`, whose files ship
   inside the package, or one of AllenNLP's published models
   (`elmo_allennlp_{small,medium,original,original_5_5b}_en`), downloaded into the Keras
   cache on first use and checked (`published_presets`);
2. a preset directory written by `ELMo.save_to_preset` (keras-hub's layout:
   `config.json`, `model.weights.h5`, `metadata.json`, `tokenizer.json`);
3. a directory holding bilm-tf's `options.json` + `weights.hdf5` (a published ELMo, or
   what `elmo-keras train` writes);
4. a directory written by `elmo-keras export-hub` / `export_hub` (needs TensorFlow);
5. a directory holding Google's TF Hub ELMo module (`tfhub_module.pb`; `google/elmo/2`
   or `/3` extracted), its variables read as data (`elmo_keras.io.tfhub_module`; needs
   TensorFlow);
6. a `.keras` file holding an `ELMo`.

Anything else raises `PresetError`, naming what was tried and what is accepted.
`resolve_preset` is that resolution, shared by every `from_preset` (`ELMo`,
`ELMoTokenizer`, the task models), so each accepts and refuses the same values.
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

import numpy as np

from elmo_keras.io import model_files
from elmo_keras.io.bilm_options import MAX_PARAMETERS, check_model_config
from elmo_keras.models.elmo import published_presets

PRESETS_DIR = pathlib.Path(__file__).resolve().parent / "presets"

# name -> description and the folder (inside the package) holding its files.
REGISTRY = {
    "elmo_small_en": {
        "description": (
            "English ELMo trained by this project on 5.6M tokens of public-domain and "
            "freely licensed text (Gutenberg books, State of the Union addresses, the "
            "Brown corpus): char CNN (512 filters, 1 highway), 2 biLSTM layers of 512 "
            "cells projected to 128; test perplexity 115.1. See its MODEL_CARD.md."),
        "path": PRESETS_DIR / "elmo_small_en",
    },
}

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
TOKENIZER_FILE = "tokenizer.json"
BILM_OPTIONS_FILE = "options.json"
BILM_WEIGHTS_FILE = "weights.hdf5"

ACCEPTED = (
    f"a registered name ({', '.join(sorted(REGISTRY) + sorted(published_presets.PUBLISHED))}"
    "; the published ones are downloaded on first use); a preset directory "
    f"({CONFIG_FILE} + {WEIGHTS_FILE} or {BILM_WEIGHTS_FILE}, written by "
    f"save_to_preset); a directory with bilm-tf's {BILM_OPTIONS_FILE} + "
    f"{BILM_WEIGHTS_FILE} (a published ELMo, or `elmo-keras train` output); an "
    "`elmo-keras export-hub` directory (saved_model.pb); a TF Hub ELMo module directory "
    "(tfhub_module.pb, e.g. google/elmo/3 extracted); or a .keras file holding an ELMo")


class PresetError(ValueError):
    """A preset value that names no model this package can load."""


class classproperty(property):  # noqa: N801 (named as keras-hub's)
    """A read-only property of the class (`ELMo.presets`)."""

    def __get__(self, obj, owner=None):
        return self.fget(owner)


def list_presets():
    """`{name: {"description", "params", "bundled", "download_size", "source",
    "license", "path", ...}}` of the registered presets: the bundled one, then the
    published ones (downloaded on first use; see `published_presets.list_published`).
    Nothing is downloaded."""
    listing = {}
    for name, entry in REGISTRY.items():
        metadata = _read_json(entry["path"] / METADATA_FILE)
        listing[name] = {
            "description": entry["description"],
            "params": metadata.get("parameter_count"),
            "bundled": True,
            "download_size": None,
            "source": "elmo-keras (trained by this project)",
            "license": "Apache-2.0",
            "path": str(entry["path"]),
        }
    listing.update(published_presets.list_published())
    return listing


def preset_dir(preset):
    """The directory a registered name or directory path stands for, or None (a
    `.keras` file, an `ELMo`)."""
    if isinstance(preset, str) and preset in REGISTRY:
        return REGISTRY[preset]["path"]
    if isinstance(preset, str) and preset in published_presets.PUBLISHED:
        return pathlib.Path(published_presets.published_dir(preset))  # cached after once
    if isinstance(preset, (str, os.PathLike)) and os.path.isdir(preset):
        return pathlib.Path(preset)
    return None


def resolve_preset(preset):
    """What `preset` names, without loading it: the one resolution behind every
    `from_preset`.

    Args:
        preset: an `ELMo`, a registered name, or a path (see the module docstring).

    Returns:
        `(kind, where)`: `("model", the ELMo)`, `("preset" | "bilm" | "export" | "tfhub",
        directory)` for a directory of that layout (a registered name is a "bilm"
        directory), or `("keras", path)` for a `.keras` file.

    Raises:
        PresetError: `preset` is none of the accepted forms (the message names it and
            lists them), or a directory holds none of the model layouts.
    """
    from elmo_keras.models.elmo.elmo_backbone import ELMo

    if isinstance(preset, ELMo):
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


def load_elmo(preset, **kwargs):
    """The `ELMo` that `preset` stands for (see the module docstring for the forms).

    Args:
        preset: an `ELMo` (returned as it is), a registered name, or a path.
        **kwargs: `ELMo` constructor arguments to override (`stateful`,
            `max_batch_size`, `do_layer_norm`, `l2_coef`, `num_output_representations`,
            `dtype`, ...); None values are ignored.

    Raises:
        PresetError: `preset` is none of the accepted forms (the message lists them), or
            a preset's files are not regular files, too large, hold sizes above their
            bounds, or weights with NaN or infinity.
        OptionsError, WeightFileError: bilm-tf files that are there but broken.
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kind, where = resolve_preset(preset)
    if kind == "model":
        return where
    if kind == "keras":
        return _load_keras_file(where, kwargs)
    return _load_directory(kind, where, kwargs)


def resolve_model(model=None, options=None, weights=None, default="elmo_small_en",
                  **kwargs):
    """`model=` (any preset form), or `options=` + `weights=` (bilm-tf files), or neither
    (`default`): the one choice behind `ELMoEmbedding` and the command line.

    Raises:
        PresetError: both kinds given, or only one of options/weights.
    """
    if model is not None:
        if options is not None or weights is not None:
            raise PresetError("give either a model (preset) or options + weights, not both")
        return load_elmo(model, **kwargs)
    if options is None and weights is None:
        return load_elmo(default, **kwargs)
    if options is None or weights is None:
        raise PresetError("options (options.json) and weights (weights.hdf5) go together; "
                          f"or give a model (preset), or neither for {default}")
    from elmo_keras.io.bilm_hdf5 import load_bilm

    return load_bilm(options, weights, **{k: v for k, v in kwargs.items() if v is not None})


def tokenizer_config(preset):
    """The `ELMoTokenizer` config a preset records (its `tokenizer.json`), or None for
    a preset that records none (an `ELMo`, a `.keras` file, a directory without one).

    `preset` is resolved as `load_elmo` resolves it (`resolve_preset`), so a value that
    names no model raises the same `PresetError` here.

    Raises:
        PresetError: `preset` names no model, or its `tokenizer.json` is not a regular
            file, too large, not JSON, or not an ELMoTokenizer config.
    """
    if isinstance(preset, str) and preset in published_presets.PUBLISHED:
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


def save_preset(model, preset_dir, tokenizer=None):
    """Writes `model` as a preset directory: keras-hub's layout (`config.json`,
    `model.weights.h5`, `metadata.json`, `tokenizer.json`) and bilm-tf's
    `options.json` + `weights.hdf5`, so bilm-tf and AllenNLP read it too.

    Args:
        model: an `ELMo`.
        preset_dir: the directory (created; must not hold a preset already).
        tokenizer: the `ELMoTokenizer` to record (default: whitespace splitting).

    Returns:
        `preset_dir` as a `pathlib.Path`.
    """
    import keras

    from elmo_keras import __version__
    from elmo_keras.io.bilm_hdf5 import save_bilm
    from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer

    out = pathlib.Path(preset_dir)
    names = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, TOKENIZER_FILE, BILM_OPTIONS_FILE,
             BILM_WEIGHTS_FILE)
    existing = [n for n in names if (out / n).exists()]
    if existing:
        raise FileExistsError(f"{out}: already holds {', '.join(existing)}; choose a new "
                              "directory")
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        tokenizer = ELMoTokenizer(max_characters_per_token=model.max_characters_per_token)
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


def _layout(directory, given):
    """Which model layout `directory` holds: "tfhub", "preset", "bilm" or "export"."""
    files = {p.name for p in directory.iterdir()}
    if "tfhub_module.pb" in files:  # before "export": a hub module holds saved_model.pb too
        return "tfhub"
    if CONFIG_FILE in files:
        return "preset"
    if BILM_OPTIONS_FILE in files and BILM_WEIGHTS_FILE in files:
        return "bilm"
    if "saved_model.pb" in files:
        return "export"
    shown = ", ".join(sorted(files)[:8]) or "nothing"
    raise PresetError(f"{given!r}: a directory holding {shown}; none of the model layouts. "
                      f"Accepted: {ACCEPTED}")


def _load_directory(kind, directory, kwargs):
    from elmo_keras.io.bilm_hdf5 import load_bilm, load_bilm_weights

    if kind == "bilm":
        return load_bilm(directory / BILM_OPTIONS_FILE, directory / BILM_WEIGHTS_FILE,
                         **kwargs)
    if kind == "export":
        from elmo_keras.io.saved_model import load_exported_elmo

        return load_exported_elmo(directory, **kwargs)
    if kind == "tfhub":
        from elmo_keras.io.tfhub_module import load_hub_module

        return load_hub_module(directory, **kwargs)
    model = _model_from_config(directory / CONFIG_FILE, kwargs)
    weights = directory / WEIGHTS_FILE
    if not os.path.lexists(weights):
        if not os.path.lexists(directory / BILM_WEIGHTS_FILE):
            raise PresetError(f"{directory}: has {CONFIG_FILE} but neither {WEIGHTS_FILE} "
                              f"nor {BILM_WEIGHTS_FILE}")
        load_bilm_weights(model, directory / BILM_WEIGHTS_FILE)  # checked there
        return model
    # Regular, no more values than the model holds (a small compressed file cannot
    # unpack into more), then loaded, then no NaN or infinity.
    model_files.check_hdf5_sizes(weights, _values_bound(model), PresetError,
                                 "weights file")
    try:
        model.load_weights(weights)
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise PresetError(f"{weights}: these weights do not fit the model of "
                          f"{CONFIG_FILE}: {' '.join(str(e).split())[:300]}") from None
    model_files.check_finite_weights(model.weights, PresetError, str(weights))
    return model


def _model_from_config(config_path, kwargs):
    """An `ELMo` from a preset's config.json, its sizes checked before it is built."""
    from elmo_keras.models.elmo.elmo_backbone import ELMo

    config = model_files.read_json(config_path, PresetError, "model config")
    if config.get("class_name") != "ELMo" or not isinstance(config.get("config"), dict):
        raise PresetError(f"{config_path}: holds a {config.get('class_name')!r:.60} config, "
                          "not an ELMo")
    # What the file says is bounded; the caller's own arguments are the caller's.
    check_model_config(config["config"], str(config_path), PresetError)
    try:
        return ELMo.from_config({**config["config"], **kwargs})
    except (ValueError, TypeError, KeyError) as e:
        raise PresetError(f"{config_path}: not a valid ELMo config "
                          f"({' '.join(str(e).split())[:300]})") from None


def _values_bound(model):
    """The most values a weight file of `model` may hold: its weights, with room."""
    return 2 * sum(int(np.prod(w.shape)) for w in model.weights) + 1_000_000


def _load_keras_file(path, kwargs):
    import keras

    from elmo_keras.models.elmo.elmo_backbone import ELMo

    if not zipfile.is_zipfile(path):
        raise PresetError(f"{path}: not a .keras model file (not a zip archive)")
    # The config is checked as data before Keras builds anything from it: an ELMo's
    # sizes within their bounds, and the archive no larger than such a model needs.
    config = model_files.read_archive_json(path, "config.json", PresetError, ".keras file")
    max_values = MAX_PARAMETERS
    if config is not None and config.get("class_name") == "ELMo":
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
    try:  # safe mode: a Lambda layer or other code in the file is refused
        loaded = keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise PresetError(f"{path}: cannot load this .keras file: "
                          f"{' '.join(str(e).split())[:300]}") from None
    if not isinstance(loaded, ELMo):
        raise PresetError(f"{path}: holds a {type(loaded).__name__}, not an ELMo")
    model_files.check_finite_weights(loaded.weights, PresetError, path)
    if not kwargs:
        return loaded
    model = ELMo.from_config({**loaded.get_config(), **kwargs})
    saved = {w.path: w for w in loaded.weights}
    for w in model.weights:  # by path: `stateful` adds state variables
        if w.path in saved:
            w.assign(saved.pop(w.path))
    if saved:
        raise PresetError(f"{path}: weights {sorted(saved)[:3]} do not fit the model with "
                          f"{kwargs}")
    return model


def _read_json(path):
    """A preset's JSON file through the safe reader ({} when it is missing)."""
    if not os.path.lexists(path):
        return {}
    return model_files.read_json(path, PresetError, "JSON file")


def _write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
