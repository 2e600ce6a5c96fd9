"""Export to a TF Hub-style SavedModel, and load an `ELMo` back from one.

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
import tempfile

import numpy as np

from elmo_keras.io import model_files
from elmo_keras.io.bilm_options import check_model_config
from elmo_keras.io.paths import atomic_output_dir, check_output_dir
from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.models.elmo.elmo_outputs import hub_outputs
from elmo_keras.requires_tensorflow import tensorflow_for

tf = tensorflow_for("The TF Hub-style SavedModel export (elmo_keras.io.saved_model)")
from google.protobuf.message import DecodeError  # noqa: E402 (comes with TensorFlow)

from elmo_keras.text.tf_text_ops import sentences_to_char_ids, tokens_to_char_ids  # noqa: E402

CONFIG_ASSET = "elmo_config.json"


class _HubModule(tf.Module):
    # The Reusable SavedModel interface wants these as saved lists, not tf.Module's
    # computed properties: plain class attributes let the instance hold them.
    variables = None
    trainable_variables = None

    def __init__(self, elmo, trainable_bilm, config_path):
        super().__init__(name="elmo_hub")
        weights = list(elmo.weights)
        mix_ids = {id(w) for m in elmo.scalar_mixes for w in m.weights}
        paths = [w.path for w in weights]
        if len(set(paths)) != len(paths):
            raise ValueError("the model's weight paths are not unique; cannot export by name")
        # Raw tf.Variables: by weight path (what load_exported_elmo reads), and as the
        # interface's lists in `elmo.weights` order.
        self.named_variables = {w.path: w.value for w in weights}
        self.variables = [w.value for w in weights]
        self.trainable_variables = [
            w.value for w in weights
            if w.trainable and (trainable_bilm or id(w) in mix_ids)]
        self.config_file = tf.saved_model.Asset(config_path)
        c = elmo.max_characters_per_token
        l2 = elmo.l2_coef
        mixes = [m.mix_weights.value for m in elmo.scalar_mixes]
        self.regularization_losses = []
        if l2:
            self.regularization_losses.append(tf.function(
                lambda: l2 * tf.add_n([tf.reduce_sum(tf.square(w)) for w in mixes]),
                input_signature=[]))

        def run(ids, training=False):
            return hub_outputs(elmo(ids, training=training))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="strings")])
        def default(strings):
            return run(sentences_to_char_ids(strings, c))

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens"),
                                      tf.TensorSpec([None], tf.int32, name="sequence_len")])
        def tokens(tokens, sequence_len):
            return run(tokens_to_char_ids(tokens, c, lengths=sequence_len))

        @tf.function
        def call(inputs, training=False):
            return run(sentences_to_char_ids(inputs, c), training=training)

        self.default_signature = default
        self.tokens_signature = tokens
        self.__call__ = call
        spec = tf.TensorSpec([None], tf.string)
        for training in (False, True):
            call.get_concrete_function(spec, training=training)


def export_hub(model, outdir, trainable_bilm=False):
    """Writes `model` (an `ELMo`) as a TF Hub-style SavedModel directory.

    Args:
        model: an `elmo_keras.ELMo` (stateless).
        outdir: directory to write: new, or an empty directory. It is written whole
            or not at all (the export is made in a temporary directory beside it, then
            renamed), so no file there is ever overwritten.
        trainable_bilm: list the biLM's weights in `trainable_variables` too.

    Returns:
        `outdir`.

    Raises:
        FileExistsError: `outdir` already holds a SavedModel.
        elmo_keras.io.paths.PathConflictError: `outdir` is not empty, or not a
            directory, or cannot be written.
    """
    if not isinstance(model, ELMo):
        raise TypeError(f"export_hub expects an elmo_keras.ELMo, got {type(model).__name__}")
    if model.stateful:
        raise ValueError("export a stateless model (stateful=False): a hub module must not "
                         "depend on earlier calls")
    outdir = os.fspath(outdir)
    if os.path.exists(os.path.join(outdir, "saved_model.pb")):
        raise FileExistsError(f"{outdir}: already holds a SavedModel")
    check_output_dir(outdir, [], what="export directory", empty=True)
    os.makedirs(os.path.dirname(os.path.abspath(outdir)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, atomic_output_dir(
            outdir, what="export directory") as staging:
        config_path = os.path.join(tmp, CONFIG_ASSET)  # copied into OUTDIR/assets/
        with open(config_path, "w") as f:
            json.dump(model.get_config(), f, indent=2, sort_keys=True)
        module = _HubModule(model, trainable_bilm, config_path)
        tf.saved_model.save(module, staging, signatures={
            "default": module.default_signature,
            "tokens": module.tokens_signature,
        })
    return outdir


def _checkpoint_entries(reader):
    """`{weight path or list position: checkpoint key}` of an export, read from the
    checkpoint's object graph (data only): the `named_variables` dict when the export
    has one, else the `variables` list (exports from before it)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    root = {c.local_name: c.node_id for c in graph.nodes[0].children}
    for child, by_name in (("named_variables", True), ("variables", False)):
        if child in root:
            entries = {}
            for c in graph.nodes[root[child]].children:
                keys = [a.checkpoint_key for a in graph.nodes[c.node_id].attributes
                        if a.name == "VARIABLE_VALUE"]
                if keys:
                    entries[c.local_name if by_name else int(c.local_name)] = keys[0]
            return entries, by_name
    raise ValueError("no variables in its checkpoint")


