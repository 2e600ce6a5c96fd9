"""Training a biLM from text (bilm-tf's recipe in TF2 / Keras 3).

- `vocabulary`: bilm-tf vocabulary files (build, read, validate).
- `corpus`: the corpus files, checked and streamed; bilm-tf's packing of sentences
  into rows of `unroll_steps` tokens with carried states, and one sentence a row.
- `training_options`: the bilm-tf training options file (a superset of options.json).
- `language_model`: the training graph: token encoder, biLM, softmax and loss.
- `stateless_random`: dropout and sampled-softmax randomness from the step, per backend.
- `run_directory`: the run directory's layout, records, resume checks (one run setup
  for every backend), its lock, input and disk checks, and history.
- `trainer`: `train`, the one training loop's setup and tear-down; `training_loop`: its
  steps (epochs, logs, validation, checkpoints, interruption); `stop_signals`: Ctrl-C /
  SIGTERM.
- `step_math`: the step's math, written once (seeds, state resets, loss, clip, Adagrad).
- `backends/`: the step and its checkpoints per backend, chosen once (TensorFlow with
  `tf.distribute`, JAX data-parallel over local devices, PyTorch), and the randomness.
- `distribution`: `tf.distribute` strategies, the distributed batch stream, the
  carried LSTM states (the TensorFlow step's).
- `callbacks`: history.jsonl with its learning curve, TensorBoard logs.
- `evaluation`: stateless and stateful (bilm-tf's) perplexity; each token's loss.
- `trained_model`: a trained directory's files (export, load).
"""

from elmo_keras.training.backends import load_checkpoint_weights
from elmo_keras.training.errors import TrainingError, TrainingInterrupted
from elmo_keras.training.evaluation import evaluate
from elmo_keras.training.trained_model import export_trained, load_trained
from elmo_keras.training.trainer import train
from elmo_keras.training.training_options import TrainingOptions, load_training_options
from elmo_keras.training.vocabulary import (
    Vocabulary,
    VocabularyError,
    build_vocabulary,
    count_tokens,
)
