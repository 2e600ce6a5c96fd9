"""Tokens -> character ids, exactly as bilm-tf's `UnicodeCharsVocabulary` and `Batcher`.

A token becomes `max_characters_per_token` (50) ids: begin-of-word 258, the token's
UTF-8 bytes (cut after `max_characters_per_token - 2` bytes, in the middle of a
character if need be), end-of-word 259, then padding 260. The tokens `<S>` and `</S>`
are the sentence boundaries 256 and 257, framed the same way. Finally 1 is added to every
id so that 0 means "no token here" (a padded position).

This module is NumPy only (`validate_char_ids` imports Keras when it meets a backend
tensor); `elmo_keras.text.tf_text_ops` does the same in-graph.
"""

import functools
import sys

import numpy as np

from elmo_keras.text.special_tokens import BOS_TOKEN, EOS_TOKEN

BOS_CHAR = 256  # <S>: begin of sentence
EOS_CHAR = 257  # </S>: end of sentence
BOW_CHAR = 258  # begin of word
EOW_CHAR = 259  # end of word
PAD_CHAR = 260  # padding inside a token
MAX_CHARACTERS_PER_TOKEN = 50


def _framed(values, max_characters_per_token):
    row = np.full(max_characters_per_token, PAD_CHAR, dtype=np.int32)
    row[0] = BOW_CHAR
    row[1:1 + len(values)] = values
    row[len(values) + 1] = EOW_CHAR
    return row + 1


@functools.lru_cache(maxsize=100_000)
def _cached_ids(token, max_characters_per_token):
    if token == BOS_TOKEN:
        row = _framed([BOS_CHAR], max_characters_per_token)
    elif token == EOS_TOKEN:
        row = _framed([EOS_CHAR], max_characters_per_token)
    else:
        data = token.encode("utf-8", "ignore")[: max_characters_per_token - 2]
        row = _framed(np.frombuffer(data, dtype=np.uint8), max_characters_per_token)
    row.flags.writeable = False
    return row


