"""`ELMoTextEmbedder`: sentences in, one vector per sentence out (the hub module's
`default` output)."""

import keras

from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.models.elmo.elmo_embedding import ELMoEmbedding
from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoTextEmbedder(keras.Model):
    """Sentences -> `ELMoTokenizer` -> ELMo -> the mix averaged over each sentence's
    tokens, `[batch, 2 * projection_dim]` (zero for an empty sentence).

    The mix is the plain average of the layers (weights `1/(L+1)`, gamma 1) unless the
    backbone's was trained; nothing here is trainable.

    Args:
        backbone: an `ELMo`.
        preprocessor: an `ELMoTokenizer` (default: whitespace splitting; `from_preset`
            uses the preset's).

    Examples:
    ```python
    embedder = elmo_keras.ELMoTextEmbedder.from_preset("elmo_small_en")
    vectors = embedder.predict(np.array(["The river bank.", "A bank loan."], dtype=object))
    ```
    """

    def __init__(self, backbone, preprocessor=None, **kwargs):
        if not isinstance(backbone, ELMo):
            raise TypeError(f"backbone must be an elmo_keras.ELMo (ELMo.from_preset(...)), "
                            f"got {type(backbone).__name__}")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor or ELMoTokenizer(
            max_characters_per_token=backbone.max_characters_per_token, name="tokenizer")
        self.embedding = ELMoEmbedding(model=backbone, output="default", trainable_mix=False,
                                       name="elmo")

        # === Functional model ===
        inputs = keras.Input(shape=(), dtype="string", name="text")
        outputs = self.embedding(self.preprocessor(inputs))
        kwargs.setdefault("name", "elmo_text_embedder")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """An embedder on a pretrained ELMo, with the preset's tokenizer (any form
        `ELMo.from_preset` accepts)."""
        kwargs.setdefault("preprocessor", ELMoTokenizer.from_preset(preset, name="tokenizer"))
        return cls(ELMo.from_preset(preset), **kwargs)
