"""The TF Hub-style SavedModel that `elmo_keras.export_hub` writes, read back as data.

`read_export_config` and `read_export_weights` return the recorded `ELMo` config and
the weights as arrays; `elmo_keras.load_exported_elmo` builds the model from them
(`elmo_keras.models.elmo.elmo_preset_loader`). The writer is
`elmo_keras.models.elmo.elmo_hub_export`.

The SavedModel offers what the public ELMo hub module offers, in TF2 form:

- signatures `default` (input `strings`: 1-D untokenized sentences, split on whitespace)
  and `tokens` (inputs `tokens` `[batch, max_len]` strings and `sequence_len` int32
  `[batch]`), each returning `word_emb`, `lstm_outputs1..L`, `elmo`, `default`,
  `sequence_len`;
- the TF2 Reusable SavedModel interface: `__call__(inputs, training)` (inputs as for
  `default`, returns the same dict), `variables`, `trainable_variables` (the mix weights
  and gamma; the whole biLM too with `trainable_bilm=True`), `regularization_losses`.

It needs neither Keras nor this package to load: `tf.saved_model.load`, `hub.load`,
`hub.KerasLayer` and `keras.layers.TFSMLayer` all take it. `assets/elmo_config.json`
records the architecture so `load_exported_elmo` can rebuild an `ELMo` exactly.
"""

import json
import os

import numpy as np

from elmo_keras.io import model_files
from elmo_keras.io.bilm_options import check_model_config
from elmo_keras.io.model_files import PresetError
from elmo_keras.requires_tensorflow import tensorflow_for

tf = tensorflow_for("Reading a TF Hub-style SavedModel (elmo_keras.io.saved_model)")
from google.protobuf.message import DecodeError  # noqa: E402 (comes with TensorFlow)

#: The asset recording the exported `ELMo`'s config.
CONFIG_ASSET = "elmo_config.json"
#: The exported module's dict of variables by weight path (read back by name).
NAMED_VARIABLES = "named_variables"


def _checkpoint_entries(reader):
    """`{weight path or list position: checkpoint key}` of an export, read from the
    checkpoint's object graph (data only): the `named_variables` dict when the export
    has one, else the `variables` list (exports from before it)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    root = {c.local_name: c.node_id for c in graph.nodes[0].children}
    for child, by_name in ((NAMED_VARIABLES, True), ("variables", False)):
        if child in root:
            entries = {}
            for c in graph.nodes[root[child]].children:
                keys = [a.checkpoint_key for a in graph.nodes[c.node_id].attributes
                        if a.name == "VARIABLE_VALUE"]
                if keys:
                    entries[c.local_name if by_name else int(c.local_name)] = keys[0]
            return entries, by_name
    raise ValueError("no variables in its checkpoint")


def read_export_config(path):
    """The `ELMo` config an `export_hub` directory records (`assets/elmo_config.json`),
    read as data and checked, before any model is built.

    Args:
        path: the SavedModel directory.

    Returns:
        The config dict (`ELMo.get_config()` as exported).

    Raises:
        FileNotFoundError: not a SavedModel directory.
        ValueError: a SavedModel not written by `export_hub` (no config asset).
        elmo_keras.PresetError: a config or checkpoint file that is not a regular file,
            a config larger than 1 MiB, not an ELMo config, or with sizes above their
            bounds.
    """
    path = os.fspath(path)
    config_path = os.path.join(path, "assets", CONFIG_ASSET)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path}: not a SavedModel directory (no saved_model.pb)")
    if not os.path.lexists(config_path):  # there but not a regular file: refused below
        raise ValueError(f"{path}: a SavedModel, but not one written by elmo_keras.export_hub "
                         f"(no assets/{CONFIG_ASSET})")
    # Regular files only (a FIFO would block the reads), the config at most 1 MiB and
    # its sizes within their bounds.
    for name in sorted(os.listdir(os.path.join(path, "variables"))
                       if os.path.isdir(os.path.join(path, "variables")) else []):
        model_files.regular_file(os.path.join(path, "variables", name), PresetError,
                                 "checkpoint file")
    data = model_files.read_bytes(config_path, model_files.MAX_JSON_BYTES, PresetError,
                                  "export config")
    try:
        config = json.loads(data.decode("utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError) as e:
        raise PresetError(f"{config_path}: not a valid ELMo config ({e})") from None
    check_model_config(config, config_path, PresetError)  # the file's sizes, bounded
    return config


def read_export_weights(path, weights):
    """The weights of an `export_hub` directory, read by name from its checkpoint
    (`tf.train.load_checkpoint`; the SavedModel's graph is never loaded nor run).

    Args:
        path: the SavedModel directory.
        weights: `(weight path, shape)` of each weight the model built from its config
            holds, in `model.weights` order (exports from before weights were saved by
            name are read by position).

    Returns:
        A list of NumPy arrays, one per entry of `weights`.

    Raises:
        ValueError: the checkpoint holds another number of weights, one is missing, of
            another shape (checked before it is read), or holds NaN or infinity.
    """
    path = os.fspath(path)
    try:
        reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
        entries, by_name = _checkpoint_entries(reader)
        if len(entries) != len(weights):
            raise ValueError(f"holds {len(entries)} weights, the config needs {len(weights)}")
        values = []
        shapes = reader.get_variable_to_shape_map()
        for k, (name, shape) in enumerate(weights):
            key = entries.get(name if by_name else k)
            if key is None:
                raise ValueError(f"has no weight {name}")
            if tuple(shapes.get(key, ())) != tuple(shape):  # checked before reading
                raise ValueError(f"weight {name} has shape {tuple(shapes.get(key, ()))}, "
                                 f"expected {tuple(shape)}")
            values.append(np.asarray(reader.get_tensor(key)))
            if tuple(shape) != values[-1].shape:
                raise ValueError(f"weight {name} has shape {values[-1].shape}, expected "
                                 f"{tuple(shape)}")
            model_files.check_finite_weights([(name, values[-1])], ValueError, None)
    except (ValueError, IndexError, KeyError, DecodeError, tf.errors.OpError) as e:
        message = (getattr(e, "message", None) or str(e)).strip()
        raise ValueError(f"{path}: cannot read the weights of this SavedModel: "
                         f"{message.splitlines()[0] if message else type(e).__name__}") from None
    return values
