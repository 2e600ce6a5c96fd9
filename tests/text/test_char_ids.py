"""Character ids: hand-checked values (bilm-tf's rules) and NumPy == in-graph TF."""

import numpy as np
import pytest
import tensorflow as tf

from elmo_keras.text.char_ids import batch_to_ids, bos_char_ids, eos_char_ids, token_to_char_ids
from elmo_keras.text.tf_text_ops import sentences_to_char_ids, split_sentences, tokens_to_char_ids
from tests.conftest import TINY


def _expected(byte_values):
    row = [258] + list(byte_values) + [259]
    row += [260] * (50 - len(row))
    return np.array(row) + 1


def test_hand_checked_ids():
    np.testing.assert_array_equal(token_to_char_ids("a"), _expected([97]))
    np.testing.assert_array_equal(token_to_char_ids("é"), _expected([0xC3, 0xA9]))
    np.testing.assert_array_equal(bos_char_ids(), _expected([256]))
    np.testing.assert_array_equal(eos_char_ids(), _expected([257]))
    np.testing.assert_array_equal(token_to_char_ids("<S>"), _expected([256]))
    np.testing.assert_array_equal(token_to_char_ids("</S>"), _expected([257]))
    assert token_to_char_ids("a")[:3].tolist() == [259, 98, 260]  # bow, 'a', eow (+1)
    assert token_to_char_ids("a").dtype == np.int32
    long_ascii = "x" * 60
    np.testing.assert_array_equal(token_to_char_ids(long_ascii), _expected([120] * 48))
    cjk = "漢" * 17  # 51 bytes -> the first 48 bytes = 16 whole characters
    np.testing.assert_array_equal(token_to_char_ids(cjk), _expected(cjk.encode()[:48]))
    emoji = "😀" * 13  # 52 bytes -> cut inside the 13th character
    got = token_to_char_ids(emoji)
    np.testing.assert_array_equal(got, _expected(emoji.encode()[:48]))
    assert got[49] == 260  # eow 259 (+1) right after the 48 bytes
    assert got[45:49].tolist() == [0xF0 + 1, 0x9F + 1, 0x98 + 1, 0x80 + 1]  # 12 whole 😀
    half = "a" + "😀" * 12  # 49 bytes -> cut after 3 of the last emoji's 4 bytes
    np.testing.assert_array_equal(token_to_char_ids(half), _expected(half.encode()[:48]))
    assert token_to_char_ids("x", 10).shape == (10,)


TOKENS = [
    "The", "naïve", "café", "e\u0301te\u0301", "Ångström", "漢字", "東京大学の研究者",
    "😀", "👩\u200d👩\u200d👧", "a\u0308\u0301\u0323", "x" * 60, "漢" * 17, "😀" * 13,
    "ab" + "é" * 30, "<S>", "</S>", "<S>x", "</s>", "<UNK>", "-", "\u00a0x", "ß" * 25,
]


def test_numpy_and_tf_agree_dense_ragged_and_sentences():
    sents = [TOKENS[:7], TOKENS[7:15], [], TOKENS[15:]]
    ref = batch_to_ids(sents)
    width = max(len(s) for s in sents)
    dense = tf.constant([s + [""] * (width - len(s)) for s in sents])
    np.testing.assert_array_equal(tokens_to_char_ids(dense).numpy(), ref)
    ragged = tf.ragged.constant(sents, dtype=tf.string, row_splits_dtype=tf.int64)
    np.testing.assert_array_equal(tokens_to_char_ids(ragged).to_tensor().numpy(), ref)
    text = [" ".join(s) for s in sents]
    # untokenized text: both sides split on whitespace (the no-break space in "\u00a0x"
    # counts as whitespace for Python's str.split and for split_sentences alike)
    np.testing.assert_array_equal(sentences_to_char_ids(tf.constant(text)).numpy(),
                                  batch_to_ids([t.split() for t in text]))
    assert np.all(ref[2] == 0) and np.all(ref[0, 7:] == 0)
    assert np.all(ref[0, :7, 0] == 259)  # every real token starts with bow (+1)


def test_dense_padding_vs_ragged_empty_token():
    # dense: "" is a padded position (all zero); ragged: "" is a real (empty) token
    dense = tokens_to_char_ids(tf.constant([["a", ""], ["", ""]])).numpy()
    assert dense.dtype == np.int32 and dense.shape == (2, 2, 50)
    np.testing.assert_array_equal(dense[0, 0], token_to_char_ids("a"))
    assert np.all(dense[0, 1] == 0) and np.all(dense[1] == 0)
    ragged = tokens_to_char_ids(tf.ragged.constant([["a", ""], []]))
    assert isinstance(ragged, tf.RaggedTensor) and ragged.shape.as_list() == [2, None, 50]
    np.testing.assert_array_equal(ragged[0, 1].numpy(), token_to_char_ids(""))
    assert token_to_char_ids("")[:3].tolist() == [259, 260, 261]
    assert np.all(ragged.to_tensor().numpy()[1] == 0)  # the empty sentence pads to zeros


def test_boundaries_and_empty_inputs():
    ids = batch_to_ids([["a", "b"], []], add_boundaries=True)
    assert ids.shape == (2, 4, 50)
    np.testing.assert_array_equal(ids[0, 0], bos_char_ids())
    np.testing.assert_array_equal(ids[0, 3], eos_char_ids())
    np.testing.assert_array_equal(ids[1, 1], eos_char_ids())
    assert np.all(ids[1, 2:] == 0)
    assert batch_to_ids([]).shape == (0, 0, 50)
    empty = sentences_to_char_ids(tf.constant([], dtype=tf.string))
    assert tuple(empty.shape) == (0, 0, 50)
    one_empty = sentences_to_char_ids(tf.constant(["", "  "]))
    assert tuple(one_empty.shape) == (2, 0, 50)
    with pytest.raises(TypeError, match="lists of tokens"):
        batch_to_ids(["not split"])


def test_tf_function_traces_once():
    traces = []

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def f(s):
        traces.append(1)
        return sentences_to_char_ids(s)

    a = f(tf.constant(["a b c", "d"]))
    b = f(tf.constant(["longer sentence with words ok", "x", "y z"]))
    assert len(traces) == 1
    assert a.shape == (2, 3, 50) and b.shape == (3, 5, 50)
    assert f.get_concrete_function().structured_outputs.shape.as_list() == [None, None, 50]


def test_split_sentences_is_python_str_split():
    spaces = [chr(i) for i in range(0x110000) if chr(i).isspace()]
    text = ["a  b\tc\n", "", "  ", "x" + "y".join(spaces) + "z", "\u00a0lead trail\u3000"]
    got = split_sentences(tf.constant(text)).to_list()
    assert got == [[t.encode() for t in s.split()] for s in text]


def test_reference_vocabulary_agrees():
    # one token per line; the file may lack a final newline
    text = (TINY / "vocab_test.txt").read_text(encoding="utf-8")
    words = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    assert len(words) > 100 and all(words)
    ref = batch_to_ids([[w] for w in words])[:, 0]
    got = tokens_to_char_ids(tf.constant(words)).numpy()
    np.testing.assert_array_equal(got, ref)
