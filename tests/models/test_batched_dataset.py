"""`batched_dataset`: the batches `ELMo.predict` feeds Keras on TensorFlow, and what a
user's own model fits on (tf.data's autotuning off: Keras' own autotuned pipeline for
arrays often halved an ELMo model's speed on a 2-core CPU, docs/speed.md)."""

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
    ds = elmo_keras.batched_dataset(x, batch_size=3)
    assert ds.options().autotune.enabled is False
    batches = [b.numpy() for b in ds]
    assert [len(b) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(batches), x)
    lines = [b.numpy().tolist() for b in elmo_keras.batched_dataset(["a b", "c"], batch_size=1)]
    assert lines == [[b"a b"], [b"c"]]
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        elmo_keras.batched_dataset(x, batch_size=0)
    with pytest.raises(ValueError, match="sample_weight given without y"):
        elmo_keras.batched_dataset(x, sample_weight=np.ones(7))


def test_shuffled_rows_stay_paired_and_reshuffle_each_epoch():
    x, y = np.arange(50), np.arange(50) * 10
    ds = elmo_keras.batched_dataset(x, y, np.ones(50), batch_size=8, shuffle=True, seed=1)
    epochs = []
    for _ in range(2):
        xs, ys, ws = (np.concatenate(a) for a in zip(*[[t.numpy() for t in b] for b in ds]))
        np.testing.assert_array_equal(ys, xs * 10)
        assert sorted(xs) == list(range(50)) and ws.shape == (50,)
        epochs.append(xs)
    assert list(epochs[0]) != list(range(50)) and list(epochs[0]) != list(epochs[1])


@pytest.mark.parametrize("positional", [False, True])
def test_elmo_predict_feeds_arrays_through_it(model, monkeypatch, positional):
    calls, original = [], tf_kernels.batched_dataset

    def spy(x, batch_size=32):
        calls.append(batch_size)
        return original(x, batch_size=batch_size)

    monkeypatch.setattr(tf_kernels, "batched_dataset", spy)
    ids = elmo_keras.batch_to_ids(SENTS)
    out = (model.predict(ids, 3, 0) if positional
           else model.predict(ids, batch_size=3, verbose=0))["lm_embeddings"]
    assert calls == [3]
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(ids)["lm_embeddings"]),
                               atol=1e-6)
    model.predict(original(ids, batch_size=4), verbose=0)  # a dataset: as it is
    assert calls == [3]


def test_users_model_fits_and_predicts_from_it(model):
    text = keras.Input(shape=(), dtype="string")
    x = elmo_keras.ELMoEmbedding(model=model, output="default")(text)
    clf = keras.Model(text, keras.layers.Dense(1, activation="sigmoid")(x))
    clf.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    lines = np.array([" ".join(s) for s in SENTS] * 4, object)
    labels = np.array([1, 0, 1, 0, 1, 0, 1] * 4, "float32")
    history = clf.fit(elmo_keras.batched_dataset(lines, labels, batch_size=4, shuffle=True,
                                                 seed=0), epochs=3, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 3
    from_dataset = clf.predict(elmo_keras.batched_dataset(lines, batch_size=5), verbose=0)
    from_array = clf.predict(lines, batch_size=5, verbose=0)
    assert from_dataset.shape == from_array.shape == (28, 1)
    np.testing.assert_allclose(from_dataset, from_array, atol=1e-6)
