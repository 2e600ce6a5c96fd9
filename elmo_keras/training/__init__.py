"""Training a biLM from text (bilm-tf's recipe in TF2 / Keras 3).

- `vocabulary`: bilm-tf vocabulary files (build, read, validate).
- `corpus`: the corpus files, checked and streamed; bilm-tf's packing of sentences
  into rows of `unroll_steps` tokens with carried states.
- `training_options`: the bilm-tf training options file (a superset of options.json).
- `language_model`: the training graph: token encoder, biLM, softmax and loss.
- `stateless_random`: dropout and sampled-softmax randomness from the step, per backend.
- `trainer`: the loop (checkpoints, resume, tf.distribute, logs) and evaluation.
- `jax_train_step`, `jax_trainer`: the step jit-compiled on JAX, and its loop.
"""

from elmo_keras.training.training_options import TrainingOptions, load_training_options
from elmo_keras.training.vocabulary import Vocabulary, VocabularyError, build_vocabulary

# The TensorFlow trainer loads TensorFlow when first used: the rest of this package
# runs where TensorFlow is not installed (JAX training, the GPU benchmark).
_TRAINER = ("TrainingError", "TrainingInterrupted", "evaluate", "train")


def __getattr__(name):
    if name in _TRAINER:
        from elmo_keras.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
