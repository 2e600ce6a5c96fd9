"""`ELMoTextClassifier`: raw sentences in, class scores out (keras-hub's `TextClassifier`
shape: a backbone, a preprocessor outside the graph, a head, compiled on construction),
with the layers of its encoders: `HashedTokenEmbedding` and `MaskedPooling`."""

import keras
from keras import ops

from elmo_keras.layers.sentence_boundaries import token_mask
from elmo_keras.models.elmo.elmo_embedding import ELMoEmbedding
from elmo_keras.models.elmo.elmo_finetuning import (
    DEFAULT_DECAY,
    DiscriminativeAdam,
    GradualUnfreezing,
    elmo_layer_depths,
)
from elmo_keras.models.elmo.elmo_task import ELMoTask

#: `"pooling"` and `"bilstm"` are the first two encoders' names (configs saved with
#: them load as they were).
ENCODERS = ("pooling", "bilstm", "max_mean", "bilstm_max_mean")

# A polynomial hash of a token's character ids in int32 on every backend: each term
# `id * BASE**i mod PRIME` stays below 2**31 (ids < 263, PRIME < 2**31 / 263), and so
# does the sum of 50 of them.
_HASH_PRIME = 4194301  # 2**22 - 3
_HASH_BASE = 263
_UPPER = (ord("A") + 1, ord("Z") + 1)  # ASCII capitals as character ids (byte + 1)


@keras.saving.register_keras_serializable(package="elmo_keras")
class HashedTokenEmbedding(keras.layers.Layer):
    """Task-learned token embeddings from character ids, no vocabulary in the graph:
    each token's row of character ids is hashed (integer `keras.ops`, the same on every
    backend) into one of `hash_buckets` rows of a `keras.layers.Embedding`.

    ASCII letters are lowercased first (as a vocabulary would). Padding tokens (all-zero
    rows) get the zero vector and are masked. Different tokens may share a row (a hash
    collision), as in the hashing trick.

    Args:
        hash_buckets: number of embedding rows for tokens.
        output_dim: size of each vector.
        lowercase: fold ASCII capitals before hashing (default True).

    Call arguments:
        inputs: int `[batch, time, chars]` character ids.

    Returns:
        `[batch, time, output_dim]`, with a mask (true for real tokens).

    Examples:
    ```python
    ids = elmo_keras.batch_to_ids([["a", "good", "film"], ["Good"]])
    HashedTokenEmbedding(2**15, 64)(ids).shape   # (2, 3, 64); "good" == "Good"
    ```
    """

    def __init__(self, hash_buckets=2**15, output_dim=128, lowercase=True, **kwargs):
        super().__init__(**kwargs)
        if int(hash_buckets) < 1 or int(output_dim) < 1:
            raise ValueError(f"hash_buckets and output_dim must be >= 1, got "
                             f"{hash_buckets}, {output_dim}")
        self.hash_buckets = int(hash_buckets)
        self.output_dim = int(output_dim)
        self.lowercase = bool(lowercase)
        self.embedding = keras.layers.Embedding(self.hash_buckets + 1, self.output_dim,
                                                name="embeddings")
        self.supports_masking = True

    def build(self, input_shape):
        self.embedding.build((None, None))
        powers, p = [], 1
        for _ in range(input_shape[-1]):
            powers.append(p)
            p = p * _HASH_BASE % _HASH_PRIME
        self._powers = powers  # BASE**i mod PRIME for each character position

    def bucket_ids(self, char_ids):
        """int32 `[batch, time]`: each token's row, 1 .. `hash_buckets`; 0 for padding."""
        ids = ops.cast(char_ids, "int32")
        if self.lowercase:
            upper = ops.logical_and(ids >= _UPPER[0], ids <= _UPPER[1])
            ids = ops.where(upper, ids + 32, ids)
        terms = ops.mod(ids * ops.convert_to_tensor(self._powers, "int32"), _HASH_PRIME)
        hashed = ops.mod(ops.sum(terms, axis=-1), _HASH_PRIME)
        return ops.where(token_mask(ids), 1 + ops.mod(hashed, self.hash_buckets), 0)

    def call(self, inputs):
        buckets = self.bucket_ids(inputs)
        vectors = self.embedding(buckets)
        return vectors * ops.expand_dims(ops.cast(buckets > 0, vectors.dtype), -1)

    def compute_mask(self, inputs, mask=None):
        return token_mask(inputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "hash_buckets": self.hash_buckets,
                "output_dim": self.output_dim, "lowercase": self.lowercase}


