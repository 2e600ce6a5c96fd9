"""`ELMoTask`: what the task models share (keras-hub's `Task`): a backbone, a
preprocessor, their serialization, and `from_preset`."""

import keras

from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer


class ELMoTask(keras.Model):
    """Base class of `ELMoTextClassifier` and `ELMoTextEmbedder`: subclasses set
    `self.backbone` (an `ELMo`) and `self.preprocessor` (an `ELMoTokenizer`, see
    `default_preprocessor`) before building their functional model, and add their own
    arguments to `get_config`."""

    @staticmethod
    def checked_backbone(backbone):
        if not isinstance(backbone, ELMo):
            raise TypeError(f"backbone must be an elmo_keras.ELMo (ELMo.from_preset(...)), "
                            f"got {type(backbone).__name__}")
        return backbone

    @staticmethod
    def default_preprocessor(backbone):
        """Whitespace splitting, for the backbone's characters per token."""
        return ELMoTokenizer(max_characters_per_token=backbone.max_characters_per_token,
                             name="tokenizer")

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
        """The task on a pretrained ELMo (any form `ELMo.from_preset` accepts), with the
        preset's tokenizer; `kwargs` are the other constructor arguments."""
        kwargs.setdefault("preprocessor", ELMoTokenizer.from_preset(preset, name="tokenizer"))
        return cls(ELMo.from_preset(preset), **kwargs)
