"""Run the char CNN once per distinct token (TensorFlow plumbing).

Real text repeats its words: a batch of 32 sentences of 20-25 tokens holds about 300
distinct tokens among 700, and a training batch's forward and backward streams hold the
same tokens twice. The char CNN is per token, so encoding each distinct character row
once and gathering gives the same vectors (and, through the gather, the same
gradients) for a fraction of the work (`benchmarks/inference.py`, `training.py`).
"""

import tensorflow as tf


def encode_distinct(encoder, char_ids):
    """`encoder` applied to each distinct row of `char_ids` once.

    Args:
        encoder: a `CharacterEncoder` (`[batch, time, chars] -> [batch, time, P]`).
        char_ids: int `[..., chars]` character ids of tokens.

    Returns:
        `[..., P]`: each token's vector, as `encoder` gives it.
    """
    char_ids = tf.convert_to_tensor(char_ids)
    flat = tf.reshape(char_ids, (-1, char_ids.shape[-1]))
    unique, index = tf.raw_ops.UniqueV2(x=flat, axis=[0])
    vectors = tf.gather(encoder(unique[None])[0], index)
    return tf.reshape(vectors, tf.concat([tf.shape(char_ids)[:-1], tf.shape(vectors)[-1:]], 0))
