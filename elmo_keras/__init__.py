"""elmo-keras: ELMo deep contextualized word representations as Keras 3 layers."""

__version__ = "0.1.0"

from elmo_keras.models.elmo.elmo_backbone import ELMo
from elmo_keras.text.char_ids import batch_to_ids
from elmo_keras.models.elmo.elmo_embedding import ELMoEmbedding
from elmo_keras.io.bilm_hdf5 import (
    WeightFileError,
    load_bilm,
    load_bilm_weights,
    save_bilm,
    save_bilm_weights,
)
from elmo_keras.layers import (
    BiLM,
    CharacterEncoder,
    Highway,
    LSTMPCell,
    ScalarMix,
)
from elmo_keras.io.bilm_options import BiLMOptions, OptionsError, load_options, save_options

# TensorFlow-only: the SavedModel export loads TensorFlow when first used.
_TENSORFLOW_ONLY = {"export_hub": "elmo_keras.io.saved_model",
                    "load_exported_elmo": "elmo_keras.io.saved_model"}


def __getattr__(name):
    if name in _TENSORFLOW_ONLY:
        import importlib

        return getattr(importlib.import_module(_TENSORFLOW_ONLY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
