"""Google's TF Hub ELMo module (`google/elmo/2`, `/3`) read as data: bilm-tf options and
weight arrays (`read_hub_module`), for a Keras 3 `ELMo` built on the models side.

The module is a TF1 Hub directory (`tfhub_module.pb`, `saved_model.pb`,
`variables/variables.{index,data-*}`). Only its checkpoint is read, with
`tf.train.load_checkpoint`: variable names, shapes and values. Its graph
(`saved_model.pb`, `tfhub_module.pb`) is never loaded nor run, so nothing in the
download executes here.

The checkpoint holds bilm-tf's inference graph (`BidirectionalLanguageModelGraph`
under the scope `bilm`) plus the module's own scalar mix. Each variable and the
`weights.hdf5` dataset it becomes (`d` the direction, 0 forward and 1 backward; `l` the
layer; `H` the LSTM size, `P` the projection, `D` the character embedding, `F` the
number of filters):

| module variable | weights.hdf5 dataset | shape |
| --- | --- | --- |
| `bilm/char_embed` | `char_embed` | `[262, D]` -> `[261, D]` (row 0, padding, dropped) |
| `bilm/CNN/W_cnn_i`, `bilm/CNN/b_cnn_i` | `CNN/W_cnn_i`, `CNN/b_cnn_i` | `[1, w, D, n]`, `[n]` |
| `bilm/CNN_high_k/{W,b}_{carry,transform}` | `CNN_high_k/...` | `[F, F]`, `[F]` |
| `bilm/CNN_proj/W_proj`, `b_proj` | `CNN_proj/W_proj`, `b_proj` | `[F, P]`, `[P]` |
| `bilm/RNN_d/RNN/MultiRNNCell/Cell{l}/rnn/lstm_cell/kernel` | `.../LSTMCell/W_0` | `[P + P, 4H]` |
| `.../rnn/lstm_cell/bias` | `.../LSTMCell/B` | `[4H]` |
| `.../rnn/lstm_cell/projection/kernel` | `.../LSTMCell/W_P_0` | `[H, P]` |
| `aggregation/weights` | the mix weights (before softmax) | `[n_layers + 1]` |
| `aggregation/scaling` | the mix's `gamma` | `[]` |

The LSTM variables are TF1 `LSTMCell`'s: the kernel is the input rows over the
recurrent rows, gates i, j, f, o, exactly bilm-tf's `W_0` (bilm-tf's own loader maps
one name to the other without changing the values). `bilm/char_embed` is the graph's
table with bilm-tf's padding row 0 in front of `weights.hdf5`'s 261 rows; a 261-row
table is accepted too.

`read_hub_module(path) -> (options, weights)` is this module's contract with the model
loader: `options` a bilm-tf options.json dict, `weights` float32 arrays keyed by
`weights.hdf5` dataset names plus `aggregation/weights` and `aggregation/scaling`. A
loader builds `ELMo(**hub_model_kwargs(options, kwargs))` and fills it with
`assign_hub_weights(model, weights)`; nothing here imports a model (issue 21).
Downloading a module by its handle (`https://tfhub.dev/google/elmo/3`, Kaggle's URLs)
is `elmo_keras.io.hub_handles`.
"""

import os
import pathlib
import re
import stat
import tarfile
import tempfile

import numpy as np

from elmo_keras.io.bilm_hdf5 import WeightFileError, bilm_weight_map
from elmo_keras.io.bilm_options import (N_CHARACTERS, BiLMOptions, OptionsError,
                                        check_model_config)

#: The file that marks a TF1 Hub module directory.
HUB_MODULE_FILE = "tfhub_module.pb"
#: The checkpoint prefix inside a module directory.
VARIABLES_PREFIX = os.path.join("variables", "variables")
#: The keys of the scalar mix in `read_hub_module`'s weights (the module's names).
MIX_WEIGHTS, MIX_SCALING = "aggregation/weights", "aggregation/scaling"

#: What the published ELMo options state and the module does not store: the reader
#: assumes them (`hub_model_kwargs` lets them be overridden).
ASSUMED_OPTIONS = {
    "activation": "relu",
    "max_characters_per_token": 50,
    "cell_clip": 3,
    "proj_clip": 3,
    "use_skip_connections": True,
}
# `ELMo` argument -> options.json section and key, for the overridable ones.
_ASSUMED_KEYS = {
    "activation": ("char_cnn", "activation"),
    "max_characters_per_token": ("char_cnn", "max_characters_per_token"),
    "cell_clip": ("lstm", "cell_clip"),
    "proj_clip": ("lstm", "proj_clip"),
    "use_skip_connections": ("lstm", "use_skip_connections"),
}
# The sizes the module's shapes fix: `hub_model_kwargs` refuses to override them.
_READ_FROM_MODULE = ("filters", "char_embedding_dim", "lstm_dim", "projection_dim",
                     "n_highway", "n_layers")

