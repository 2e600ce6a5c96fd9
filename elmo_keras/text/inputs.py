"""Strings to ELMo's character ids: the one implementation every caller uses.

`ELMoTokenizer`, `ELMoEmbedding`, the task preprocessor (`ELMoTextClassifierPreprocessor`)
and `Embedder` turn their inputs into ids here, by the same rules, run one of two ways:

- Python and NumPy (`str`, `bytes`, lists, NumPy arrays): on every Keras backend,
  TensorFlow not needed; the ids come from `char_ids.batch_to_ids`.
- In the TensorFlow graph (a `tf.Tensor` or `tf.RaggedTensor`: `tf.data`, a TensorFlow
  model's graph, the SavedModel export): `tf_text_ops`, the same ids computed with
  `tf.strings` (tests check the two agree byte for byte).

Input forms (`to_char_ids`):

- one sentence (a string scalar) -> `[tokens, chars]`;
- a 1-D batch of sentences -> `[batch, max_tokens, chars]`, each sentence split by
  `split`: `"whitespace"` (the text is tokenized already, as bilm-tf and AllenNLP
  expect) or `"corpus"` (`corpus_tokenizer.tokenize`, the tokenizer a preset such as
  `elmo_small_en` was trained with);
- a batch of tokens (lists of token lists; a 2-D array padded with `""`; a ragged
  tensor) -> `[batch, max_tokens, chars]`, not split again;
- integer character ids `[batch, time, chars]`, checked by `validate_char_ids` and
  returned as they are.
"""

import sys

import numpy as np

from elmo_keras.text import corpus_tokenizer
from elmo_keras.text.char_ids import (MAX_CHARACTERS_PER_TOKEN, batch_to_ids, bos_char_ids,
                                      eos_char_ids, validate_char_ids)
from elmo_keras.text.corpus_tokenizer import SPLITS, check_split  # noqa: F401 (re-exported)


def split_sentence(sentence, split="whitespace"):
    """The tokens of one sentence (a `str` or UTF-8 `bytes`), as `split` says.

    Example:
    >>> split_sentence("It's good!", "corpus")
    ["It's", 'good', '!']
    """
    text = _text(sentence)
    return text.split() if check_split(split) == "whitespace" else corpus_tokenizer.tokenize(text)


