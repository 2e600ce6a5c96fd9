"""`ELMoTextClassifierPreprocessor`: raw sentences (and labels) to what the ELMo task
models take, outside their graph (keras-hub's `TextClassifierPreprocessor` shape), so the
tasks run on every Keras backend."""

import keras
import numpy as np

from elmo_keras.models.elmo.elmo_tokenizer import ELMoTokenizer
from elmo_keras.text import inputs as text_inputs

#: Steps are padded to a multiple of this: fewer distinct shapes for a compiled model.
STEP_MULTIPLE = 8


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoTextClassifierPreprocessor:
    """Sentences -> character ids, labels and sample weights passed through: what
    `ELMoTextClassifier` and `ELMoTextEmbedder` apply in `fit`, `evaluate` and
    `predict` (`preprocess_samples`) before their graph runs.

    Strings become ids by the one implementation, `elmo_keras.text.inputs.to_char_ids`:
    Python and NumPy strings in NumPy (every backend, no TensorFlow needed), and, inside
    `tf.data.Dataset.map`, TensorFlow string tensors in the graph, with the same ids.
    Each batch is padded to a multiple of `step_multiple` steps (padded steps are masked:
    the outputs do not change, and a compiled model sees fewer shapes). Saved with its
    task (`get_config`).

    Args:
        tokenizer: the `ELMoTokenizer` (its `split` and `max_characters_per_token`);
            default whitespace splitting. `from_preset` uses the preset's.
        step_multiple: pad the time axis to a multiple of this (1: no padding).

    Call arguments:
        x: sentences (a 1-D batch), or tokens; Python, NumPy or TensorFlow.
        y: optional labels, returned as they are.
        sample_weight: optional weights, returned as they are.

    Returns:
        `ids` alone, or `(ids, y)` / `(ids, y, sample_weight)` when given
        (`keras.utils.pack_x_y_sample_weight`); `ids` int32 `[batch, time, chars]`.

    Examples:
    ```python
    preprocessor = elmo_keras.ELMoTextClassifierPreprocessor.from_preset("elmo_small_en")
    ids, y = preprocessor(np.array(["A fine film!", "Dull."], dtype=object), np.array([1, 0]))
    ds = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(32).map(preprocessor)
    ```
    """

    def __init__(self, tokenizer=None, step_multiple=STEP_MULTIPLE):
        if tokenizer is None:
            tokenizer = ELMoTokenizer(name="tokenizer")
        if not isinstance(tokenizer, ELMoTokenizer):
            raise TypeError(f"tokenizer must be an ELMoTokenizer, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.step_multiple = int(step_multiple)

    @property
    def max_characters_per_token(self):
        return self.tokenizer.max_characters_per_token

    def __call__(self, x, y=None, sample_weight=None):
        ids = text_inputs.to_char_ids(x, self.tokenizer.split, self.max_characters_per_token)
        ids = text_inputs.pad_steps(ids, self.step_multiple)
        return keras.utils.pack_x_y_sample_weight(ids, y, sample_weight)

    def get_config(self):
        return {"tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "step_multiple": self.step_multiple}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("tokenizer"), dict):
            config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """The preprocessor with a preset's tokenizer (`ELMoTokenizer.from_preset`).

        Args:
            preset: any form `ELMo.from_preset` accepts.
            **kwargs: the other constructor arguments (`step_multiple`).
        """
        return cls(tokenizer=ELMoTokenizer.from_preset(preset, name="tokenizer"), **kwargs)


class PreprocessedBatches(keras.utils.PyDataset):
    """Arrays of raw samples as a Keras dataset of preprocessed batches, on every
    backend: each batch is tokenized when it is read (padded to its own longest
    sentence, not the whole data set's), in a new order each epoch when `shuffle`.

    Args:
        preprocess: `(x, y, sample_weight) -> batch` (a task's `preprocess_samples`).
        x: sentences (a list or NumPy array); y, sample_weight: None or arrays.
        batch_size: samples per batch (default 32, as Keras').
        shuffle: reorder the samples each epoch (NumPy's global generator, which
            `keras.utils.set_random_seed` seeds).
    """

    def __init__(self, preprocess, x, y=None, sample_weight=None, batch_size=None,
                 shuffle=False):
        super().__init__()
        self.preprocess = preprocess
        self.arrays = (x, y, sample_weight)
        self.size = len(x)
        if y is not None and len(y) != self.size:
            raise ValueError(f"x holds {self.size} samples but y {len(y)}")
        self.batch_size = int(batch_size or 32)
        self.shuffle = bool(shuffle)
        self.order = np.arange(self.size)
        self.on_epoch_end()

    def __len__(self):
        return -(-self.size // self.batch_size)

    def __getitem__(self, i):
        rows = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.preprocess(*(None if a is None else _take(a, rows) for a in self.arrays))

    def on_epoch_end(self):
        if self.shuffle:
            self.order = np.random.permutation(self.size)

    def for_backend(self):
        """Itself, or on TensorFlow a `tf.data.Dataset` reading it: Keras' own reader
        fixes a tensor's shape from the first two batches, and batches here differ in
        their number of steps. tf.data's autotuning is off (see
        `elmo_keras.batched_dataset`)."""
        if keras.backend.backend() != "tensorflow":
            return self
        import tensorflow as tf

        def spec(a):
            a = np.asarray(a)
            return tf.TensorSpec([None] * a.ndim, tf.as_dtype(a.dtype))

        def batch(i):
            b = self[i]
            return b if isinstance(b, tuple) else (b,)

        signature = tuple(spec(a) for a in batch(0))

        def batches():
            for i in range(len(self)):
                yield batch(i)
            self.on_epoch_end()

        from elmo_keras.layers.kernels.tensorflow import without_autotuning

        dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
        # Autotuning beside an ELMo model often halves its speed on a small CPU.
        return without_autotuning(
            dataset.apply(tf.data.experimental.assert_cardinality(len(self))))


def _take(array, rows):
    if isinstance(array, np.ndarray):
        return array[rows]
    return [array[i] for i in rows]
