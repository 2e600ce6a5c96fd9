"""An eager `model(ids)` and `ELMoEmbedding(strings)` on TensorFlow run one traced graph
of the model's call (`kernels.tensorflow.eager_call`), not op by op from Python: the same
outputs and gradients as the call op by op, a stateful model's states carried, traced
twice for three shapes that differ in batch size and length, and a call inside an outer
call in training not taken there."""

import keras
import numpy as np
import tensorflow as tf

import elmo_keras
from tests.conftest import SMALL_OPTIONS, TINY

SENTENCES = [
    [["The", "cat", "sat", "."], ["Hello", "world"]],
    [["A", "river", "bank", "by", "the", "sea", "."], ["Hi"], ["x"] * 3],
    [["Short"]],
]


def traces(model):
    """How many times the model's compiled eager call was traced (None: never made)."""
    run = model.__dict__.get("_elmo_keras_eager_call")
    return None if run is None else run.experimental_get_tracing_count()


def test_eager_call_runs_one_graph_with_the_op_by_op_outputs_and_gradients():
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    for sentences in SENTENCES:
        ids = elmo_keras.batch_to_ids(sentences)
        with tf.GradientTape() as tape:
            eager = model(ids)["lm_embeddings"]  # the compiled copy
            loss = tf.reduce_sum(eager * eager)
        grads = tape.gradient(loss, model.trainable_variables)
        with tf.GradientTape() as tape:
            # `training` given: the call runs as it is, op by op
            direct = model(ids, training=False)["lm_embeddings"]
            direct_loss = tf.reduce_sum(direct * direct)
        direct_grads = tape.gradient(direct_loss, model.trainable_variables)
        np.testing.assert_allclose(eager.numpy(), direct.numpy(), atol=1e-5)
        # (a graph gives zeros where the tape gives None: the scalar mixes' weights)
        dense = [0 if g is None else tf.convert_to_tensor(g).numpy() for g in grads]
        assert sum(np.abs(g).sum() > 0 for g in dense) >= 10
        for g, d in zip(dense, direct_grads):
            np.testing.assert_allclose(g, 0 if d is None else tf.convert_to_tensor(d).numpy(),
                                       rtol=1e-4, atol=1e-4)
    # three shapes: the first traced, then the second with both sizes generalized
    assert traces(model) == 2


def test_eager_call_carries_a_stateful_models_states():
    model = elmo_keras.ELMo.from_options(SMALL_OPTIONS, stateful=True)
    ids = [elmo_keras.batch_to_ids(s) for s in
           ([["a", "b", "c"], ["d", "e"]], [["f", "g"], ["h", "i", "j", "k"]])]
    ref = [model.predict(x, verbose=0)["lm_embeddings"] for x in ids + ids]
    model.reset_state()
    got = [model(x)["lm_embeddings"].numpy() for x in ids + ids]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-5)
    assert not np.allclose(got[0], got[2])  # the states moved on
    assert traces(model) >= 1


def test_elmo_embedding_eager_on_strings_runs_the_compiled_call():
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    layer = elmo_keras.ELMoEmbedding(model=model, output="lstm_outputs2")
    lines = tf.constant(["The cat sat .", "Hello world"])
    got = layer(lines)
    ref = model.predict(elmo_keras.batch_to_ids([["The", "cat", "sat", "."],
                                                 ["Hello", "world"]]),
                        verbose=0)["lm_embeddings"][:, 2]
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)
    assert traces(model) == 1


class _Outer(keras.layers.Layer):
    """Calls the model without `training`: the call inherits this layer's."""

    def __init__(self, elmo, **kwargs):
        super().__init__(**kwargs)
        self.elmo = elmo

    def call(self, ids, training=None):
        return self.elmo(ids)["lm_embeddings"]


def test_a_call_inside_an_outer_call_in_training_is_not_compiled_there():
    model = elmo_keras.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    outer = _Outer(model)
    ids = elmo_keras.batch_to_ids([["The", "cat", "sat", "."], ["Hello", "world"]])
    trained = outer(ids, training=True)
    assert traces(model) is None
    inferred = outer(ids)  # inherited training None: the compiled copy
    assert traces(model) == 1
    np.testing.assert_allclose(trained.numpy(), inferred.numpy(), atol=1e-5)