_LSTM_SUFFIX = {"kernel": "W_0", "bias": "B", "projection/kernel": "W_P_0"}
_CONV = re.compile(r"bilm/CNN/(W|b)_cnn_(\d+)")
_HIGHWAY = re.compile(r"bilm/CNN_high_(\d+)/(W_carry|b_carry|W_transform|b_transform)")
_PROJ = re.compile(r"bilm/CNN_proj/(W_proj|b_proj)")
_LSTM = re.compile(r"bilm/RNN_([01])/RNN/MultiRNNCell/Cell(\d+)/rnn/lstm_cell/"
                   r"(kernel|bias|projection/kernel)")
_FIXED = ("bilm/char_embed", MIX_WEIGHTS, MIX_SCALING)
_MAX_LISTED = 12

#: The most bytes `safe_extract` writes by default (the ELMo module unpacks to ~360 MB).
MAX_EXTRACT_BYTES = 8 << 30


class HubModuleError(WeightFileError):
    """A TF Hub module (or its tarball) that cannot be read as a bilm-tf ELMo."""


def hub_to_bilm_name(name):
    """The bilm-tf `weights.hdf5` dataset name of a module variable name, or None for
    the scalar mix (`aggregation/*`) and names that are none of the module's."""
    m = _LSTM.fullmatch(name)
    if m:
        d, l, kind = m.groups()
        return f"RNN_{d}/RNN/MultiRNNCell/Cell{l}/LSTMCell/{_LSTM_SUFFIX[kind]}"
    if name == "bilm/char_embed" or any(p.fullmatch(name) for p in (_CONV, _HIGHWAY, _PROJ)):
        return name[len("bilm/"):]
    return None


def bilm_to_hub_name(name):
    """The module variable name of a bilm-tf `weights.hdf5` dataset name (the inverse of
    `hub_to_bilm_name`)."""
    m = re.fullmatch(r"(RNN_[01]/RNN/MultiRNNCell/Cell\d+)/LSTMCell/(W_0|B|W_P_0)", name)
    if m:
        kind = {v: k for k, v in _LSTM_SUFFIX.items()}[m.group(2)]
        return f"bilm/{m.group(1)}/rnn/lstm_cell/{kind}"
    return f"bilm/{name}"


def is_hub_module(path):
    """True if `path` is a directory holding `tfhub_module.pb` (a TF1 Hub module)."""
    return os.path.isdir(path) and os.path.lexists(os.path.join(path, HUB_MODULE_FILE))


def _listed(names):
    names = sorted(names)
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" (and {len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED
                    else "")


def _open_checkpoint(directory):
    """The module's `CheckpointReader`, with errors naming the directory."""
    from elmo_keras.requires_tensorflow import tensorflow_for

    tf = tensorflow_for("reading a TF Hub module")
    if not os.path.isdir(directory):
        raise HubModuleError(f"{directory}: not a directory; a TF Hub module is a directory "
                             f"holding {HUB_MODULE_FILE} and {VARIABLES_PREFIX}.index "
                             "(a .tar.gz download is unpacked with safe_extract)")
    prefix = os.path.join(directory, VARIABLES_PREFIX)
    index = prefix + ".index"
    try:
        mode = os.stat(index).st_mode
    except OSError:
        raise HubModuleError(f"{directory}: not a TF Hub module: no {VARIABLES_PREFIX}.index"
                             ) from None
    if not stat.S_ISREG(mode):
        raise HubModuleError(f"{index}: not a regular file; refusing to read it")
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        message = " ".join(str(getattr(e, "message", e)).split())[:200]
        raise HubModuleError(f"{prefix}: not a readable TensorFlow checkpoint ({message})"
                             ) from None


