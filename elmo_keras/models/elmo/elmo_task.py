"""`ELMoTask`: what the task models share (keras-hub's `Task`): a backbone, a
preprocessor applied outside the graph, their serialization, and `from_preset`."""

import keras

from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.models.elmo.elmo_text_classifier_preprocessor import (
    ELMoTextClassifierPreprocessor,
    PreprocessedBatches,
)
from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer
from elmo_keras.text import inputs as text_inputs


class ELMoTask(keras.Model):
    """Base class of `ELMoTextClassifier` and `ELMoTextEmbedder`.

    The functional graph takes character ids (`[batch, time, chars]`), so it runs on
    every Keras backend; raw samples are preprocessed outside it, as keras-hub's tasks
    do: `fit`, `evaluate`, `predict` and the `*_on_batch` methods apply
    `preprocess_samples` (the `preprocessor`) to strings, batch by batch
    (`PreprocessedBatches`), and map it over a `tf.data.Dataset` of strings. Character
    ids and datasets of ids pass through as they are.

    Subclasses check their arguments with `checked(backbone, preprocessor)`, build their
    graph on `char_ids_input(backbone)`, call `ELMoTask.__init__` with it, then set their
    layers as attributes (after it: PyTorch's `Module` refuses sub-modules set before
    its `__init__`), and add their own arguments to `get_config`.
    """

    def __init__(self, backbone, preprocessor, inputs, outputs, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor

    @staticmethod
    def checked(backbone, preprocessor):
        """`(backbone, preprocessor)` checked: an `ELMo`, and an
        `ELMoTextClassifierPreprocessor` (an `ELMoTokenizer` is wrapped in one; None is
        whitespace splitting)."""
        if not isinstance(backbone, ELMo):
            raise TypeError(f"backbone must be an elmo_keras.ELMo (ELMo.from_preset(...)), "
                            f"got {type(backbone).__name__}")
        c = backbone.max_characters_per_token
        if preprocessor is None:
            preprocessor = ELMoTokenizer(max_characters_per_token=c, name="tokenizer")
        if isinstance(preprocessor, ELMoTokenizer):
            preprocessor = ELMoTextClassifierPreprocessor(preprocessor)
        if not isinstance(preprocessor, ELMoTextClassifierPreprocessor):
            raise TypeError("preprocessor must be an ELMoTextClassifierPreprocessor or an "
                            f"ELMoTokenizer, got {type(preprocessor).__name__}")
        if preprocessor.max_characters_per_token != c:
            raise ValueError(f"the preprocessor makes {preprocessor.max_characters_per_token} "
                             f"ids per token; the backbone takes {c}")
        return backbone, preprocessor

    @staticmethod
    def char_ids_input(backbone):
        """The functional model's input: int32 character ids `[batch, time, chars]`."""
        return keras.Input(shape=(None, backbone.max_characters_per_token), dtype="int32",
                           name="char_ids")

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Raw samples -> model inputs (keras-hub's `Task.preprocess_samples`)."""
        return self.preprocessor(x, y, sample_weight)

    def _batches(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False):
        """`(x, y, sample_weight, batch_size)` as Keras then takes them: strings become a
        dataset of preprocessed batches; a `tf.data.Dataset` of strings is mapped; ids
        and anything else pass through."""
        if text_inputs.holds_strings(x):
            data = PreprocessedBatches(self.preprocess_samples, x, y, sample_weight,
                                       batch_size, shuffle)
            return data.for_backend(), None, None, None
        if _string_dataset(x):
            return x.map(self.preprocess_samples), y, sample_weight, batch_size
        return x, y, sample_weight, batch_size

    def fit(self, x=None, y=None, batch_size=None, validation_split=0.0,
            validation_data=None, shuffle=True, sample_weight=None, **kwargs):
        """`keras.Model.fit` on raw sentences (or ids): strings are preprocessed batch
        by batch; `validation_split` takes the last samples, as Keras does."""
        if validation_split and text_inputs.holds_strings(x):
            cut = int(len(x) * (1.0 - validation_split))
            validation_data = tuple(a[cut:] for a in (x, y, sample_weight) if a is not None)
            x, y = x[:cut], None if y is None else y[:cut]
            sample_weight = None if sample_weight is None else sample_weight[:cut]
            validation_split = 0.0
        if isinstance(validation_data, (tuple, list)) and text_inputs.holds_strings(
                validation_data[0]):
            validation_data = PreprocessedBatches(
                self.preprocess_samples,
                *keras.utils.unpack_x_y_sample_weight(tuple(validation_data)),
                kwargs.get("validation_batch_size") or batch_size).for_backend()
        elif _string_dataset(validation_data):
            validation_data = validation_data.map(self.preprocess_samples)
        given = x
        x, y, sample_weight, batch_size = self._batches(x, y, sample_weight, batch_size,
                                                        shuffle)
        shuffle = shuffle and x is given  # preprocessed batches are shuffled already
        return super().fit(x, y, batch_size=batch_size, validation_split=validation_split,
                           validation_data=validation_data, shuffle=shuffle,
                           sample_weight=sample_weight, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        x, y, sample_weight, batch_size = self._batches(x, y, sample_weight, batch_size)
        return super().evaluate(x, y, batch_size=batch_size, sample_weight=sample_weight,
                                **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        x, _, _, batch_size = self._batches(x, batch_size=batch_size)
        return super().predict(x, batch_size=batch_size, **kwargs)

    def train_on_batch(self, x, y=None, sample_weight=None, **kwargs):
        x, y, sample_weight = self._one_batch(x, y, sample_weight)
        return super().train_on_batch(x, y, sample_weight=sample_weight, **kwargs)

    def test_on_batch(self, x, y=None, sample_weight=None, **kwargs):
        x, y, sample_weight = self._one_batch(x, y, sample_weight)
        return super().test_on_batch(x, y, sample_weight=sample_weight, **kwargs)

    def predict_on_batch(self, x):
        return super().predict_on_batch(self._one_batch(x)[0])

    def _one_batch(self, x, y=None, sample_weight=None):
        if not text_inputs.holds_strings(x):
            return x, y, sample_weight
        return keras.utils.unpack_x_y_sample_weight(self.preprocess_samples(x, y, sample_weight))

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
        kwargs.setdefault("preprocessor", ELMoTextClassifierPreprocessor.from_preset(preset))
        return cls(ELMo.from_preset(preset), **kwargs)


def _string_dataset(x):
    """True for a `tf.data.Dataset` whose inputs (first element) are strings."""
    import sys

    tf = sys.modules.get("tensorflow")
    if tf is None or not isinstance(x, tf.data.Dataset):
        return False
    spec = x.element_spec
    first = spec[0] if isinstance(spec, tuple) else spec
    return getattr(first, "dtype", None) == tf.string
