"""bilm-tf's published weight format: `weights.hdf5` + `options.json`, read and written.

A format below the model: `read_bilm_weights` returns a file's datasets as arrays,
checked against the options; the weight maps (`bilm_weight_map`) pair each dataset with
the model attribute it fills, so `load_bilm_weights` / `save_bilm_weights` read into and
write from any model with `ELMo`'s layers. Building the `ELMo` is the model side's
(`elmo_keras.load_bilm`, `ELMo.from_preset`).

Dataset layout (what bilm-tf's `dump_weights` writes and its `BidirectionalLanguageModel`
reads), with `d` the direction (0 forward, 1 backward) and `l` the layer:

| dataset | shape | here |
| --- | --- | --- |
| `char_embed` | `[261, D]` (no padding row) | `char_encoder.char_embeddings[1:]` (row 0 = 0) |
| `CNN/W_cnn_i`, `CNN/b_cnn_i` | `[1, w, D, n]`, `[n]` | `conv_kernel_i` `[w, D, n]`, `conv_bias_i` |
| `CNN_high_k/{W,b}_{carry,transform}` | `[F, F]`, `[F]` | `highway_k` |
| `CNN_proj/W_proj`, `CNN_proj/b_proj` | `[F, P]`, `[P]` | `projection_kernel/bias` (if `F != P`) |
| `RNN_d/RNN/MultiRNNCell/Cell{l}/LSTMCell/W_0` | `[in + P, 4H]` | `kernel` `[4H, in]` beside `recurrent_kernel` `[4H, P]`, transposed |
| `.../LSTMCell/B` | `[4H]` | `bias` (gates i, j, f, o) |
| `.../LSTMCell/W_P_0` | `[H, P]` | `projection_kernel` `[P, H]`, transposed (if `P < H`) |

Softmax weights (training only) are not part of this file; `softmax_weight_map` reads
and writes them (`softmax/W` `[vocab, P]`, `softmax/b` `[vocab]`) in a file of their own.
"""

import re

import h5py
import numpy as np

from elmo_keras.io.bilm_options import N_CHARACTERS, load_options, save_options
from elmo_keras.io.model_files import regular_file


class WeightFileError(ValueError):
    """A weight file cannot be read as, or does not match, a bilm-tf biLM."""


def _cell_prefix(direction, layer):
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def _plain(name, var, to_file=lambda v: v, from_file=lambda v: v):
    """A weight-map entry for a variable stored as is (up to a reshape)."""
    shape = to_file(np.zeros(var.shape, "float32")).shape
    return (name, lambda: to_file(np.asarray(var.numpy(), "float32")),
            lambda v: var.assign(from_file(v)), shape)


def bilm_weight_map(model):
    """Pairs of `(dataset name, getter, setter, file shape)` for every weight of `model`.

    The getter returns the value in the file's layout; the setter takes a value in the
    file's layout and assigns it to the model. Both directions of the mapping live here
    so reading and writing cannot disagree.
    """
    enc = model.char_encoder
    emb = enc.char_embeddings
    entries = [(
        "char_embed",
        lambda: np.asarray(emb.numpy()[1:], "float32"),
        lambda v: emb.assign(np.concatenate([np.zeros((1, v.shape[1]), v.dtype), v])),
        (emb.shape[0] - 1, emb.shape[1]),
    )]
    for i, (k, b) in enumerate(zip(enc.conv_kernels, enc.conv_biases)):
        entries.append(_plain(f"CNN/W_cnn_{i}", k, lambda v: v[None], lambda v: v[0]))
        entries.append(_plain(f"CNN/b_cnn_{i}", b))
    for i, hw in enumerate(enc.highways):
        entries.append(_plain(f"CNN_high_{i}/W_carry", hw.carry_kernel))
        entries.append(_plain(f"CNN_high_{i}/b_carry", hw.carry_bias))
        entries.append(_plain(f"CNN_high_{i}/W_transform", hw.transform_kernel))
        entries.append(_plain(f"CNN_high_{i}/b_transform", hw.transform_bias))
    if enc.use_projection:
        entries.append(_plain("CNN_proj/W_proj", enc.projection_kernel))
        entries.append(_plain("CNN_proj/b_proj", enc.projection_bias))
    return entries + lstm_weight_map(model.bilm)


def token_bilm_weight_map(embeddings, bilm):
    """The weight map of a token-input biLM: bilm-tf's `embedding` `[vocab, P]` (the
    token embedding variable) and the LSTMs."""
    return [_plain("embedding", embeddings)] + lstm_weight_map(bilm)


