"""Training a biLM from text (bilm-tf's recipe in TF2 / Keras 3).

- `vocabulary`: bilm-tf vocabulary files (build, read, validate).
- `corpus`: the corpus files, checked and streamed; bilm-tf's packing of sentences
  into rows of `unroll_steps` tokens with carried states, and one sentence a row.
- `training_options`: the bilm-tf training options file (a superset of options.json).
- `language_model`: the training graph: token encoder, biLM, softmax and loss.
- `stateless_random`: dropout and sampled-softmax randomness from the step, per backend.
- `run_directory`: the run directory's layout, records, resume checks (one run setup
  for both trainers), its lock, input and disk checks, and history.
- `distribution`: `tf.distribute` strategies, the distributed batch stream, the
  carried LSTM states.
- `trainer`: the TensorFlow trainer (step, checkpoints, resume); `stop_signals`: Ctrl-C /
  SIGTERM.
- `jax_train_step`, `jax_trainer`: the step jit-compiled on JAX, and its trainer.
- `training_loop`: the loop both trainers run over their step (epochs, logs,
  validation, checkpoints, interruption).
- `callbacks`: history.jsonl with its learning curve, TensorBoard logs.
- `evaluation`: stateless and stateful (bilm-tf's) perplexity.
- `trained_model`: a trained directory's files (export, load, checkpoint weights).
"""

from elmo_keras.training.errors import TrainingError, TrainingInterrupted
from elmo_keras.training.evaluation import evaluate
from elmo_keras.training.trained_model import (export_trained, load_checkpoint_weights,
                                               load_trained)
from elmo_keras.training.training_options import TrainingOptions, load_training_options
from elmo_keras.training.vocabulary import (
    Vocabulary,
    VocabularyError,
    build_vocabulary,
    count_tokens,
)


def __getattr__(name):
    # The TensorFlow trainer loads TensorFlow when first used: the rest of this package
    # runs where TensorFlow is not installed (JAX training, the GPU benchmark).
    if name == "train":
        from elmo_keras.training.trainer import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
