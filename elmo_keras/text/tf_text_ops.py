"""Strings -> character ids inside the TensorFlow graph (for SavedModels and tf.data).

The in-graph run of `elmo_keras.text.inputs` (which calls it for TensorFlow tensors):
the same splits and the same ids as `elmo_keras.text.char_ids` (tests check they agree
byte for byte), computed with `tf.strings` so no Python runs per token.
"""

from elmo_keras.requires_tensorflow import tensorflow_for
from elmo_keras.text.char_ids import (
    BOS_CHAR,
    BOW_CHAR,
    EOS_CHAR,
    EOW_CHAR,
    MAX_CHARACTERS_PER_TOKEN,
    PAD_CHAR,
)
from elmo_keras.text.corpus_tokenizer import TOKEN_PATTERN_RE2, check_split
from elmo_keras.text.special_tokens import BOS_TOKEN, EOS_TOKEN

tf = tensorflow_for("In-graph string ops (strings as ELMo inputs in a Keras model, "
                    "elmo_keras.text.tf_text_ops)")


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


def tokens_to_char_ids(tokens, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN,
                       lengths=None):
    """Token strings -> character ids, in-graph.

    Args:
        tokens: a string tensor, or a `tf.RaggedTensor` of strings (every element is a
            token). For a dense tensor without `lengths`, `""` marks a padded position
            (its ids are all 0).
        max_characters_per_token: ids per token.
        lengths: optional int `[batch]` for a dense `[batch, max_len]` input: position
            `t` of row `b` is a token iff `t < lengths[b]` (as the hub module's `tokens`
            signature reads `sequence_len`); then `""` inside a row is an empty token.

    Returns:
        int32 ids with a trailing dimension `max_characters_per_token`: dense
        `[*tokens.shape, c]` for a dense input, ragged `[..., (tokens), c]` for a ragged
        one.
    """
    c = int(max_characters_per_token)
    if isinstance(tokens, tf.RaggedTensor):
        flat = tokens.flat_values  # 1-D unless the ragged tensor has a uniform inner shape
        ids = _flat_tokens_to_ids(tf.reshape(flat, [-1]), c)
        ids = tf.reshape(ids, tf.concat([tf.shape(flat), [c]], axis=0))
        ids.set_shape(flat.shape.concatenate([c]))
        return tokens.with_flat_values(ids)
    tokens = tf.convert_to_tensor(tokens, dtype=tf.string)
    flat = tf.reshape(tokens, [-1])
    ids = _flat_tokens_to_ids(flat, c)
    if lengths is None:
        is_token = tf.not_equal(flat, "")
    else:
        steps = tf.range(tf.shape(tokens)[1], dtype=tf.int32)[None, :]
        is_token = tf.reshape(steps < tf.cast(lengths, tf.int32)[:, None], [-1])
    ids = tf.where(is_token[:, None], ids, 0)
    shape = tf.concat([tf.shape(tokens), [c]], axis=0)
    ids = tf.reshape(ids, shape)
    ids.set_shape(tokens.shape.concatenate([c]))
    return ids


def _ragged_ids_to_dense(ragged, c):
    """Ragged `[batch, (tokens), c]` ids -> dense `[batch, max_tokens, c]`, zero padded,
    with a static last dimension (also for an empty batch)."""
    ids = ragged.to_tensor(default_value=0)
    ids = tf.reshape(ids, tf.concat([tf.shape(ids)[:2], [c]], axis=0))
    ids.set_shape([None, None, c])
    return ids


