"""Training a biLM from text (bilm-tf's recipe in TF2 / Keras 3).

- `vocabulary`: bilm-tf vocabulary files (build, read, validate).
- `corpus`: the corpus files, checked and streamed; bilm-tf's packing of sentences
  into rows of `unroll_steps` tokens with carried states.
- `training_options`: the bilm-tf training options file (a superset of options.json).
- `language_model`: the training graph: token encoder, biLM, softmax and loss.
- `trainer`: the loop (checkpoints, resume, tf.distribute, logs) and evaluation.
"""

from elmo_keras.training.trainer import (
    TrainingError,
    TrainingInterrupted,
    evaluate,
    train,
)
from elmo_keras.training.training_options import TrainingOptions, load_training_options
from elmo_keras.training.vocabulary import (
    Vocabulary,
    VocabularyError,
    build_vocabulary,
    count_tokens,
)
