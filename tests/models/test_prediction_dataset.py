"""`prediction_dataset`: the batches `ELMo.predict` feeds Keras on TensorFlow (tf.data's
autotuning off: Keras' own autotuned pipeline for arrays often halved an ELMo model's
speed on a 2-core CPU, docs/speed.md)."""

import keras
import numpy as np
import pytest

import elmo_keras
from elmo_keras.layers.kernels import tensorflow as tf_kernels
from tests.conftest import TINY

SENTS = [["the", "river", "bank"], ["a", "bank", "account", "today"], ["hello"],
         ["muddy", "water"], ["i", "opened", "it"], ["bank"], ["the", "end", "of", "it"]]


@pytest.fixture(scope="module")
def model():
    return elmo_keras.load_bilm(str(TINY / "options.json"), str(TINY / "lm_weights.hdf5"))


def test_batches_in_order_without_autotuning():
    x = np.arange(14).reshape(7, 2)
    ds = elmo_keras.prediction_dataset(x, batch_size=3)
    assert ds.options().autotune.enabled is False
    batches = [b.numpy() for b in ds]
    assert [len(b) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), x)
    lines = [b.numpy().tolist() for b in elmo_keras.prediction_dataset(["a b", "c"], 1)]
    assert lines == [[b"a b"], [b"c"]]
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        elmo_keras.prediction_dataset(x, batch_size=0)


@pytest.mark.parametrize("positional", [False, True])
def test_elmo_predict_feeds_arrays_through_it(model, monkeypatch, positional):
    calls, original = [], tf_kernels.prediction_dataset

    def spy(x, batch_size=32):
        calls.append(batch_size)
        return original(x, batch_size)

    monkeypatch.setattr(tf_kernels, "prediction_dataset", spy)
    ids = elmo_keras.batch_to_ids(SENTS)
    out = (model.predict(ids, 3, 0) if positional
           else model.predict(ids, batch_size=3, verbose=0))["lm_embeddings"]
    assert calls == [3]
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(ids)["lm_embeddings"]),
                               atol=1e-6)
    model.predict(original(ids, 4), verbose=0)  # a dataset: as it is
    assert calls == [3]


def test_strings_model_same_outputs_as_from_an_array(model):
    text = keras.Input(shape=(), dtype="string")
    strings_model = keras.Model(
        text, elmo_keras.ELMoEmbedding(model=model, output="elmo")(text))
    lines = [" ".join(s) for s in SENTS]
    from_dataset = strings_model.predict(elmo_keras.prediction_dataset(lines, 2), verbose=0)
    from_array = strings_model.predict(np.array(lines, object), batch_size=2, verbose=0)
    # Batches of different lengths: Keras joins them as a ragged tensor either way.
    assert type(from_dataset) is type(from_array)
    assert from_dataset.shape.as_list() == from_array.shape.as_list() == [7, None, 32]
    np.testing.assert_allclose(from_dataset.to_tensor(), from_array.to_tensor(), atol=1e-6)
