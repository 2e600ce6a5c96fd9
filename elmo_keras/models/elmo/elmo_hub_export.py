"""`export_hub`: an `ELMo` written as a TF Hub-style SavedModel (needs TensorFlow).

The layout (signatures, the Reusable SavedModel interface, `assets/elmo_config.json`,
the variables by weight path) is described in `elmo_keras.io.saved_model`, which reads
it back as data; `elmo_keras.load_exported_elmo` rebuilds the model.
"""

import json
import os
import tempfile

from elmo_keras.io.paths import atomic_output_dir, check_output_dir
from elmo_keras.io.saved_model import CONFIG_ASSET, NAMED_VARIABLES
from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.models.elmo.elmo_outputs import hub_outputs
from elmo_keras.requires_tensorflow import tensorflow_for

tf = tensorflow_for("The TF Hub-style SavedModel export (elmo_keras.export_hub)")
from elmo_keras.text.tf_text_ops import sentences_to_char_ids, tokens_to_char_ids  # noqa: E402


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
        setattr(self, NAMED_VARIABLES, {w.path: w.value for w in weights})
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