def _check_names(names, source):
    """Refuses names that are none of the module's and names the structure implies
    but the checkpoint lacks; returns the indices found."""
    unexpected, convs, highways, cells, proj = [], set(), set(), {}, set()
    for name in names:
        if name in _FIXED:
            continue
        if m := _CONV.fullmatch(name):
            convs.add(int(m.group(2)))
        elif m := _HIGHWAY.fullmatch(name):
            highways.add(int(m.group(1)))
        elif m := _PROJ.fullmatch(name):
            proj.add(name)
        elif m := _LSTM.fullmatch(name):
            cells.setdefault(int(m.group(2)), set()).add(m.group(3))
        else:
            unexpected.append(name)
    n_convs = max(convs, default=0) + 1
    n_highway = max(highways, default=-1) + 1
    n_layers = max(cells, default=0) + 1
    projected = any("projection/kernel" in kinds for kinds in cells.values())
    required = set(_FIXED)
    required.update(f"bilm/CNN/{p}_cnn_{i}" for i in range(n_convs) for p in "Wb")
    required.update(f"bilm/CNN_high_{k}/{p}" for k in range(n_highway)
                    for p in ("W_carry", "b_carry", "W_transform", "b_transform"))
    if proj:
        required.update({"bilm/CNN_proj/W_proj", "bilm/CNN_proj/b_proj"})
    for d in (0, 1):
        for l in range(n_layers):
            kinds = ("kernel", "bias") + (("projection/kernel",) if projected else ())
            required.update(f"bilm/RNN_{d}/RNN/MultiRNNCell/Cell{l}/rnn/lstm_cell/{k}"
                            for k in kinds)
    missing = required - set(names)
    _refuse(source, missing, unexpected)
    return n_convs, n_highway, n_layers, projected, bool(proj)


def _refuse(source, missing, unexpected):
    parts = []
    if missing:
        parts.append(f"missing variable(s) {_listed(missing)}")
    if unexpected:
        parts.append(f"unexpected variable(s) {_listed(unexpected)}")
    if parts:
        raise HubModuleError(f"{source}: not Google's ELMo module layout: "
                             + "; ".join(parts))


def _dim(shapes, name, axis, source):
    shape = shapes[name]
    if len(shape) <= axis:
        raise HubModuleError(f"{source}: variable '{name}' has shape {tuple(shape)}; "
                             f"expected at least {axis + 1} dimensions")
    return int(shape[axis])


def _infer_options(shapes, source):
    """The bilm-tf options dict of the module's architecture, from its shapes."""
    n_convs, n_highway, n_layers, projected, has_cnn_proj = _check_names(list(shapes), source)
    char_dim = _dim(shapes, "bilm/char_embed", 1, source)
    n_chars = _dim(shapes, "bilm/char_embed", 0, source)
    if n_chars not in (N_CHARACTERS, N_CHARACTERS - 1):
        raise HubModuleError(f"{source}: variable 'bilm/char_embed' has {n_chars} rows; "
                             f"expected {N_CHARACTERS} (261 characters and the padding row)")
    filters = [[_dim(shapes, f"bilm/CNN/W_cnn_{i}", 1, source),
                _dim(shapes, f"bilm/CNN/W_cnn_{i}", 3, source)] for i in range(n_convs)]
    cell = "bilm/RNN_0/RNN/MultiRNNCell/Cell0/rnn/lstm_cell"
    four_h = _dim(shapes, f"{cell}/bias", 0, source)
    if four_h % 4:
        raise HubModuleError(f"{source}: variable '{cell}/bias' has {four_h} values; "
                             "expected 4 gates of the LSTM size")
    lstm_dim = four_h // 4
    projection_dim = (_dim(shapes, f"{cell}/projection/kernel", 1, source) if projected
                      else lstm_dim)
    n_filters = sum(n for _, n in filters)
    if has_cnn_proj != (n_filters != projection_dim):
        which = ("has" if has_cnn_proj else "lacks")
        raise HubModuleError(
            f"{source}: the module {which} bilm/CNN_proj but its filters sum to "
            f"{n_filters} and the LSTM projection is {projection_dim} (bilm-tf projects "
            "the char CNN exactly when they differ)")
    options = {
        "char_cnn": {"activation": ASSUMED_OPTIONS["activation"],
                     "embedding": {"dim": char_dim}, "filters": filters,
                     "max_characters_per_token": ASSUMED_OPTIONS["max_characters_per_token"],
                     "n_characters": N_CHARACTERS, "n_highway": n_highway},
        "lstm": {"cell_clip": ASSUMED_OPTIONS["cell_clip"], "dim": lstm_dim,
                 "n_layers": n_layers, "proj_clip": ASSUMED_OPTIONS["proj_clip"],
                 "projection_dim": projection_dim,
                 "use_skip_connections": ASSUMED_OPTIONS["use_skip_connections"]},
    }
    try:  # sizes within their bounds before anything is read or built
        BiLMOptions.from_dict(options, source=source)
    except OptionsError as e:
        raise HubModuleError(str(e)) from None
    return options, n_chars


