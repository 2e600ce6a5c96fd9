"""Fine-tuning the biLM: `DiscriminativeAdam` multiplies each depth's update (on every
backend, against Keras' own Adam), `GradualUnfreezing` moves the biLM's layers only from
their epoch on, and `HashedTokenEmbedding` hashes the same on every backend and masks
padding."""

import json

import numpy as np
import pytest

import keras

import elmo_keras as ek
from elmo_keras.models.elmo.elmo_finetuning import (
    DiscriminativeAdam,
    GradualUnfreezing,
    elmo_layer_depths,
)
from tests.conftest import TINY
from tests.support.processes import run_python

# One step of Keras' Adam and one of DiscriminativeAdam from the same weights: the update
# of depth d is Adam's divided by decay**d, and 0 past `unfrozen_depth`; `unfreeze` then
# lets the deepest layer move too. Prints the bucket ids of HashedTokenEmbedding.
STEP = """
import json, sys
import keras, numpy as np
import elmo_keras as ek
from elmo_keras.models.elmo.elmo_finetuning import DiscriminativeAdam

def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="a")(inputs)
    x = keras.layers.Dense(3, name="b")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="c")(x))

x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
deltas = []
for optimizer in (keras.optimizers.Adam(0.01),
                  DiscriminativeAdam(0.01, depths={"b": 1, "c": 2}, decay=2.0,
                                     unfrozen_depth=1)):
    m = model()
    m.compile(optimizer, "mse")
    before = [keras.ops.convert_to_numpy(w) for w in m.weights]
    m.train_on_batch(x, y)
    deltas.append([keras.ops.convert_to_numpy(w) - b for w, b in zip(m.weights, before)])
    if isinstance(optimizer, DiscriminativeAdam):
        optimizer.unfreeze(2)
        c = keras.ops.convert_to_numpy(m.get_layer("c").kernel)
        m.train_on_batch(x, y)
        c_moved = float(np.abs(keras.ops.convert_to_numpy(m.get_layer("c").kernel) - c).max())
adam, disc = deltas
ratios = [float(np.abs(d).sum() / np.abs(a).sum()) for a, d in zip(adam, disc)]
ids = ek.batch_to_ids([["a", "Good", "film"], ["good"]])
layer = ek.HashedTokenEmbedding(1000, 4)
layer.build(ids.shape)
buckets = keras.ops.convert_to_numpy(layer.bucket_ids(ids)).tolist()
print(json.dumps({"ratios": ratios, "c_moved": c_moved, "buckets": buckets,
                  "optimizer": type(m.optimizer).__mro__[1].__module__}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_discriminative_rates_scale_the_update_on_every_backend(backend):
    out = json.loads(run_python(STEP, backend=backend).stdout.splitlines()[-1])
    # kernel and bias of a (depth 0), b (depth 1: / 2), c (depth 2: frozen)
    np.testing.assert_allclose(out["ratios"], [1, 1, 0.5, 0.5, 0, 0], rtol=1e-4, atol=1e-7)
    assert 0 < out["c_moved"] <= 1.1 * 0.01 / 4  # unfrozen: at most lr / decay**2
    # padding is bucket 0; "Good" and "good" share a bucket; the same on every backend
    assert out["buckets"] == [[612, 228, 506], [228, 0, 0]]


def test_gradual_unfreezing_moves_the_bilm_top_down_from_its_epoch():
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = ek.ELMoTextClassifier(elmo, 2, encoder="max_mean", units=4, dropout=0.0,
                                  trainable_bilm=True, unfreeze_after=1, learning_rate=0.01)
    assert isinstance(model.optimizer, DiscriminativeAdam)
    depths = elmo_layer_depths(elmo)
    assert sorted(set(depths.values())) == [1, 2, 3]  # 2 biLSTM layers, then the char CNN
    groups = {d: [v for v in elmo.weights if depths.get(v.path) == d] for d in (1, 2, 3)}
    snap = lambda: {d: [keras.ops.convert_to_numpy(v).copy() for v in vs]
                    for d, vs in groups.items()}
    snapshots = [snap()]
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(snap()))
    x = np.array(["a good film", "good and fine", "a bad film", "bad and awful"], dtype=object)
    model.fit(x, np.array([1, 1, 0, 0]), epochs=3, batch_size=4, verbose=0, callbacks=[record])
    moved = [{d: any(not np.array_equal(a, b) for a, b in zip(before[d], after[d]))
              for d in groups} for before, after in zip(snapshots, snapshots[1:])]
    assert moved == [{1: False, 2: False, 3: False},   # epoch 0: the head and mix only
                     {1: True, 2: False, 3: False},    # epoch 1: + the top biLSTM layer
                     {1: True, 2: True, 3: False}]     # epoch 2: + the lower one


def test_gradual_unfreezing_needs_a_discriminative_optimizer():
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = ek.ELMoTextClassifier(elmo, 2)
    with pytest.raises(TypeError, match="needs a DiscriminativeAdam"):
        model.fit(np.array(["a film"], dtype=object), np.array([1]), verbose=0,
                  callbacks=[GradualUnfreezing(0)])
    with pytest.raises(ValueError, match="weight_decay"):
        DiscriminativeAdam(weight_decay=0.01)


def test_hashed_embeddings_mask_padding_and_fold_case():
    layer = ek.HashedTokenEmbedding(2**15, 8)
    ids = ek.batch_to_ids([["a", "Good", "film"], ["good"]])
    out = keras.ops.convert_to_numpy(layer(ids))
    mask = keras.ops.convert_to_numpy(layer.compute_mask(ids))
    np.testing.assert_array_equal(mask, [[True, True, True], [True, False, False]])
    np.testing.assert_array_equal(out[1, 1:], 0.0)  # padding: zero vectors
    np.testing.assert_array_equal(out[0, 1], out[1, 0])  # "Good" == "good"
    assert not np.allclose(out[0, 0], out[0, 2])
    restored = ek.HashedTokenEmbedding.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
