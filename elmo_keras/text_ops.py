"""Strings -> character ids inside the TensorFlow graph (for SavedModels and tf.data).

The same ids as `elmo_keras.chars` (a test checks they agree byte for byte), computed with
`tf.strings` so no Python runs per token.
"""

import tensorflow as tf

from elmo_keras.chars import (
    BOS_CHAR,
    BOS_TOKEN,
    BOW_CHAR,
    EOS_CHAR,
    EOS_TOKEN,
    EOW_CHAR,
    MAX_CHARACTERS_PER_TOKEN,
    PAD_CHAR,
)


def _flat_tokens_to_ids(tokens, max_characters_per_token):
    """1-D string tensor -> int32 `[n, max_characters_per_token]` (+1 shifted)."""
    c = max_characters_per_token
    body = c - 2
    cut = tf.strings.substr(tokens, 0, body, unit="BYTE")
    n_bytes = tf.strings.length(cut, unit="BYTE")  # [n]
    raw = tf.io.decode_raw(cut, tf.uint8, fixed_length=body)  # [n, body], zero padded
    raw = tf.cast(raw, tf.int32)
    pos = tf.range(c, dtype=tf.int32)[None, :]  # [1, c]
    n = n_bytes[:, None]
    shifted = tf.pad(raw, [[0, 0], [1, 1]])  # byte k at position k + 1
    ids = tf.where(pos <= n, shifted, PAD_CHAR)
    ids = tf.where(pos == 0, BOW_CHAR, ids)
    ids = tf.where(pos == n + 1, EOW_CHAR, ids)

    def special(char):
        row = tf.where(pos[0] == 1, char, PAD_CHAR)
        row = tf.where(pos[0] == 0, BOW_CHAR, row)
        return tf.where(pos[0] == 2, EOW_CHAR, row)[None, :]

    ids = tf.where(tf.equal(tokens, BOS_TOKEN)[:, None], special(BOS_CHAR), ids)
    ids = tf.where(tf.equal(tokens, EOS_TOKEN)[:, None], special(EOS_CHAR), ids)
    return ids + 1


def tokens_to_char_ids(tokens, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """Token strings -> character ids, in-graph.

    Args:
        tokens: a string tensor of any shape, where `""` marks a padded position (its
            ids are all 0), or a `tf.RaggedTensor` of strings (every element is a token).
        max_characters_per_token: ids per token.

    Returns:
        int32 ids with a trailing dimension `max_characters_per_token`: dense
        `[*tokens.shape, c]` for a dense input, ragged `[..., (tokens), c]` for a ragged
        one.
    """
    c = int(max_characters_per_token)
    if isinstance(tokens, tf.RaggedTensor):
        return tokens.with_flat_values(_flat_tokens_to_ids(tokens.flat_values, c))
    tokens = tf.convert_to_tensor(tokens, dtype=tf.string)
    flat = tf.reshape(tokens, [-1])
    ids = _flat_tokens_to_ids(flat, c)
    ids = tf.where(tf.equal(flat, "")[:, None], 0, ids)
    shape = tf.concat([tf.shape(tokens), [c]], axis=0)
    ids = tf.reshape(ids, shape)
    ids.set_shape(tokens.shape.concatenate([c]))
    return ids


def split_sentences(sentences):
    """1-D string tensor of untokenized sentences -> `RaggedTensor` of whitespace tokens."""
    import tensorflow_text as tf_text

    sentences = tf.convert_to_tensor(sentences, dtype=tf.string)
    return tf_text.WhitespaceTokenizer().tokenize(sentences)


def sentences_to_char_ids(sentences, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """1-D string tensor of sentences -> dense int32 `[batch, max_tokens, c]`, zero padded.

    Sentences are split on whitespace. An empty sentence is a row of zeros; an empty
    batch gives shape `[0, 0, c]`.
    """
    c = int(max_characters_per_token)
    ragged = tokens_to_char_ids(split_sentences(sentences), c)
    ids = ragged.to_tensor(default_value=0)
    ids = tf.reshape(ids, tf.concat([tf.shape(ids)[:2], [c]], axis=0))
    ids.set_shape([None, None, c])
    return ids
