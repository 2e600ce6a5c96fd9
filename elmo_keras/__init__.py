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
from elmo_keras.io.saved_model import export_hub, load_exported_elmo
from elmo_keras.layers import (
    BiLM,
    CharacterEncoder,
    Highway,
    LSTMPCell,
    ScalarMix,
)
from elmo_keras.io.bilm_options import BiLMOptions, OptionsError, load_options, save_options
