"""`ELMoTextClassifier`: raw sentences in, class scores out (keras-hub's `TextClassifier`
shape: a backbone, a preprocessor outside the graph, a head, compiled on construction)."""

import keras

from elmo_keras.models.elmo.elmo_embedding import ELMoEmbedding
from elmo_keras.models.elmo.elmo_task import ELMoTask

ENCODERS = ("pooling", "bilstm")


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoTextClassifier(ELMoTask):
    """Sentences -> preprocessor (char ids) -> ELMo (frozen biLM, trainable mix) ->
    encoder -> dropout -> `Dense(num_classes)`, on every Keras backend.

    The preprocessor (`ELMoTextClassifierPreprocessor`) runs outside the graph, in
    `fit`, `evaluate` and `predict` (see `ELMoTask`): give them raw sentences (a list
    or an object array), a `tf.data.Dataset` of sentences, or character ids. The
    functional graph itself takes ids `[batch, time, chars]`. `save` writes the
    preprocessor with the model.

    Compiled on construction (call `compile` again to change it) with defaults chosen
    for ELMo, where the biLM stays frozen and only the mix (`L + 1` layer weights and
    gamma) and the head learn from scratch:

    - `keras.optimizers.Adam(1e-3)`: the learning rate of training a small model from
      scratch, as the ELMo paper's task models do; not the `5e-5` keras-hub's
      classifiers use to fine-tune a whole pretrained transformer, which would barely
      move a fresh head.
    - `SparseCategoricalCrossentropy(from_logits=activation is None)`: integer labels;
      logits by default (keras-hub's convention), which is the numerically stable form.
    - `SparseCategoricalAccuracy` as the metric.

    Args:
        backbone: an `ELMo` (`ELMo.from_preset(...)`).
        num_classes: number of classes (>= 2).
        preprocessor: the `ELMoTextClassifierPreprocessor` (or an `ELMoTokenizer`)
            turning strings into char ids (default: whitespace splitting; `from_preset`
            uses the preset's tokenizer).
        activation: of the output layer: None (logits, default) or `"softmax"`.
        dropout: dropout rate before the output layer (training only).
        encoder: `"pooling"` (mean over real tokens, default) or `"bilstm"` (a
            bidirectional LSTM of `units` per direction).
        units: LSTM size for `"bilstm"`.
        trainable_mix: train the mix weights and gamma (default True; the biLM stays
            frozen).

    Examples:
    ```python
    classifier = elmo_keras.ELMoTextClassifier.from_preset("elmo_small_en", num_classes=2)
    classifier.fit(np.array(["A fine film!", "Dull."], dtype=object), np.array([1, 0]))
    classifier.predict(np.array(["What a film!"], dtype=object))   # logits [1, 2]
    classifier.save("clf.keras")   # keras.saving.load_model after `import elmo_keras`
    ```
    """

    def __init__(self, backbone, num_classes, preprocessor=None, activation=None,
                 dropout=0.2, encoder="pooling", units=64, trainable_mix=True, **kwargs):
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        if activation not in (None, "softmax"):
            raise ValueError(f"activation must be None (logits) or 'softmax', got {activation!r}")
        # === Layers ===
        backbone, preprocessor = self.checked(backbone, preprocessor)
        # "pooling": ELMo's "default" output, the mix averaged over real tokens (zero
        # for an empty text, where a masked GlobalAveragePooling1D would give NaN).
        embedding = ELMoEmbedding(
            model=backbone, output="elmo" if encoder == "bilstm" else "default",
            trainable_mix=trainable_mix, name="elmo")
        if encoder == "bilstm":
            sequence_encoder = keras.layers.Bidirectional(keras.layers.LSTM(units),
                                                          name="bilstm")
        else:
            sequence_encoder = keras.layers.Identity(name="mean_over_tokens")
        output_dropout = keras.layers.Dropout(dropout, name="dropout")
        output_dense = keras.layers.Dense(num_classes, activation=activation,
                                          name="logits" if activation is None else "probs")

        # === Functional model ===
        inputs = self.char_ids_input(backbone)
        x = output_dropout(sequence_encoder(embedding(inputs)))
        kwargs.setdefault("name", "elmo_text_classifier")
        super().__init__(backbone, preprocessor, inputs, output_dense(x), **kwargs)

        # === Config ===
        self.embedding = embedding
        self.encoder = sequence_encoder
        self.output_dropout = output_dropout
        self.output_dense = output_dense
        self.num_classes = int(num_classes)
        self.activation = activation
        self.dropout = float(dropout)
        self.encoder_name = encoder
        self.units = int(units)
        self.trainable_mix = bool(trainable_mix)
        self.compile()

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """`keras.Model.compile` with ELMo's defaults for `"auto"` (see the class)."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=self.activation is None)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Recompiles a loaded model as it was saved (optimizer state included)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "activation": self.activation,
            "dropout": self.dropout,
            "encoder": self.encoder_name,
            "units": self.units,
            "trainable_mix": self.trainable_mix,
        }

    @classmethod
    def from_preset(cls, preset, num_classes, **kwargs):
        """A new classifier on a pretrained ELMo, with the preset's tokenizer.

        Args:
            preset: any form `ELMo.from_preset` accepts.
            num_classes: number of classes.
            **kwargs: the other constructor arguments.
        """
        return super().from_preset(preset, num_classes=num_classes, **kwargs)