def softmax_weight_map(softmaxes, kernels=True):
    """The weight map of the LM softmax (training only; bilm-tf keeps it apart from
    `weights.hdf5`): `{name}/W` `[vocab, P]` and `{name}/b` `[vocab]` of each
    `LMSoftmax` (`softmax`, then `softmax_backward` when the directions do not share
    one). `kernels=False` leaves `W` out: tied to the token embeddings, as in bilm-tf's
    `share_embedding_softmax` files, which have none."""
    entries = []
    for s in softmaxes:
        if kernels:
            entries.append(_plain(f"{s.name}/W", s.kernel))
        entries.append(_plain(f"{s.name}/b", s.bias))
    return entries


def lstm_weight_map(bilm):
    """The weight-map entries of a `BiLM` layer's LSTM cells."""
    entries = []
    for d, cells in enumerate((bilm.forward_cells, bilm.backward_cells)):
        for l, cell in enumerate(cells):
            prefix = _cell_prefix(d, l)
            n_in = cell.kernel.shape[1]  # the cell stores its kernels output-major

            def get_w(cell=cell):
                return np.concatenate([cell.kernel.numpy(), cell.recurrent_kernel.numpy()],
                                      axis=1).T.astype("float32")

            def set_w(v, cell=cell, n_in=n_in):
                cell.kernel.assign(np.ascontiguousarray(v[:n_in].T))
                cell.recurrent_kernel.assign(np.ascontiguousarray(v[n_in:].T))

            entries.append((f"{prefix}/W_0", get_w, set_w,
                            (n_in + cell.recurrent_kernel.shape[1], cell.kernel.shape[0])))
            entries.append(_plain(f"{prefix}/B", cell.bias))
            if cell.projection_kernel is not None:
                entries.append(_plain(f"{prefix}/W_P_0", cell.projection_kernel,
                                      to_file=np.transpose,
                                      from_file=lambda v: np.ascontiguousarray(v.T)))
    return entries


def _open(path):
    path = regular_file(path, WeightFileError, "weight file")  # a FIFO would block
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise WeightFileError(f"{path}: not an HDF5 file ({e})") from None


def _check_no_extras(f, path, n_highway, projects, projection_dim, n_layers):
    """Rejects char-CNN or LSTM layers present in the file but absent from the options."""
    for name in f.keys():
        m = re.fullmatch(r"CNN_high_(\d+)", name)
        if m and int(m.group(1)) >= n_highway:
            raise WeightFileError(
                f"{path}: has highway layer '{name}' but the options say "
                f"n_highway={n_highway}: options and weights do not match")
        if name == "CNN_proj" and not projects:
            raise WeightFileError(
                f"{path}: has 'CNN_proj' but the options' filters already sum to "
                f"projection_dim={projection_dim}: options and weights do not match")
    _check_no_extra_lstm_layers(f, path, n_layers)


def _check_no_extra_lstm_layers(f, path, n_layers):
    """Rejects direction groups or LSTM layers beyond the options' `n_layers`."""
    for name in f.keys():
        m = re.fullmatch(r"RNN_(\d+)", name)
        if m:
            if int(m.group(1)) > 1:
                raise WeightFileError(f"{path}: unexpected direction group '{name}'")
            group = f[name].get("RNN/MultiRNNCell")
            for cell in (group.keys() if group is not None else []):
                c = re.fullmatch(r"Cell(\d+)", cell)
                if c and int(c.group(1)) >= n_layers:
                    raise WeightFileError(
                        f"{path}: has LSTM layer '{name}/RNN/MultiRNNCell/{cell}' but the "
                        f"options say n_layers={n_layers}: options and weights do "
                        "not match")


def read_weight_file(entries, weights_path, check=None):
    """Assigns the datasets of `weights_path` through a weight map (`bilm_weight_map`).

    Every dataset is checked before any is assigned: a missing one, a shape that
    differs, or NaN/inf raises `WeightFileError` naming the file, the dataset and both
    shapes. `check(file, path)` may reject the file further. Other datasets are ignored.
    """
    with _open(weights_path) as f:
        values = []
        for name, _, setter, shape in entries:
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise WeightFileError(f"{weights_path}: missing dataset '{name}'")
            ds = f[name]
            if tuple(ds.shape) != tuple(shape):
                hint = ""
                if name == "char_embed" and ds.shape[0] == shape[0] + 1:
                    hint = " (this file already has a padding row; bilm-tf files have 261 rows)"
                raise WeightFileError(
                    f"{weights_path}: dataset '{name}' has shape {tuple(ds.shape)}, "
                    f"expected {tuple(shape)} from the options{hint}")
            v = np.asarray(ds[...], dtype="float32")
            if not np.all(np.isfinite(v)):
                raise WeightFileError(f"{weights_path}: dataset '{name}' holds NaN or inf")
            values.append((setter, v))
        if check is not None:
            check(f, weights_path)
    for setter, v in values:
        setter(v)