@keras.saving.register_keras_serializable(package="elmo_keras")
class MaskedPooling(keras.layers.Layer):
    """Pooling over the real tokens of `[batch, time, dim]` (the mask): `"mean"`
    (`[batch, dim]`) or `"max_mean"` (max then mean, `[batch, 2 * dim]`). A text with
    no token gives zeros (not NaN or -inf).

    Args:
        mode: `"mean"` or `"max_mean"`.

    Examples:
    ```python
    MaskedPooling("max_mean")(x, mask=mask)   # [batch, 2 * dim]
    ```
    """

    def __init__(self, mode="max_mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max_mean"):
            raise ValueError(f"mode must be 'mean' or 'max_mean', got {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:-1], "bool")
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        count = ops.sum(weights, axis=1)
        mean = ops.sum(inputs * weights, axis=1) / ops.maximum(count, 1.0)
        if self.mode == "mean":
            return mean
        top = ops.max(ops.where(weights > 0, inputs, ops.min(inputs) - 1.0), axis=1)
        top = ops.where(count > 0, top, 0.0)
        return ops.concatenate([top, mean], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        width = input_shape[-1] * (1 if self.mode == "mean" else 2)
        return (input_shape[0], width)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoTextClassifier(ELMoTask):
    """Sentences -> preprocessor (char ids) -> ELMo (biLM frozen by default, trainable
    mix) [+ hashed token embeddings] -> encoder -> dropout -> `Dense(num_classes)`, on
    every Keras backend.

    The preprocessor (`ELMoTextClassifierPreprocessor`) runs outside the graph, in
    `fit`, `evaluate` and `predict` (see `ELMoTask`): give them raw sentences (a list
    or an object array), a `tf.data.Dataset` of sentences, or character ids. The
    functional graph itself takes ids `[batch, time, chars]`. `save` writes the
    preprocessor with the model.

    Encoders (`encoder`), on the token vectors (the ELMo mix, concatenated with
    `HashedTokenEmbedding`s when `token_embedding_dim > 0`, as the ELMo paper adds ELMo
    to a task model's own embeddings):

    - `"pooling"`: the mean over real tokens.
    - `"bilstm"`: a bidirectional LSTM of `units` per direction, its last states.
    - `"max_mean"`: dropout, `Dense(units, relu)` per token, then max and mean over real
      tokens (`examples/classify.py`'s classifier).
    - `"bilstm_max_mean"`: dropout, a bidirectional LSTM (`units` per direction) over
      the sequence, then max and mean over real tokens (the ELMo paper's task models).

    Fine-tuning the biLM (`trainable_bilm=True`, ULMFiT's recipe; see
    `elmo_keras.models.elmo.elmo_finetuning`): the "auto" optimizer is then a
    `DiscriminativeAdam`, layer `d` below the head learning at `learning_rate /
    lr_decay**d` (top biLSTM layer d=1, ..., character CNN d=L+1); with
    `unfreeze_after=k`, `fit` adds `GradualUnfreezing(k)`: the head and mix alone for
    `k` epochs, then one more biLM layer per epoch, top-down.

    Compiled on construction (call `compile` again to change it) with defaults chosen
    for ELMo:

    - `keras.optimizers.Adam(learning_rate)` (1e-3): the learning rate of training a
      small model from scratch, as the ELMo paper's task models do; not the `5e-5`
      keras-hub's classifiers use to fine-tune a whole pretrained transformer, which
      would barely move a fresh head. `DiscriminativeAdam` when the biLM trains.
    - `SparseCategoricalCrossentropy(from_logits=activation is None)`: integer labels;
      logits by default (keras-hub's convention), which is the numerically stable form.
    - `SparseCategoricalAccuracy` as the metric.

    The other defaults were measured on the sentiment data through this class (table
    and commands: `docs/downstream_results.md`, "ELMoTextClassifier's defaults"):
    `encoder="max_mean"`, `units=128`, `token_embedding_dim=128`, `dropout=0.3` and a
    frozen biLM. ELMo alone under the old default (`"pooling"`) stays near the majority
    class on this small English biLM; the task's own (hashed) token embeddings beside
    ELMo, max and mean pooling and a dense layer per token are what `examples/classify.py`
    found best. Fine-tuning the biLM is left off by default: it did not measure better
    and costs a backward pass through the biLM.

    Args:
        backbone: an `ELMo` (`ELMo.from_preset(...)`).
        num_classes: number of classes (>= 2).
        preprocessor: the `ELMoTextClassifierPreprocessor` (or an `ELMoTokenizer`)
            turning strings into char ids (default: whitespace splitting; `from_preset`
            uses the preset's tokenizer).
        activation: of the output layer: None (logits, default) or `"softmax"`.
        dropout: dropout rate before the output layer, and on the token vectors for
            `"max_mean"` and `"bilstm_max_mean"` (training only).
        encoder: one of `"pooling"`, `"bilstm"`, `"max_mean"`, `"bilstm_max_mean"`.
        units: the LSTM size (per direction) or the dense layer's size.
        trainable_mix: train the mix weights and gamma (default True).
        token_embedding_dim: size of the task-learned token embeddings concatenated to
            ELMo (0: none).
        hash_buckets: embedding rows for the hashed tokens.
        trainable_bilm: fine-tune the biLM (char CNN and biLSTMs) too.
        learning_rate: of the "auto" optimizer.
        lr_decay: the discriminative learning rates' factor per layer (ULMFiT's 2.6).
        unfreeze_after: with `trainable_bilm`, epochs before the biLM starts to unfreeze
            (None: it all trains from the first step).

    Examples:
    ```python
    classifier = elmo_keras.ELMoTextClassifier.from_preset("elmo_small_en", num_classes=2)
    classifier.fit(np.array(["A fine film!", "Dull."], dtype=object), np.array([1, 0]))
    classifier.predict(np.array(["What a film!"], dtype=object))   # logits [1, 2]
    classifier.save("clf.keras")   # keras.saving.load_model after `import elmo_keras`
    ```
    """

    def __init__(self, backbone, num_classes, preprocessor=None, activation=None,
                 dropout=0.3, encoder="max_mean", units=128, trainable_mix=True,
                 token_embedding_dim=128, hash_buckets=2**15, trainable_bilm=False,
                 learning_rate=1e-3, lr_decay=DEFAULT_DECAY, unfreeze_after=None,
                 **kwargs):
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        if activation not in (None, "softmax"):
            raise ValueError(f"activation must be None (logits) or 'softmax', got {activation!r}")
        if unfreeze_after is not None and (not trainable_bilm or int(unfreeze_after) < 0):
            raise ValueError("unfreeze_after needs trainable_bilm=True and is >= 0, got "
                             f"{unfreeze_after} (trainable_bilm={trainable_bilm})")
        # === Layers ===
        backbone, preprocessor = self.checked(backbone, preprocessor)
        embedding = ELMoEmbedding(model=backbone, output="elmo", trainable_mix=trainable_mix,
                                  trainable_bilm=trainable_bilm, name="elmo")
        token_embedding = HashedTokenEmbedding(
            hash_buckets, token_embedding_dim,
            name="token_embedding") if token_embedding_dim else None
        input_dropout = keras.layers.Dropout(dropout, name="input_dropout") if encoder in (
            "max_mean", "bilstm_max_mean") else None
        if encoder == "pooling":  # zero for an empty text (no NaN)
            sequence_encoder = [MaskedPooling("mean", name="mean_over_tokens")]
        elif encoder == "bilstm":
            sequence_encoder = [keras.layers.Bidirectional(keras.layers.LSTM(units),
                                                           name="bilstm")]
        elif encoder == "max_mean":
            sequence_encoder = [keras.layers.Dense(units, activation="relu", name="dense"),
                                MaskedPooling("max_mean", name="max_mean")]
        else:
            sequence_encoder = [
                keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True),
                                           name="bilstm"),
                MaskedPooling("max_mean", name="max_mean")]
        output_dropout = keras.layers.Dropout(dropout, name="dropout")
        output_dense = keras.layers.Dense(num_classes, activation=activation,
                                          name="logits" if activation is None else "probs")

        # === Functional model ===
        inputs = self.char_ids_input(backbone)
        mask = token_mask(inputs)
        x = embedding(inputs)
        if token_embedding is not None:
            x = keras.layers.Concatenate(name="elmo_and_tokens")([x, token_embedding(inputs)])
        if input_dropout is not None:
            x = input_dropout(x)
        for layer in sequence_encoder:  # the token mask given explicitly
            x = layer(x) if isinstance(layer, keras.layers.Dense) else layer(x, mask=mask)
        x = output_dropout(x)
        kwargs.setdefault("name", "elmo_text_classifier")
        super().__init__(backbone, preprocessor, inputs, output_dense(x), **kwargs)

        # === Config ===
        self.embedding = embedding
        self.token_embedding = token_embedding
        self.encoder = sequence_encoder
        self.output_dropout = output_dropout
        self.output_dense = output_dense
        self.num_classes = int(num_classes)
        self.activation = activation
        self.dropout = float(dropout)
        self.encoder_name = encoder
        self.units = int(units)
        self.trainable_mix = bool(trainable_mix)
        self.token_embedding_dim = int(token_embedding_dim)
        self.hash_buckets = int(hash_buckets)
        self.trainable_bilm = bool(trainable_bilm)
        self.learning_rate = float(learning_rate)
        self.lr_decay = float(lr_decay)
        self.unfreeze_after = None if unfreeze_after is None else int(unfreeze_after)
        self.compile()

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """`keras.Model.compile` with ELMo's defaults for `"auto"` (see the class)."""
        if optimizer == "auto":
            if self.trainable_bilm:
                optimizer = DiscriminativeAdam(
                    self.learning_rate, depths=elmo_layer_depths(self.embedding.elmo),
                    decay=self.lr_decay)
            else:
                optimizer = keras.optimizers.Adam(self.learning_rate)
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

    def fit(self, x=None, y=None, callbacks=None, **kwargs):
        """`ELMoTask.fit`, plus `GradualUnfreezing(unfreeze_after)` when it is set (and
        no `GradualUnfreezing` is among `callbacks`)."""
        callbacks = list(callbacks or [])
        if self.unfreeze_after is not None and isinstance(
                self.optimizer, DiscriminativeAdam) and not any(
                isinstance(c, GradualUnfreezing) for c in callbacks):
            callbacks.append(GradualUnfreezing(self.unfreeze_after))
        return super().fit(x, y, callbacks=callbacks, **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "activation": self.activation,
            "dropout": self.dropout,
            "encoder": self.encoder_name,
            "units": self.units,
            "trainable_mix": self.trainable_mix,
            "token_embedding_dim": self.token_embedding_dim,
            "hash_buckets": self.hash_buckets,
            "trainable_bilm": self.trainable_bilm,
            "learning_rate": self.learning_rate,
            "lr_decay": self.lr_decay,
            "unfreeze_after": self.unfreeze_after,
        }

    @classmethod
    def from_config(cls, config):
        # A config saved before the token embeddings existed had none.
        return super().from_config({"token_embedding_dim": 0, **config})

    @classmethod
    def from_preset(cls, preset, num_classes, **kwargs):
        """A new classifier on a pretrained ELMo, with the preset's tokenizer.

        Args:
            preset: any form `ELMo.from_preset` accepts.
            num_classes: number of classes.
            **kwargs: the other constructor arguments.
        """
        return super().from_preset(preset, num_classes=num_classes, **kwargs)
