"""elmo-keras: ELMo deep contextualized word representations as Keras 3 layers.

The public API (`import elmo_keras as ek`):

- models: `ELMo` (`ELMo.from_preset("elmo_small_en")`, `ELMo.presets`,
  `save_to_preset`), `ELMoEmbedding` (a layer), `ELMoTextClassifier`,
  `ELMoTextEmbedder`, `ELMoTokenizer`, `Embedder` (batches of tokenized sentences);
- fine-tuning the biLM under a task: `DiscriminativeAdam`, `GradualUnfreezing`;
  task-learned token embeddings from char ids: `HashedTokenEmbedding`;
- bilm-tf files: `load_bilm`, `save_bilm`, `load_bilm_weights`, `save_bilm_weights`,
  `load_options`, `save_options`, `BiLMOptions`;
- TF Hub-style SavedModels (need TensorFlow, imported on first use): `export_hub`,
  `load_exported_elmo`;
- `batched_dataset` (TensorFlow): batches for `fit`/`predict` of your own Keras model
  that keep an ELMo model at full speed on a CPU (see its docstring);
- domain adaptation (trains the biLM further on your text): `adapt`;
- `batch_to_ids`, `tokenize` (the corpus tokenizer), `ScalarMixHistory`, the layers,
  `datasets` (the shipped Alice corpus, labelled data from the package registries).
"""

from elmo_keras import datasets
from elmo_keras.callbacks import ScalarMixHistory
from elmo_keras.io.bilm_hdf5 import (
    WeightFileError,
    load_bilm_weights,
    save_bilm,
    save_bilm_weights,
)
from elmo_keras.io.bilm_options import BiLMOptions, OptionsError, load_options, save_options
from elmo_keras.io.model_files import PresetError
from elmo_keras.layers import BiLM, CharacterEncoder, Highway, LSTMPCell, ScalarMix
from elmo_keras.models.elmo.elmo_backbone import ELMo, load_bilm, load_exported_elmo
from elmo_keras.models.elmo.elmo_embedder import Embedder
from elmo_keras.models.elmo.elmo_embedding import ELMoEmbedding
from elmo_keras.models.elmo.elmo_finetuning import DiscriminativeAdam, GradualUnfreezing
from elmo_keras.models.elmo.elmo_text_classifier import (
    ELMoTextClassifier,
    HashedTokenEmbedding,
)
from elmo_keras.models.elmo.elmo_text_classifier_preprocessor import (
    ELMoTextClassifierPreprocessor,
)
from elmo_keras.models.elmo.elmo_text_embedder import ELMoTextEmbedder
from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer
from elmo_keras.text.char_ids import batch_to_ids
from elmo_keras.text.corpus_tokenizer import tokenize
from elmo_keras.version import __version__

# Names whose modules import TensorFlow: loaded on first use, so that `import elmo_keras`
# on the JAX or PyTorch backend does not need TensorFlow.
_LAZY = {
    "export_hub": "elmo_keras.models.elmo.elmo_hub_export",
    "adapt": "elmo_keras.apps.adaptation",
    "batched_dataset": "elmo_keras.layers.kernels.tensorflow",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'elmo_keras' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
