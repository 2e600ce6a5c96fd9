"""Adding `<S>`/`</S>` around each sentence before the biLM, and removing them after."""

import keras
import numpy as np
from keras import ops

from elmo_keras.text.char_ids import bos_char_ids, eos_char_ids


def token_mask(char_ids):
    """The one token mask of character ids (every layer and caller uses it).

    Args:
        char_ids: int `[..., chars]`.

    Returns:
        bool `[...]`: true where a token exists (its character ids are not all 0).
    """
    return ops.any(ops.cast(char_ids, "int32") > 0, axis=-1)


def add_boundaries(values, lengths, first, last):
    """The one framing: `first` before each row's values and `last` right after its
    last real one (step `length + 1`), zeros after; `[b, t, ...]` -> `[b, t + 2, ...]`.

    Frames character ids (`AddSentenceBoundaries`: `first`, `last` the ids of `<S>`,
    `</S>`), token vectors (`Embedder`: their char-CNN vectors) or a mask (`True`,
    `True`) alike.

    Args:
        values: `[batch, time, ...]`, zero (or false) at padded steps.
        lengths: int `[batch]`, each row's real steps.
        first, last: values of shape `values.shape[2:]` (or broadcastable to it).

    Returns:
        `[batch, time + 2, ...]`.
    """
    extra = len(values.shape) - 2
    framed = ops.pad(values, ((0, 0), (1, 1)) + ((0, 0),) * extra)
    index = (slice(None), slice(None)) + (None,) * extra
    step = ops.arange(ops.shape(framed)[1], dtype="int32")[None, :][index]
    ends = ops.cast(lengths, "int32")[:, None][index] + 1
    first = ops.cast(first, framed.dtype)
    last = ops.cast(last, framed.dtype)
    return ops.where(step == ends, last, ops.where(step == 0, first, framed))


@keras.saving.register_keras_serializable(package="elmo_keras")
class AddSentenceBoundaries(keras.layers.Layer):
    """Frames each row's tokens with `<S>` and `</S>`: `[b, t, c]` -> `[b, t + 2, c]`.

    `<S>` goes to step 0 and `</S>` right after the row's last real token (step
    `length + 1`), so padding stays at the end. Every row gets both, an empty one too
    (as bilm-tf's `Batcher` does).

    Args:
        max_characters_per_token: length of a token's character id row.
    """

    def __init__(self, max_characters_per_token=50, **kwargs):
        super().__init__(**kwargs)
        self.max_characters_per_token = int(max_characters_per_token)
        self._bos = np.asarray(bos_char_ids(self.max_characters_per_token), "int32")
        self._eos = np.asarray(eos_char_ids(self.max_characters_per_token), "int32")

    def call(self, char_ids):
        ids = ops.cast(char_ids, "int32")
        lengths = ops.sum(ops.cast(token_mask(ids), "int32"), axis=1)
        return add_boundaries(ids, lengths, self._bos, self._eos)

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] + 2
        return (input_shape[0], t, input_shape[2])

    def compute_output_spec(self, char_ids):
        return keras.KerasTensor(self.compute_output_shape(char_ids.shape), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(max_characters_per_token=self.max_characters_per_token)
        return config


@keras.saving.register_keras_serializable(package="elmo_keras")
class RemoveSentenceBoundaries(keras.layers.Layer):
    """Inverse of `AddSentenceBoundaries` on the biLM's outputs.

    Call arguments:
        inputs: `[batch, time + 2, dim]` outputs over the framed sentences.
        mask: bool `[batch, time]`, the mask of the tokens without boundaries.

    Returns:
        `[batch, time, dim]`, zero at padded steps, with `mask` as its Keras mask.
    """

    def call(self, inputs, mask=None):
        steps = ops.shape(mask)[1]
        x = inputs[:, 1:steps + 1]
        return x * ops.expand_dims(ops.cast(mask, x.dtype), -1)

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] - 2
        return (input_shape[0], t, input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return mask