def load_exported_elmo(path, **kwargs):
    """Rebuilds an `ELMo` (Keras model) from a directory written by `export_hub`.

    Only data is read: the config from `assets/elmo_config.json` and the weights, by
    name, from the checkpoint in `variables/` (`tf.train.load_checkpoint`). The
    SavedModel's graph is never loaded nor run, so a hostile directory cannot run code.

    Args:
        path: the SavedModel directory.
        **kwargs: `ELMo` arguments to override (e.g. `do_layer_norm`).

    Raises:
        FileNotFoundError: not a SavedModel directory.
        elmo_keras.PresetError: its config is not a regular file, larger than 1 MiB,
            not an ELMo config, or has sizes above their bounds (a `ValueError`).
        ValueError: not one written by `export_hub`, or its weights do not fit its
            config or hold NaN or infinity (the message names the weight).

    Example:
    ```python
    model = load_exported_elmo("hub/elmo")
    ```
    """
    path = os.fspath(path)
    config_path = os.path.join(path, "assets", CONFIG_ASSET)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path}: not a SavedModel directory (no saved_model.pb)")
    if not os.path.lexists(config_path):  # there but not a regular file: refused below
        raise ValueError(f"{path}: a SavedModel, but not one written by elmo_keras.export_hub "
                         f"(no assets/{CONFIG_ASSET})")
    from elmo_keras.models.elmo.elmo_presets import PresetError

    # Regular files only (a FIFO would block the reads), the config at most 1 MiB and
    # its sizes within their bounds before any model is built.
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
    config.update({k: v for k, v in kwargs.items() if v is not None})
    try:
        model = ELMo.from_config(config)
    except (ValueError, TypeError, KeyError) as e:
        raise PresetError(f"{config_path}: not a valid ELMo config ({e})") from None
    try:
        reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
        entries, by_name = _checkpoint_entries(reader)
        weights = model.weights
        if len(entries) != len(weights):
            raise ValueError(f"holds {len(entries)} weights, the config needs {len(weights)}")
        values = []
        shapes = reader.get_variable_to_shape_map()
        for k, w in enumerate(weights):
            key = entries.get(w.path if by_name else k)
            if key is None:
                raise ValueError(f"has no weight {w.path}")
            if tuple(shapes.get(key, ())) != tuple(w.shape):  # checked before reading
                raise ValueError(f"weight {w.path} has shape {tuple(shapes.get(key, ()))}, "
                                 f"expected {tuple(w.shape)}")
            values.append(np.asarray(reader.get_tensor(key)))
            if tuple(w.shape) != values[-1].shape:
                raise ValueError(f"weight {w.path} has shape {values[-1].shape}, expected "
                                 f"{tuple(w.shape)}")
            model_files.check_finite_weights([(w.path, values[-1])], ValueError, None)
    except (ValueError, IndexError, KeyError, DecodeError, tf.errors.OpError) as e:
        message = (getattr(e, "message", None) or str(e)).strip()
        raise ValueError(f"{path}: cannot read the weights of this SavedModel: "
                         f"{message.splitlines()[0] if message else type(e).__name__}") from None
    for w, value in zip(weights, values):
        w.assign(value.astype(w.dtype, copy=False))
    return model