def token_to_char_ids(token, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """Character ids of one token (already shifted by +1).

    Args:
        token: a `str`.
        max_characters_per_token: length of the result (>= 3).

    Returns:
        int32 array `[max_characters_per_token]`.
    """
    return _cached_ids(token, int(max_characters_per_token)).copy()


def bos_char_ids(max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """Character ids of the `<S>` token (shifted by +1), int32 `[max_characters_per_token]`."""
    return token_to_char_ids(BOS_TOKEN, max_characters_per_token)


def eos_char_ids(max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """Character ids of the `</S>` token (shifted by +1), int32 `[max_characters_per_token]`."""
    return token_to_char_ids(EOS_TOKEN, max_characters_per_token)


def batch_to_ids(sentences, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN,
                 add_boundaries=False):
    """Tokenized sentences -> padded character ids, the input of `elmo_keras.ELMo`.

    Args:
        sentences: list of sentences, each a list of token strings.
        max_characters_per_token: ids per token (50 for every published model).
        add_boundaries: also frame each sentence with `<S>` ... `</S>`, as bilm-tf's
            `Batcher` does. Leave False for `ELMo`, which adds them itself.

    Returns:
        int32 array `[batch, max_tokens, max_characters_per_token]`; positions past a
        sentence's end are all zero.

    Raises:
        TypeError: `sentences` is not a list of token lists, or a token is not a `str`
            (the message names the sentence and the token position).

    Example:
    >>> batch_to_ids([["Hello", "world"], ["Hi"]]).shape
    (2, 2, 50)
    """
    if isinstance(sentences, (str, bytes)):
        raise TypeError("batch_to_ids expects a list of token lists, got a "
                        f"{type(sentences).__name__}")
    try:
        sentences = list(sentences)
    except TypeError:
        raise TypeError("batch_to_ids expects a list of token lists, got a "
                        f"{type(sentences).__name__}") from None
    c = int(max_characters_per_token)
    if c < 3:
        raise ValueError(f"max_characters_per_token must be >= 3 (begin, one byte, end), "
                         f"got {c}")
    sentences = [_checked_tokens(b, s) for b, s in enumerate(sentences)]
    extra = 2 if add_boundaries else 0
    steps = max((len(s) for s in sentences), default=0) + (extra if sentences else 0)
    ids = np.zeros((len(sentences), steps, c), dtype=np.int32)
    for b, tokens in enumerate(sentences):
        if add_boundaries:
            tokens = [BOS_TOKEN] + tokens + [EOS_TOKEN]
        for t, token in enumerate(tokens):
            ids[b, t] = _cached_ids(token, c)
    return ids


def _checked_tokens(b, sentence):
    """The tokens of sentence `b` as a list, each checked to be a `str` (`""` is an
    empty token, as in the ragged `tokens_to_char_ids`)."""
    if isinstance(sentence, (str, bytes)):
        raise TypeError(
            f"sentence {b} is a {type(sentence).__name__}; batch_to_ids expects lists of "
            "tokens (split the sentence first)")
    try:
        tokens = list(sentence)
    except TypeError:
        raise TypeError(f"sentence {b} is a {type(sentence).__name__}, not a list of str "
                        "tokens") from None
    for t, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"sentence {b}, token {t}: expected a str, got "
                            f"{type(token).__name__} ({token!r:.40})")
    return tokens


def check_char_ids(ids, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """Checks concrete character ids before they enter a model: an id outside
    `[0, PAD_CHAR + 1]` would be silently masked (negative) or index past the character
    embedding table.

    Args:
        ids: integer array-like `[batch, time, max_characters_per_token]`.
        max_characters_per_token: the model's last dimension.

    Returns:
        `ids` as an int32 NumPy array.

    Raises:
        ValueError: wrong rank or last dimension, a non-integer dtype, an id out of
            range (the message gives the first one's position `[b, t, c]`), or an
            empty token (all ids 0: padding) before a real token in a row (the model's
            mask must be true on a prefix of each row, as `batch_to_ids` makes it).

    Example:
    >>> check_char_ids(batch_to_ids([["Hi"]])).shape
    (1, 1, 50)
    """
    array = np.asarray(ids)
    if array.dtype.kind not in "iu" and array.size:
        raise ValueError(f"character ids must be integers, got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[-1] != max_characters_per_token:
        raise ValueError(f"character ids must have shape [batch, time, "
                         f"{max_characters_per_token}], got {list(array.shape)}")
    bad = np.argwhere((array < 0) | (array > PAD_CHAR + 1))
    if len(bad):
        b, t, c = (int(i) for i in bad[0])
        raise ValueError(
            f"character id {int(array[b, t, c])} at [{b}, {t}, {c}] is out of range "
            f"[0, {PAD_CHAR + 1}] ({len(bad)} such id(s)); make ids with batch_to_ids")
    present = (array > 0).any(axis=-1)  # the model's token mask
    holes = np.argwhere(~present[:, :-1] & present[:, 1:])
    if len(holes):
        b, t = (int(i) for i in holes[0])
        raise ValueError(
            f"character ids: token {t} of row {b} is empty (all ids 0, which marks "
            f"padding) but token {t + 1} after it is not; padding must come after a "
            f"row's last token (the backward LM reads each row from its last token): "
            f"make ids with batch_to_ids")
    return array.astype(np.int32, copy=False)


def validate_char_ids(ids, max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """The one check of character ids on their way into a model, on every route.

    - NumPy arrays and nested lists, and concrete tensors of any backend (an eager
      `tf.Tensor`, a `jax.Array`, a `torch.Tensor`, converted with
      `keras.ops.convert_to_numpy`): `check_char_ids`, with the first bad id's position.
    - A TensorFlow graph tensor (inside `tf.function`, `predict`, a `tf.data` map):
      its dtype and static shape are checked now, its values by a graph assertion that
      fails when the graph runs (`tf.errors.InvalidArgumentError`; XLA drops it). The
      ids returned depend on that assertion: a caller that uses them (`ELMo`) runs the
      check before any op that reads them (a gather past the table would fail first,
      or, on a GPU, read zeros).
    - A JAX tracer (`jax.jit`): dtype and static shape only (a traced value cannot
      raise); a Keras symbolic tensor (a functional model being built): nothing.

    Args:
        ids: the ids `[batch, time, max_characters_per_token]`.
        max_characters_per_token: the model's last dimension.

    Returns:
        `ids` (a TensorFlow graph tensor: its copy that depends on the value check).

    Raises:
        ValueError: a non-integer dtype, a wrong rank or last dimension, an id
            outside `[0, PAD_CHAR + 1]`, or padding before a row's last token (see
            `check_char_ids`).

    Example:
    >>> validate_char_ids(batch_to_ids([["Hi"]])).shape
    (1, 1, 50)
    """
    if isinstance(ids, (np.ndarray, np.generic, list, tuple, int)):
        check_char_ids(ids, max_characters_per_token)
        return ids
    import keras

    if isinstance(ids, keras.KerasTensor):
        return ids
    if not _traced(ids):
        check_char_ids(keras.ops.convert_to_numpy(ids), max_characters_per_token)
        return ids
    dtype = keras.backend.standardize_dtype(ids.dtype)
    if not (dtype.startswith("int") or dtype.startswith("uint")):
        raise ValueError(f"character ids must be integers, got dtype {dtype}")
    shape = tuple(ids.shape)
    if len(shape) != 3 or shape[-1] not in (None, max_characters_per_token):
        raise ValueError(f"character ids must have shape [batch, time, "
                         f"{max_characters_per_token}], got {list(shape)}")
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(ids, tf.Tensor):
        from elmo_keras.layers.kernels import kernels

        checks = kernels().assert_in_range(
            ids, 0, PAD_CHAR + 1,
            f"character ids out of range [0, {PAD_CHAR + 1}]; make ids with batch_to_ids")
        present = tf.reduce_any(ids > 0, axis=-1)
        holes = tf.reduce_sum(tf.cast(~present[:, :-1] & present[:, 1:], tf.int32))
        checks.append(kernels().assert_at_most(
            holes, 0, "character ids: an empty token (all ids 0, which marks padding) "
            "before a real token in a row; padding must come after a row's last token: "
            "make ids with batch_to_ids"))
        with tf.control_dependencies([c for c in checks if c is not None]):
            return tf.identity(ids)
    return ids


def _traced(x):
    """True for a value with no concrete data yet: a TensorFlow graph tensor, a JAX
    tracer, a PyTorch tensor while `torch.compile` traces."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(x, tf.Tensor):
        return tf.is_symbolic_tensor(x)
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.core.Tracer):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return bool(torch.compiler.is_compiling())
    return False
