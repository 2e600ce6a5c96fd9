"""The TensorFlow-only features' gate: TensorFlow is imported when they are used.

The core (layers, `ELMo`, weight I/O, NumPy char ids, `Embedder`) runs on every Keras
backend without TensorFlow installed. In-graph string ops, the SavedModel export and
tf.distribute training need it; their modules get it here, so that without it the
error names the feature instead of failing deep in an import.
"""

import importlib

from elmo_keras.extras import MissingExtraError


def tensorflow_for(feature):
    """The `tensorflow` module, or an ImportError saying that `feature` needs it.

    Args:
        feature: what needs TensorFlow, in words (e.g. "the SavedModel export").
    """
    try:
        return importlib.import_module("tensorflow")
    except ImportError as e:
        raise MissingExtraError(
            f"{feature} needs TensorFlow, which is not importable here ({e}). Install "
            "it (pip install tensorflow), or use what runs on every Keras backend: "
            "character ids from elmo_keras.batch_to_ids, pre-split tokens, "
            "elmo_keras.Embedder.") from e