def _expected_shapes(options, n_chars):
    """Every module variable name and its shape, for `options`."""
    cnn, lstm = options["char_cnn"], options["lstm"]
    d_emb, h, p = cnn["embedding"]["dim"], lstm["dim"], lstm["projection_dim"]
    n_filters = sum(n for _, n in cnn["filters"])
    shapes = {"bilm/char_embed": (n_chars, d_emb),
              MIX_WEIGHTS: (lstm["n_layers"] + 1,), MIX_SCALING: ()}
    for i, (w, n) in enumerate(cnn["filters"]):
        shapes[f"bilm/CNN/W_cnn_{i}"] = (1, w, d_emb, n)
        shapes[f"bilm/CNN/b_cnn_{i}"] = (n,)
    for k in range(cnn["n_highway"]):
        for kind in ("carry", "transform"):
            shapes[f"bilm/CNN_high_{k}/W_{kind}"] = (n_filters, n_filters)
            shapes[f"bilm/CNN_high_{k}/b_{kind}"] = (n_filters,)
    if n_filters != p:
        shapes["bilm/CNN_proj/W_proj"] = (n_filters, p)
        shapes["bilm/CNN_proj/b_proj"] = (p,)
    for d in (0, 1):
        for l in range(lstm["n_layers"]):
            cell = f"bilm/RNN_{d}/RNN/MultiRNNCell/Cell{l}/rnn/lstm_cell"
            shapes[f"{cell}/kernel"] = (p + p, 4 * h)
            shapes[f"{cell}/bias"] = (4 * h,)
            if p < h:
                shapes[f"{cell}/projection/kernel"] = (h, p)
    return shapes


def module_root(directory):
    """Where the module lies in an unpacked tarball: `directory` itself, or its one
    subfolder when `directory` holds nothing else (a tarball with one top folder)."""
    directory = pathlib.Path(directory)
    if (directory / (VARIABLES_PREFIX + ".index")).exists():
        return directory
    inner = list(directory.iterdir())
    if len(inner) == 1 and inner[0].is_dir() and not inner[0].is_symlink():
        return inner[0]
    return directory


def _resolve(path):
    """A module directory for `path`: the directory itself, or a tarball unpacked with
    `safe_extract` into a temporary directory (returned to be cleaned up)."""
    path = os.fspath(path)
    if os.path.isfile(path) and tarfile.is_tarfile(path):
        tmp = tempfile.TemporaryDirectory(prefix="elmo_hub_")
        try:
            safe_extract(path, tmp.name)
        except BaseException:
            tmp.cleanup()
            raise
        return str(module_root(tmp.name)), tmp
    return path, None


def read_hub_module(path):
    """Reads a TF1 Hub ELMo module (`google/elmo/2` or `/3`) as bilm-tf options and weights.

    Only `variables/variables` is read, with `tf.train.load_checkpoint`; the module's
    graph is never loaded nor run. The sizes come from the variables' shapes: the
    filters from `bilm/CNN/W_cnn_i` (`[1, width, D, count]`), the character embedding
    size from `bilm/char_embed`, the highway layers from `bilm/CNN_high_k`, the LSTM size
    from the cells' bias (`4H`), the projection from `projection/kernel` (`[H, P]`), the
    layers from `Cell{l}`. The module does not store the rest; they are taken from the
    published ELMo options (`ASSUMED_OPTIONS`): `cell_clip` 3, `proj_clip` 3,
    `use_skip_connections` true, `activation` "relu", `max_characters_per_token` 50.

    Args:
        path: the module directory (holding `variables/variables.index`), or its
            `.tar.gz` download (unpacked with `safe_extract` into a temporary directory).

    Returns:
        `(options, weights)`: `options` a bilm-tf options.json dict (`n_characters`
        262); `weights` a dict of float32 NumPy arrays keyed by bilm-tf's
        `weights.hdf5` dataset names (`char_embed` `[261, D]` without the padding row,
        `CNN/W_cnn_0`, ..., `RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_0`, ...), plus the
        module's scalar mix under its own names: `"aggregation/weights"`
        `[n_layers + 1]` (before the softmax) and `"aggregation/scaling"` `[]` (gamma).

    Raises:
        ImportError: TensorFlow is not importable ("reading a TF Hub module needs
            TensorFlow").
        HubModuleError: not a module, an unreadable checkpoint, missing or unexpected
            variables (listed), shapes that do not fit one architecture, sizes above
            `elmo_keras.io.bilm_options.LIMITS`, non-float values, NaN or infinity.
    """
    root, tmp = _resolve(path)
    try:
        return _read(root, os.fspath(path))
    finally:
        if tmp is not None:
            tmp.cleanup()


