"""A replica of Google's TF Hub ELMo module, built from random bilm-tf weights, and
tarballs of it (for `tests/io/test_tfhub_module.py` and
`tests/models/test_hub_handles.py`).

The replica has the module's TF1 Hub layout: `variables/variables.{index,data-*}`
written with `SaveV2` under the module's variable names (bilm-tf's names renamed by
`elmo_keras.io.tfhub_module.bilm_to_hub_name`, `bilm/char_embed` with a padding row in
front, `aggregation/weights` and `aggregation/scaling`), and empty `saved_model.pb` and
`tfhub_module.pb` placeholders (the reader never opens them). Building one needs
TensorFlow.
"""

import io
import pathlib
import tarfile

import h5py
import numpy as np

import elmo_keras
from elmo_keras.io import tfhub_module as hub

#: A tiny architecture with every part: 3 filters, a highway layer, a CNN projection
#: (the filters sum to 20, the LSTM projection is 8), 2 projected layers.
OPTIONS = {
    "char_cnn": {"activation": "relu", "embedding": {"dim": 4},
                 "filters": [[1, 4], [2, 8], [3, 8]], "max_characters_per_token": 50,
                 "n_characters": 262, "n_highway": 1},
    "lstm": {"cell_clip": 3, "dim": 16, "n_layers": 2, "proj_clip": 3,
             "projection_dim": 8, "use_skip_connections": True},
}


def bilm_datasets(path):
    """Every dataset of a `weights.hdf5`: `{name: array}`."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[...]) if isinstance(o, h5py.Dataset)
                     else None)
    return out


def write_checkpoint(prefix, variables):
    """A TF checkpoint at `prefix` holding `variables` (`{name: array}`)."""
    import tensorflow as tf

    names = sorted(variables)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names,
                      shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(variables[n]) for n in names])


def hub_variables(bilm_weights, mix_weights, scaling, padding_row):
    """A module's variables from bilm-tf datasets (the renaming the reader undoes)."""
    variables = {hub.bilm_to_hub_name(n): np.asarray(v, "float32")
                 for n, v in bilm_weights.items()}
    emb = variables["bilm/char_embed"]
    variables["bilm/char_embed"] = np.concatenate([padding_row[None], emb]).astype("float32")
    variables["aggregation/weights"] = np.asarray(mix_weights, "float32")
    variables["aggregation/scaling"] = np.asarray(scaling, "float32")
    return variables


def write_module(directory, variables):
    """A TF1 Hub module directory holding `variables`; returns `directory`."""
    (directory / "variables").mkdir(parents=True)
    write_checkpoint(directory / "variables" / "variables", variables)
    (directory / "saved_model.pb").write_bytes(b"")
    (directory / "tfhub_module.pb").write_bytes(b"")
    return directory


def build_replica(root, options=OPTIONS, seed=0):
    """A replica module in `root / "module"`, from a random model of `options` also
    written as bilm-tf files (`root / "options.json"`, `root / "weights.hdf5"`).

    Returns:
        `{"root", "module", "bilm_weights", "variables", "mix", "scaling"}`: the
        module directory, the bilm-tf datasets it came from, its variables, and its
        scalar mix (`aggregation/weights`, `aggregation/scaling`).
    """
    model = elmo_keras.ELMo.from_options(options)
    rng = np.random.default_rng(seed)
    for w in model.weights:  # random everything (biases start at 0 or 1)
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    elmo_keras.save_bilm(model, root / "options.json", root / "weights.hdf5")
    bilm_weights = bilm_datasets(root / "weights.hdf5")
    mix = rng.normal(0, 1, options["lstm"]["n_layers"] + 1).astype("float32")
    scaling = np.float32(1.7)
    dim = options["char_cnn"]["embedding"]["dim"]
    variables = hub_variables(bilm_weights, mix, scaling, rng.normal(0, 1, dim))
    module = write_module(root / "module", variables)
    return {"root": root, "module": module, "bilm_weights": bilm_weights,
            "variables": variables, "mix": mix, "scaling": scaling}


def tarball(path, entries):
    """A .tar.gz at `path` of `entries`: (name, kind, payload) with kind file/dir/
    symlink/hardlink/device (payload: the file's bytes, or a link's target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "device": tarfile.CHRTYPE}[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return path


def module_entries(module):
    """`tarball` entries of a module directory, as TF Hub's compressed download lays
    them out (`./`, `./variables/`, `./tfhub_module.pb`, ...)."""
    entries = [("./", "dir", None)]
    for path in sorted(module.rglob("*")):
        name = "./" + path.relative_to(module).as_posix()
        entries.append((name + "/", "dir", None) if path.is_dir()
                       else (name, "file", path.read_bytes()))
    return entries


def files_under(root):
    """Every file under `root` (hidden ones and links too), relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*")
                  if p.is_file() or p.is_symlink())