def to_char_ids(inputs, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN,
                split="whitespace"):
    """Any supported ELMo input -> dense int32 char ids (the in-graph half of
    `elmo_keras.text.inputs.to_char_ids`).

    Accepts: a string scalar (one sentence: `[tokens, c]`); 1-D strings (untokenized
    sentences, split as `split` says: `"whitespace"` or `"corpus"`); 2-D strings (tokens
    padded with `""`); a ragged string tensor of tokens; int char ids `[batch, time, c]`
    (returned as they are).

    Raises:
        ValueError: another dtype or rank, naming what was given.
    """
    c = int(max_characters_per_token)
    if isinstance(inputs, tf.RaggedTensor):
        if inputs.dtype != tf.string:
            raise ValueError(f"ELMo: a ragged input must hold strings, got {inputs.dtype.name}")
        return _ragged_ids_to_dense(tokens_to_char_ids(inputs, c), c)
    inputs = tf.convert_to_tensor(inputs)
    rank = inputs.shape.rank
    if inputs.dtype == tf.string:
        if rank == 0:
            return tokens_to_char_ids(tokenize_sentences(inputs, split), c)
        if rank == 1:
            return sentences_to_char_ids(inputs, c, split)
        if rank == 2:
            return tokens_to_char_ids(inputs, c)
        raise ValueError(
            "ELMo: string input must be 1-D (untokenized sentences) or 2-D (tokens padded "
            f"with \"\"), got shape {inputs.shape}")
    if inputs.dtype.is_integer:
        if rank == 3 and inputs.shape[-1] in (None, c):
            return tf.cast(inputs, tf.int32)
        raise ValueError(
            f"ELMo: integer input must be character ids [batch, time, {c}], got shape "
            f"{inputs.shape}")
    raise ValueError(
        f"ELMo: expected strings (sentences or tokens) or int32 character ids, got dtype "
        f"{inputs.dtype.name} with shape {inputs.shape}")


def tokenize_sentences(sentences, split="whitespace"):
    """A string scalar (one sentence: a 1-D string tensor of its tokens) or a 1-D
    tensor of sentences (a `RaggedTensor` of tokens), split as `split` says:
    `"whitespace"` (`split_sentences`) or `"corpus"` (`corpus_split_sentences`).

    Raises:
        ValueError: an unknown `split`, or a tensor of another rank.
    """
    sentences = tf.convert_to_tensor(sentences, dtype=tf.string)
    run = corpus_split_sentences if check_split(split) == "corpus" else split_sentences
    if sentences.shape.rank == 0:
        return run(sentences[None])[0]
    if sentences.shape.rank != 1:
        raise ValueError("tokenize: expected a sentence or a 1-D batch of sentences, got "
                         f"shape {sentences.shape}")
    return run(sentences)


# Every character Python's `str.split()` treats as whitespace: RE2's \s (ASCII), the
# Unicode separators \p{Z}, and the controls \v, \x1c-\x1f, \x85.
_WHITESPACE = r"[\s\p{Z}\x{0b}\x{1c}-\x{1f}\x{85}]+"


def split_sentences(sentences):
    """1-D string tensor of untokenized sentences -> `RaggedTensor` of tokens.

    Splits on whitespace exactly as Python's `str.split()` does (Unicode spaces
    included), with core TensorFlow ops only, so a SavedModel using it loads without
    tensorflow-text or this package.
    """
    sentences = tf.convert_to_tensor(sentences, dtype=tf.string)
    return tf.strings.split(tf.strings.regex_replace(sentences, _WHITESPACE, " "))


def sentences_to_char_ids(sentences, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN,
                          split="whitespace"):
    """1-D string tensor of sentences -> dense int32 `[batch, max_tokens, c]`, zero padded.

    Sentences are split as `split` says (`tokenize_sentences`). An empty sentence is a
    row of zeros; an empty batch gives shape `[0, 0, c]`.
    """
    c = int(max_characters_per_token)
    return _ragged_ids_to_dense(tokens_to_char_ids(tokenize_sentences(sentences, split), c), c)


def corpus_split_sentences(sentences):
    """1-D string tensor of sentences -> `RaggedTensor` of tokens, split as
    `elmo_keras.text.corpus_tokenizer.tokenize` splits them (punctuation apart, words
    keeping inner apostrophes and hyphens, numbers keeping inner `.`/`,`), with core
    TensorFlow ops: every token is set apart by spaces, then the text is split on
    whitespace.
    """
    sentences = tf.convert_to_tensor(sentences, dtype=tf.string)
    spaced = tf.strings.regex_replace(sentences, f"({TOKEN_PATTERN_RE2})", r" \1 ")
    return split_sentences(spaced)