def _read(root, source):
    from elmo_keras.requires_tensorflow import tensorflow_for

    tf = tensorflow_for("reading a TF Hub module")
    reader = _open_checkpoint(root)
    shapes = {n: tuple(int(d) for d in s)
              for n, s in reader.get_variable_to_shape_map().items()}
    options, n_chars = _infer_options(shapes, source)
    expected = _expected_shapes(options, n_chars)
    _refuse(source, set(expected) - set(shapes), set(shapes) - set(expected))
    wrong = [f"'{n}' {shapes[n]} (expected {s})" for n, s in sorted(expected.items())
             if shapes[n] != s]
    if wrong:
        raise HubModuleError(f"{source}: variable shapes do not fit one architecture: "
                             + _listed(wrong))
    dtypes = reader.get_variable_to_dtype_map()
    not_float = [n for n in expected if not dtypes[n].is_floating]
    if not_float:
        raise HubModuleError(f"{source}: non-float variable(s) {_listed(not_float)}")
    weights = {}
    for name in sorted(expected):
        try:
            value = np.asarray(reader.get_tensor(name), dtype="float32")
        except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as e:  # data file
            # missing, short (IndexError: "Read less bytes than requested") or corrupt
            message = " ".join(str(getattr(e, "message", e)).split())[:200]
            raise HubModuleError(f"{source}: variable '{name}' cannot be read ({message})"
                                 ) from None
        if not np.all(np.isfinite(value)):
            raise HubModuleError(f"{source}: variable '{name}' holds NaN or inf")
        if name == "bilm/char_embed" and n_chars == N_CHARACTERS:
            value = value[1:]  # bilm-tf's padding row, not part of weights.hdf5
        weights[hub_to_bilm_name(name) or name] = value
    return options, weights


def hub_model_kwargs(options, elmo_kwargs, source="module"):
    """The `ELMo` constructor arguments for a module read by `read_hub_module`.

    Args:
        options: `read_hub_module`'s options (not modified).
        elmo_kwargs: the caller's `ELMo` arguments (`num_output_representations`,
            `do_layer_norm`, `l2_coef`, `stateful`, `name`, ...), and the options the
            module does not store (`cell_clip`, `proj_clip`, `use_skip_connections`,
            `activation`, `max_characters_per_token`; see `ASSUMED_OPTIONS`), which
            replace the assumed ones. The sizes the module's shapes fix cannot be given.
        source: what to name in errors (the module's path).

    Returns:
        A dict: the architecture from `options` with the overrides, plus the other
        `elmo_kwargs`, checked against `elmo_keras.io.bilm_options.check_model_config`.

    Raises:
        HubModuleError: an override of a size the module fixes, or a value the model
            refuses (one line).

    Examples:

    ```python
    options, weights = read_hub_module("elmo_3")
    kwargs = hub_model_kwargs(options, {"num_output_representations": 2}, "elmo_3")
    ```
    """
    fixed = sorted(k for k in elmo_kwargs if k in _READ_FROM_MODULE)
    if fixed:
        raise HubModuleError(f"{source}: {', '.join(fixed)} cannot be overridden: the "
                             "module's variable shapes fix them")
    options = {section: dict(values) for section, values in options.items()}
    rest = dict(elmo_kwargs)
    for arg, (section, key) in _ASSUMED_KEYS.items():
        if arg in rest:
            options[section][key] = rest.pop(arg)
    try:
        kwargs = {**BiLMOptions.from_dict(options, source=source).model_kwargs(), **rest}
        check_model_config(kwargs, source, strict=False)
    except (OptionsError, ValueError) as e:
        raise HubModuleError(" ".join(str(e).split())) from None
    return kwargs


