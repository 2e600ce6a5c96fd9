"""Named pretrained ELMo models, and the one resolver every entry point uses.

`ELMo.from_preset(preset)` (and `ELMoEmbedding`, `ELMoTextClassifier`, `ELMoTokenizer`,
`ELMoTextEmbedder`, the command line's `--model`, the notebooks, the examples) resolves
`preset` here. Accepted forms, tried in this order:

1. a registered name: `"elmo_small_en"` (`ELMo.presets` lists them); its files ship
   inside the package, nothing is downloaded;
2. a preset directory written by `ELMo.save_to_preset` (keras-hub's layout:
   `config.json`, `model.weights.h5`, `metadata.json`, `tokenizer.json`);
3. a directory holding bilm-tf's `options.json` + `weights.hdf5` (a published ELMo, or
   what `elmo-keras train` writes);
4. a directory written by `elmo-keras export-hub` / `export_hub` (needs TensorFlow);
5. a `.keras` file holding an `ELMo`.

Anything else raises `PresetError`, naming what was tried and what is accepted.
Loading never runs code from the files: configs are read as data, weights as arrays.
"""

import datetime
import json
import os
import pathlib
import zipfile

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
    f"a registered name ({', '.join(sorted(REGISTRY))}); a preset directory "
    f"({CONFIG_FILE} + {WEIGHTS_FILE} or {BILM_WEIGHTS_FILE}, written by "
    f"save_to_preset); a directory with bilm-tf's {BILM_OPTIONS_FILE} + "
    f"{BILM_WEIGHTS_FILE} (a published ELMo, or `elmo-keras train` output); an "
    "`elmo-keras export-hub` directory (saved_model.pb); or a .keras file holding an ELMo")


class PresetError(ValueError):
    """A preset value that names no model this package can load."""


class classproperty(property):  # noqa: N801 (named as keras-hub's)
    """A read-only property of the class (`ELMo.presets`)."""

    def __get__(self, obj, owner=None):
        return self.fget(owner)


def list_presets():
    """`{name: {"description", "params", "path"}}` of the registered presets."""
    listing = {}
    for name, entry in REGISTRY.items():
        metadata = _read_json(entry["path"] / METADATA_FILE)
        listing[name] = {
            "description": entry["description"],
            "params": metadata.get("parameter_count"),
            "path": str(entry["path"]),
        }
    return listing


def preset_dir(preset):
    """The directory a registered name or directory path stands for, or None (a
    `.keras` file, an `ELMo`)."""
    if isinstance(preset, str) and preset in REGISTRY:
        return REGISTRY[preset]["path"]
    if isinstance(preset, (str, os.PathLike)) and os.path.isdir(preset):
        return pathlib.Path(preset)
    return None


def load_elmo(preset, **kwargs):
    """The `ELMo` that `preset` stands for (see the module docstring for the forms).

    Args:
        preset: an `ELMo` (returned as it is), a registered name, or a path.
        **kwargs: `ELMo` constructor arguments to override (`stateful`,
            `max_batch_size`, `do_layer_norm`, `l2_coef`, `num_output_representations`,
            `dtype`, ...); None values are ignored.

    Raises:
        PresetError: `preset` is none of the accepted forms (the message lists them).
        OptionsError, WeightFileError: the files are there but broken.
    """
    from elmo_keras.models.elmo.elmo_backbone import ELMo

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if isinstance(preset, ELMo):
        return preset
    if not isinstance(preset, (str, os.PathLike)):
        raise PresetError(f"preset must be a name or a path, got {type(preset).__name__}; "
                          f"accepted: {ACCEPTED}")
    path = os.fspath(preset)
    directory = preset_dir(preset)
    if directory is not None:
        return _load_directory(directory, path, kwargs)
    if os.path.isfile(path) and path.endswith(".keras"):
        return _load_keras_file(path, kwargs)
    if os.path.exists(path):
        what = "a file that is not .keras"
    elif os.sep in path or "/" in path or path.endswith(".keras"):
        what = "no such file or directory"
    else:
        what = "not a registered name, and no such file or directory"
    raise PresetError(f"{path!r}: {what}. Accepted: {ACCEPTED}")


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
    """The `ELMoTokenizer` config a preset records (its `tokenizer.json`), or None."""
    directory = preset_dir(preset)
    if directory is None or not (directory / TOKENIZER_FILE).is_file():
        return None
    data = _read_json(directory / TOKENIZER_FILE)
    if data.get("class_name") != "ELMoTokenizer" or not isinstance(data.get("config"), dict):
        raise PresetError(f"{directory / TOKENIZER_FILE}: not an ELMoTokenizer config")
    return data["config"]


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


def _load_directory(directory, given, kwargs):
    from elmo_keras.io.bilm_hdf5 import load_bilm, load_bilm_weights
    from elmo_keras.models.elmo.elmo_backbone import ELMo

    files = {p.name for p in directory.iterdir()}
    if CONFIG_FILE in files:
        config = _read_json(directory / CONFIG_FILE)
        if config.get("class_name") != "ELMo" or not isinstance(config.get("config"), dict):
            raise PresetError(f"{directory / CONFIG_FILE}: holds a "
                              f"{config.get('class_name')!r} config, not an ELMo")
        model = ELMo.from_config({**config["config"], **kwargs})
        if WEIGHTS_FILE in files:
            model.load_weights(directory / WEIGHTS_FILE)
        elif BILM_WEIGHTS_FILE in files:
            load_bilm_weights(model, directory / BILM_WEIGHTS_FILE)
        else:
            raise PresetError(f"{directory}: has {CONFIG_FILE} but neither {WEIGHTS_FILE} "
                              f"nor {BILM_WEIGHTS_FILE}")
        return model
    if BILM_OPTIONS_FILE in files and BILM_WEIGHTS_FILE in files:
        return load_bilm(directory / BILM_OPTIONS_FILE, directory / BILM_WEIGHTS_FILE,
                         **kwargs)
    if "saved_model.pb" in files:
        from elmo_keras.io.saved_model import load_exported_elmo

        return load_exported_elmo(directory, **kwargs)
    shown = ", ".join(sorted(files)[:8]) or "nothing"
    raise PresetError(f"{given!r}: a directory holding {shown}; none of the model layouts. "
                      f"Accepted: {ACCEPTED}")


def _load_keras_file(path, kwargs):
    import keras

    from elmo_keras.models.elmo.elmo_backbone import ELMo

    if not zipfile.is_zipfile(path):
        raise PresetError(f"{path}: not a .keras model file (not a zip archive)")
    try:  # safe mode: a Lambda layer or other code in the file is refused
        loaded = keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise PresetError(f"{path}: cannot load this .keras file: "
                          f"{' '.join(str(e).split())[:300]}") from None
    if not isinstance(loaded, ELMo):
        raise PresetError(f"{path}: holds a {type(loaded).__name__}, not an ELMo")
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
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise PresetError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path}: expected a JSON object")
    return data


def _write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