def write_weight_file(entries, weights_path):
    """Writes the weights of a weight map as an HDF5 file."""
    with h5py.File(weights_path, "w") as f:
        for name, getter, _, _ in entries:
            f.create_dataset(name, data=getter())


def load_bilm_weights(model, weights_path):
    """Assigns the weights of a bilm-tf `weights.hdf5` to a built `ELMo` model.

    Raises `WeightFileError` (see `read_weight_file`), also for layers the file has but
    the options do not. Datasets of other parts (e.g. `softmax/*`) are ignored.
    """
    enc = model.char_encoder
    read_weight_file(bilm_weight_map(model), weights_path,
                     check=lambda f, path: _check_no_extras(
                         f, path, len(enc.highways), enc.use_projection,
                         model.projection_dim, model.n_layers))
    return model


def load_token_bilm_weights(embeddings, bilm, weights_path):
    """Assigns a token-input biLM's weights (`embedding` and the LSTMs, see
    `token_bilm_weight_map`), with the checks of `load_bilm_weights`."""
    read_weight_file(token_bilm_weight_map(embeddings, bilm), weights_path,
                     check=lambda f, path: _check_no_extra_lstm_layers(f, path, bilm.n_layers))


def save_bilm_weights(model, weights_path):
    """Writes an `ELMo` model's weights as a bilm-tf `weights.hdf5`."""
    write_weight_file(bilm_weight_map(model), weights_path)


def weight_shapes(options):
    """`{dataset name: shape}` of the `weights.hdf5` of a character-input biLM.

    Args:
        options: a `BiLMOptions` (or anything `load_options` takes).

    Returns:
        The datasets `bilm_weight_map` reads and writes for a model of `options`
        (`char_embed` `[261, D]`, the convolutions, highways, projection, LSTM cells).
    """
    opts = load_options(options)
    d, h, p = opts.char_embedding_dim, opts.lstm_dim, opts.projection_dim
    n_filters = opts.n_filters
    shapes = {"char_embed": (N_CHARACTERS - 1, d)}
    for i, (w, n) in enumerate(opts.filters):
        shapes[f"CNN/W_cnn_{i}"], shapes[f"CNN/b_cnn_{i}"] = (1, w, d, n), (n,)
    for k in range(opts.n_highway):
        for kind in ("carry", "transform"):
            shapes[f"CNN_high_{k}/W_{kind}"] = (n_filters, n_filters)
            shapes[f"CNN_high_{k}/b_{kind}"] = (n_filters,)
    if n_filters != p:
        shapes["CNN_proj/W_proj"], shapes["CNN_proj/b_proj"] = (n_filters, p), (p,)
    for direction in (0, 1):
        for layer in range(opts.n_layers):
            prefix = _cell_prefix(direction, layer)
            shapes[f"{prefix}/W_0"], shapes[f"{prefix}/B"] = (2 * p, 4 * h), (4 * h,)
            if p < h:
                shapes[f"{prefix}/W_P_0"] = (h, p)
    return shapes


def read_bilm_weights(options, weights_path):
    """The datasets of a bilm-tf `weights.hdf5` that `options` needs, checked, as arrays.

    Args:
        options: a `BiLMOptions`, an options.json path or its dict.
        weights_path: the weights.hdf5 file.

    Returns:
        `{dataset name: float32 array}` in the file's layout (see `weight_shapes`).

    Raises:
        OptionsError: bad options. WeightFileError: a dataset missing, of another shape,
            or with NaN or infinity; layers the options do not have.
    """
    opts = load_options(options)
    arrays = {}
    entries = [(name, None, lambda v, name=name: arrays.__setitem__(name, v), shape)
               for name, shape in weight_shapes(opts).items()]
    read_weight_file(entries, weights_path, check=lambda f, path: _check_no_extras(
        f, path, opts.n_highway, opts.n_filters != opts.projection_dim,
        opts.projection_dim, opts.n_layers))
    return arrays


def save_bilm(model, options_path, weights_path):
    """Writes `model` as bilm-tf `options.json` + `weights.hdf5` (loadable by bilm-tf
    and AllenNLP)."""
    save_options(model.options, options_path)
    save_bilm_weights(model, weights_path)