def assign_hub_weights(model, weights, source="module"):
    """Sets an `ELMo`'s weights to a module's, as `read_hub_module` returns them: the
    biLM through `elmo_keras.io.bilm_hdf5.bilm_weight_map`, and every scalar mix to
    the module's (`aggregation/weights` before the softmax, `aggregation/scaling` its
    `gamma`).

    Args:
        model: an `ELMo` built with `hub_model_kwargs` (any object with the `ELMo`
            weights `bilm_weight_map` reads and `scalar_mixes`).
        weights: `read_hub_module`'s weights.
        source: what to name in errors.

    Returns:
        `model`.

    Raises:
        HubModuleError: a weight's shape is not the model's (a model of another
            architecture).
    """
    for name, _, setter, shape in bilm_weight_map(model):
        value = weights[name]
        if value.shape != tuple(shape):
            raise HubModuleError(f"{source}: '{name}' has shape {value.shape}, the model "
                                 f"needs {tuple(shape)}")
        setter(value)
    for mix in model.scalar_mixes:
        mix.mix_weights.assign(weights[MIX_WEIGHTS])
        mix.gamma.assign(np.reshape(weights[MIX_SCALING], (1,)))
    return model


def _member_parts(name):
    """The path components of a tar member name, or None if it is absolute or climbs
    out (`..`)."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or "\0" in name:
        return None
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return parts


def _inside(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root + os.sep)


def safe_extract(tarball, target, max_bytes=MAX_EXTRACT_BYTES):
    """Extracts a tar archive (`.tar.gz`, the module's compressed download) into `target`.

    Every entry is checked before anything is written: an absolute name, a name with a
    `..` component, a symlink, a hard link, a device, a FIFO or any entry that is not
    a regular file or a directory refuses the whole archive, as does more than
    `max_bytes` in all. Files are then written one by one, never through a symlink
    (`O_NOFOLLOW`) nor into a directory that resolves outside `target`, with mode 0644
    (directories 0755): nothing is written outside `target`.

    Args:
        tarball: the archive.
        target: the directory to extract into (created if missing).
        max_bytes: the most bytes the regular files may hold in all.

    Returns:
        `target` as a `pathlib.Path`.

    Raises:
        HubModuleError: the archive is unreadable or holds a refused entry (named).
    """
    source = os.fspath(tarball)
    target = pathlib.Path(target)
    try:
        archive = tarfile.open(source, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise HubModuleError(f"{source}: not a readable tar archive ({e})") from None
    with archive:
        try:
            members = archive.getmembers()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise HubModuleError(f"{source}: a corrupt tar archive ({e})") from None
        plan, total = [], 0
        for m in members:
            parts = _member_parts(m.name)
            if parts is None:
                raise HubModuleError(f"{source}: entry '{m.name}' has an absolute path or "
                                     "'..'; refusing to extract the archive")
            if not (m.isreg() or m.isdir()):
                kind = ("a symlink" if m.issym() else "a hard link" if m.islnk()
                        else "a device" if m.isdev() else "not a regular file")
                raise HubModuleError(f"{source}: entry '{m.name}' is {kind}; refusing to "
                                     "extract the archive")
            total += m.size if m.isreg() else 0
            if total > max_bytes:
                raise HubModuleError(f"{source}: the archive unpacks to more than "
                                     f"{max_bytes} bytes; refusing to extract it")
            if parts:
                plan.append((m, parts))
        target.mkdir(parents=True, exist_ok=True)
        for m, parts in plan:
            dest = target.joinpath(*parts)
            parent = dest if m.isdir() else dest.parent
            _make_dirs(target, parts if m.isdir() else parts[:-1], source, m.name)
            if not _inside(parent, target):
                raise HubModuleError(f"{source}: entry '{m.name}' would be written outside "
                                     f"{target} (through a symlink there)")
            if m.isdir():
                continue
            _write_member(archive, m, dest, source)
    return target


def _make_dirs(target, parts, source, name):
    """Creates `target/parts...`, refusing any component that exists as a non-directory
    or a symlink."""
    current = target
    for part in parts:
        current = current / part
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            if os.path.islink(current) or not os.path.isdir(current):
                raise HubModuleError(f"{source}: entry '{name}': {current} exists and is not "
                                     "a plain directory; refusing to extract there") from None


def _write_member(archive, member, dest, source):
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(dest, flags, 0o644)
    except OSError as e:
        raise HubModuleError(f"{source}: entry '{member.name}' cannot be written to {dest} "
                             f"({e.strerror or e})") from None
    with os.fdopen(fd, "wb") as out, archive.extractfile(member) as data:
        while chunk := data.read(1 << 20):
            out.write(chunk)