def is_tf_tensor(x):
    """True for a `tf.Tensor` or `tf.RaggedTensor` (TensorFlow is never imported here)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, (tf.Tensor, tf.RaggedTensor))


def holds_strings(inputs):
    """True for strings given as Python values or NumPy arrays (any nesting)."""
    if isinstance(inputs, (str, bytes)):
        return True
    if isinstance(inputs, np.ndarray):
        if inputs.dtype.kind == "O":
            return inputs.size == 0 or holds_strings(inputs.flat[0])
        return inputs.dtype.kind in "US"
    if isinstance(inputs, (list, tuple)):
        return bool(inputs) and holds_strings(inputs[0])
    return False


def to_tokens(inputs, split="whitespace"):
    """Sentences -> their tokens.

    Args:
        inputs: one sentence or a 1-D batch of them (Python or NumPy strings, or a
            `tf.Tensor` of strings).
        split: one of `SPLITS`.

    Returns:
        For Python or NumPy input, a list of `str` tokens (one sentence) or a list of
        such lists; for a `tf.Tensor`, the same as a `tf.RaggedTensor` of byte strings.

    Raises:
        ValueError: an unknown `split`, or a tensor of another rank.
    """
    check_split(split)
    if is_tf_tensor(inputs):
        from elmo_keras.text import tf_text_ops

        return tf_text_ops.tokenize_sentences(inputs, split)
    if isinstance(inputs, (str, bytes)) or np.ndim(inputs) == 0 and isinstance(
            inputs, np.ndarray):
        return split_sentence(_scalar(inputs), split)
    rows = list(inputs)
    if any(not isinstance(r, (str, bytes, np.str_, np.bytes_)) for r in rows):
        raise ValueError("to_tokens: expected a sentence or a 1-D batch of sentences, got "
                         f"a {type(inputs).__name__} holding a {type(rows[0]).__name__}")
    return [split_sentence(r, split) for r in rows]


def token_lists(inputs, split="whitespace"):
    """Python or NumPy strings -> lists of `str` tokens, one list per row: sentences
    (a 1-D batch) are split as `split` says; tokens (lists of token lists, or a 2-D
    array padded with `""`) are kept, `""` dropped as padding."""
    rows = list(inputs)
    if all(isinstance(r, (str, bytes)) for r in rows):
        return [split_sentence(r, split) for r in rows]
    return [[t for t in map(_text, r) if t] for r in rows]


def to_char_ids(inputs, split="whitespace", max_characters_per_token=MAX_CHARACTERS_PER_TOKEN):
    """Any input form of ELMo (see the module docstring) -> int32 character ids.

    Args:
        inputs: a sentence, sentences, tokens or character ids: Python values, NumPy
            arrays, or TensorFlow tensors (run in the graph, `tf_text_ops`).
        split: how sentences become tokens, one of `SPLITS`.
        max_characters_per_token: ids per token.

    Returns:
        `[batch, max_tokens, max_characters_per_token]` (`[tokens, chars]` for one
        sentence), zero at padded positions: a NumPy array for Python or NumPy input, a
        `tf.Tensor` for a TensorFlow one, the ids themselves for ids.

    Raises:
        ValueError: an unknown `split`, or an input of another dtype or rank (the
            message names it), or ids out of range (`validate_char_ids`).

    Example:
    >>> to_char_ids(["It's good!"], split="corpus").shape
    (1, 3, 50)
    """
    check_split(split)
    c = int(max_characters_per_token)
    if is_tf_tensor(inputs):
        from elmo_keras.text import tf_text_ops

        ids = tf_text_ops.to_char_ids(inputs, c, split=split)
        if inputs.dtype.name == "string":
            return ids
    elif isinstance(inputs, (str, bytes)) or (
            isinstance(inputs, np.ndarray) and inputs.ndim == 0 and holds_strings(inputs)):
        return batch_to_ids([split_sentence(_scalar(inputs), split)], c)[0]
    elif holds_strings(inputs) or (isinstance(inputs, (list, tuple)) and not inputs):
        return batch_to_ids(token_lists(inputs, split), c)
    else:
        ids = inputs if hasattr(inputs, "dtype") else np.asarray(inputs)
    validate_char_ids(ids, c)
    return ids


def pad_steps(ids, multiple):
    """`ids` `[batch, time, chars]` zero padded on the time axis to a multiple of
    `multiple` steps (NumPy or, in-graph, TensorFlow): fewer distinct shapes for a
    compiled model to trace (padded steps are masked, so outputs do not change)."""
    if multiple <= 1:
        return ids
    if is_tf_tensor(ids):
        import tensorflow as tf

        steps = tf.shape(ids)[1]
        padded = tf.pad(ids, [[0, 0], [0, (-steps) % multiple], [0, 0]])
        padded.set_shape([ids.shape[0], None, ids.shape[-1]])
        return padded
    return np.pad(ids, ((0, 0), (0, -ids.shape[1] % multiple), (0, 0)))


def distinct_rows(ids, known):
    """The one deduplication of a batch's tokens before a model runs (`Embedder`).

    Args:
        ids: int `[batch, time, chars]` character ids (all zero at padding).
        known: `{row.tobytes(): index}` of rows that already have an index (for
            `Embedder`, `<S>`, `</S>` and the cached vocabulary come first).

    Returns:
        `(new [U, chars], index [batch, time])`: the batch's distinct token rows that are
        not in `known`, and each position's index among `known` followed by `new`
        (`len(known) + k` for `new[k]`; 0 at padded positions, which a mask hides).
    """
    flat = ids.reshape(-1, ids.shape[-1])
    unique, inverse = np.unique(flat, axis=0, return_inverse=True)
    offset = len(known)
    rows = np.zeros(len(unique), np.int32)
    new = []
    for k, row in enumerate(unique):
        if not row.any():
            continue  # padding
        at = known.get(row.tobytes())
        if at is None:
            at = offset + len(new)
            new.append(row)
        rows[k] = at
    new = np.stack(new) if new else np.zeros((0, ids.shape[-1]), ids.dtype)
    return new, rows[np.reshape(inverse, -1)].reshape(ids.shape[:-1])


#: Compiled shapes' distinct tokens are padded to a multiple of this (fewer: to a
#: power of two from 8, `token_rows`).
TOKEN_BUCKET = 64


def token_rows(n, compiled):
    """The rows the char CNN runs for `n` distinct tokens: `n` (at least one), or, in a
    compiled function (one program per shape), 8, 16, 32 or 64 for up to 64 and a
    multiple of `TOKEN_BUCKET` above: with a token cache most batches have few new
    tokens, and 64 rows of padding took the original model's char CNN about 18 ms."""
    if not compiled:
        return max(1, n)
    if n <= TOKEN_BUCKET:
        return max(8, 1 << max(0, n - 1).bit_length())
    return -(-n // TOKEN_BUCKET) * TOKEN_BUCKET


#: `distinct_tokens` cuts its rows' characters to a multiple of this where compiled.
CHAR_BUCKET = 8


def distinct_tokens(ids, compiled=True):
    """A batch's distinct tokens found in NumPy, for a model call whose char CNN then
    runs on them only (`ELMo.run_stages` with `distinct`: JAX's eager call and
    `predict`, where a compiled program could not find them cheaply; `Embedder`
    without a cache).

    The rows are cut after their characters (`repeated_tail`): a token's characters
    are followed by one padding character to the end, and the char CNN's windows there
    all hold one repeated vector (`CharacterEncoder.encode_rows` takes such cut rows).

    Args:
        ids: int `[batch, time, chars]` character ids (all zero at padding).
        compiled: pad the rows to few sizes (`token_rows`) and cut them to a multiple
            of `CHAR_BUCKET` characters: few shapes to compile.

    Returns:
        `(rows [U, C], index int32 [batch, time])`: `<S>`, `</S>`, then the batch's
        other distinct tokens (zero rows after them), `C <= chars` characters each, and
        each position's row (0 at padded positions, which a mask hides).
    """
    ids = np.asarray(ids)
    chars = ids.shape[-1]
    boundaries = np.stack([bos_char_ids(chars), eos_char_ids(chars)]).astype(ids.dtype)
    new, index = distinct_rows(ids, {row.tobytes(): k for k, row in enumerate(boundaries)})
    rows = np.concatenate([boundaries, new])
    rows = np.pad(rows, ((0, token_rows(len(rows), compiled) - len(rows)), (0, 0)))
    keep = repeated_tail(rows) + 1  # one repeated character: what follows repeats it
    if compiled:
        keep = -(-keep // CHAR_BUCKET) * CHAR_BUCKET
    return rows[:, :min(chars, keep)], index.astype(np.int32)


def repeated_tail(rows):
    """The leading characters of `rows` `[N, chars]` (NumPy) after which every row
    repeats its own last id to the end: 1 + the last position where some row's id
    differs from that row's last (0 if none)."""
    differs = np.any(rows != rows[:, -1:], axis=0)
    return int(np.flatnonzero(differs)[-1]) + 1 if differs.any() else 0


def _scalar(value):
    return value.item() if isinstance(value, np.ndarray) else value


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
