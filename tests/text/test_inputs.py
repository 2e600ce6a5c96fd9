"""`elmo_keras.text.inputs`, the one strings-to-ids implementation: its NumPy and its
in-graph runs give the same ids for every input form and split; the one dedup."""

import numpy as np
import pytest
import tensorflow as tf

from elmo_keras.text import inputs
from elmo_keras.text.char_ids import batch_to_ids, bos_char_ids
from elmo_keras.text.corpus_tokenizer import tokenize

SENTENCES = ["It's 3.14 -- ok, (fine)!", "", "naïve  café\u00a0x", "a"]


@pytest.mark.parametrize("split", inputs.SPLITS)
def test_numpy_and_graph_runs_give_the_same_ids(split):
    words = [s.split() if split == "whitespace" else tokenize(s) for s in SENTENCES]
    expected = batch_to_ids(words)
    for given in (SENTENCES, np.array(SENTENCES, dtype=object), np.array(SENTENCES),
                  [s.encode() for s in SENTENCES]):
        np.testing.assert_array_equal(inputs.to_char_ids(given, split), expected)
    in_graph = inputs.to_char_ids(tf.constant(SENTENCES), split)
    assert isinstance(in_graph, tf.Tensor)
    np.testing.assert_array_equal(in_graph.numpy(), expected)
    np.testing.assert_array_equal(inputs.to_char_ids(SENTENCES[0], split), expected[0, :len(
        words[0])])
    np.testing.assert_array_equal(inputs.to_char_ids(tf.constant(SENTENCES[0]), split),
                                  expected[0, :len(words[0])])
    # Tokens are not split again; "" pads a 2-D array.
    padded = np.array([w + [""] * (expected.shape[1] - len(w)) for w in words])
    for tokens in (words, padded, tf.constant(padded), tf.ragged.constant(words)):
        np.testing.assert_array_equal(np.asarray(inputs.to_char_ids(tokens, split)), expected)
    assert inputs.to_tokens(SENTENCES, split) == words


def test_ids_pass_checked_and_bad_values_are_named():
    ids = batch_to_ids([["a", "b"]])
    assert inputs.to_char_ids(ids) is ids
    bad = ids.copy()
    bad[0, 1, 2] = -4
    with pytest.raises(ValueError, match=r"character id -4 at \[0, 1, 2\]"):
        inputs.to_char_ids(bad)
    with pytest.raises(ValueError, match="split must be one of"):
        inputs.to_char_ids(["a"], split="bpe")


def test_distinct_rows_and_pad_steps():
    ids = batch_to_ids([["a", "<S>", "a", "b"], ["b"]])
    known = {bos_char_ids().tobytes(): 0}
    new, index = inputs.distinct_rows(ids, known)
    assert len(new) == 2  # "a", "b"; "<S>" is known, padding is not a token
    np.testing.assert_array_equal(np.concatenate([bos_char_ids()[None], new])[index][0], ids[0])
    assert index[0, 1] == 0 and index[0, 0] == index[0, 2] and index[1, 0] == index[0, 3]
    padded = inputs.pad_steps(ids, 8)
    assert padded.shape == (2, 8, 50) and not padded[:, 4:].any()
    in_graph = inputs.pad_steps(tf.constant(ids), 8)
    np.testing.assert_array_equal(in_graph.numpy(), padded)
