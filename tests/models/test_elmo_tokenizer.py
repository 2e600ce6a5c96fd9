"""`ELMoTokenizer`: in-graph corpus tokenization equals the Python tokenizer on real text,
and the ids are the same from Python/NumPy strings, in `tf.data` and inside a model."""

import numpy as np
import tensorflow as tf

import keras

import elmo_keras as ek
from elmo_keras.models.elmo.elmo_presets import PRESETS_DIR
from elmo_keras.text.corpus_tokenizer import split_sentences, tokenize

ODD = ["'Oh dear!' said Alice's sister, (don't) 3.14 1,000 daisy-chain...",
       "naïve café — 東京, x² and e\u0301 a\u00a0b\x1cc", "It’s 10.5% off—ok?", "", "good!"]


def _real_sentences():
    """Running English from the shipped model card (numbers, punctuation, markdown)."""
    text = (PRESETS_DIR / "elmo_small_en" / "MODEL_CARD.md").read_text(encoding="utf-8")
    return split_sentences(text) + ODD


def test_in_graph_corpus_split_equals_the_python_tokenizer():
    sentences = _real_sentences()
    assert len(sentences) > 40
    tokenizer = ek.ELMoTokenizer(split="corpus")
    got = tokenizer.tokenize(tf.constant(sentences)).to_list()
    for sentence, tokens in zip(sentences, got):
        assert [t.decode("utf-8") for t in tokens] == tokenize(sentence), sentence
    assert tokenizer.tokenize(sentences) == [tokenize(s) for s in sentences]  # Python
    assert tokenizer.tokenize(sentences[0]) == tokenize(sentences[0])


def test_ids_are_the_python_ids_and_the_same_in_tf_data_and_in_a_model():
    sentences = _real_sentences()[:40]
    tokenizer = ek.ELMoTokenizer.from_preset("elmo_small_en")
    assert tokenizer.split == "corpus"
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, tokenizer(inputs))
    ds = tf.data.Dataset.from_tensor_slices(sentences).batch(8).map(tokenizer)
    for i, in_data in enumerate(ds):
        in_model = model(tf.constant(sentences[8 * i:8 * i + 8]))
        np.testing.assert_array_equal(in_model, in_data)
    width = max(len(tokenize(s)) for s in sentences)
    in_data = np.concatenate([np.pad(b, [(0, 0), (0, width - b.shape[1]), (0, 0)])
                              for b in ds.as_numpy_iterator()])
    expected = ek.batch_to_ids([tokenize(s) for s in sentences])
    np.testing.assert_array_equal(in_data, expected)
    # Python and NumPy strings take the NumPy path: the same ids, as a NumPy array.
    for given in (sentences, np.array(sentences, dtype=object)):
        in_numpy = tokenizer(given)
        assert isinstance(in_numpy, np.ndarray)
        np.testing.assert_array_equal(in_numpy, expected)
    one = tf.data.Dataset.from_tensor_slices(sentences[:1]).map(tokenizer)
    np.testing.assert_array_equal(next(iter(one)).numpy(), expected[0, :len(
        tokenize(sentences[0]))])


def test_whitespace_split_tokens_and_config_round_trip():
    tokenizer = ek.ELMoTokenizer()
    assert tokenizer.tokenize(["good! Bad ."]) == [["good!", "Bad", "."]]
    assert tokenizer.tokenize(tf.constant(["good! Bad ."])).to_list() == [
        [b"good!", b"Bad", b"."]]
    np.testing.assert_array_equal(tokenizer("good! Bad ."), ek.batch_to_ids([["good!", "Bad",
                                                                             "."]])[0])
    np.testing.assert_array_equal(tokenizer(tf.constant("good! Bad .")),
                                  tokenizer("good! Bad ."))
    tokens = tf.ragged.constant([["a", "b"], ["c"]])
    np.testing.assert_array_equal(tokenizer(tokens), ek.batch_to_ids([["a", "b"], ["c"]]))
    clone = ek.ELMoTokenizer.from_config(ek.ELMoTokenizer(split="corpus").get_config())
    assert clone.split == "corpus"
    try:
        ek.ELMoTokenizer(split="spacy")
    except ValueError as e:
        assert "split must be one of" in str(e)
    else:
        raise AssertionError("no error for split='spacy'")
