"""`BiLM`: padding invariance, both directions' loop with states and masks, Keras RNN
agreement, stateful rows, and its config."""

import numpy as np
import pytest

import keras

from elmo_keras.layers import BiLM
from elmo_keras.layers.bilm import reverse_padded
from tests.support.layer_checks import check_config, length_mask

RNG = np.random.default_rng(0)


def test_reverse_padded_is_reverse_sequence():
    x = np.arange(2 * 5, dtype="float32").reshape(2, 5, 1)
    r = np.asarray(reverse_padded(x, np.array([3, 0])))[..., 0]
    np.testing.assert_array_equal(r, [[2, 1, 0, 3, 4], [5, 6, 7, 8, 9]])
    # Against TensorFlow's own op, rows of every length, in a graph of unknown sizes.
    import tensorflow as tf

    x = RNG.normal(size=(4, 6, 3, 2)).astype("float32")
    lengths = np.array([6, 0, 2, 5])
    expected = tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0).numpy()
    np.testing.assert_array_equal(np.asarray(reverse_padded(x, lengths)), expected)
    if keras.backend.backend() == "tensorflow":
        graph = tf.function(reverse_padded, input_signature=[
            tf.TensorSpec((None, None, 3, 2)), tf.TensorSpec((None,), tf.int64)])
        np.testing.assert_array_equal(graph(x, lengths).numpy(), expected)


@pytest.fixture(autouse=True)
def _weights_drawn_alike_in_any_order():
    """Each test draws its weights from the same start, whichever of these tests ran
    before it in its worker (`pytest -n` hands them out in any order): a gradient check
    failed at 1.9e-6 against 1e-6 on weights drawn after other tests' draws."""
    global RNG
    RNG = np.random.default_rng(0)


def _bilm(**kw):
    args = dict(lstm_dim=12, projection_dim=6, n_layers=2, cell_clip=3, proj_clip=3,
                use_skip_connections=True)
    args.update(kw)
    layer = BiLM(**args)
    layer.build((None, None, 6))
    for w in layer.trainable_weights:  # non-trivial weights
        w.assign(RNG.normal(scale=0.5, size=w.shape).astype("float32"))
    return layer


@pytest.mark.parametrize("skip,n_layers", [(True, 2), (False, 3), (True, 1)])
def test_bilm_padding_never_changes_real_outputs(skip, n_layers):
    layer = _bilm(use_skip_connections=skip, n_layers=n_layers)
    x = RNG.normal(size=(3, 7, 6)).astype("float32")
    lengths = [7, 4, 1]
    x_junk = x.copy()
    m = length_mask(lengths, 7)
    x_junk[~m] = 100.0  # garbage in padded steps must be ignored
    out = [np.asarray(o) for o in layer(x_junk, mask=m)]
    assert len(out) == n_layers
    for b, n in enumerate(lengths):
        alone = layer(x[b:b + 1, :n], mask=np.ones((1, n), bool))
        for o_all, o_alone in zip(out, alone):
            np.testing.assert_allclose(o_all[b, :n], np.asarray(o_alone)[0], atol=1e-5)
            assert np.all(o_all[b, n:] == 0)


def test_bilm_directions_loop_keeps_states_and_masks():
    layer = _bilm(n_layers=2)
    x = RNG.normal(size=(2, 3, 6, 6)).astype("float32")  # [direction, batch, time, dim]
    m = length_mask([6, 3, 0], 6)
    h0, c0 = (RNG.normal(size=s.shape).astype("float32") for s in layer.zero_states(3))
    a, (ha, ca) = layer.run_directions(x, m, (h0, c0))
    # the empty row keeps its initial states; padded outputs are zero
    np.testing.assert_allclose(np.asarray(ha)[:, :, 2], h0[:, :, 2])
    assert np.all(np.asarray(a[-1])[:, 1, 3:] == 0)


def test_bilm_packed_inference_loop_matches_masked_loop(monkeypatch):
    """Inference packs the real tokens (rows longest first, `packed_recurrence`) and
    computes what the masked loop of training computes, in the callers' row order."""
    from elmo_keras.layers import kernels
    if kernels.inference_rows() != "packed":
        pytest.skip(f"{keras.backend.backend()} runs no packed loop "
                    "(tests/layers/test_kernels_jax_torch.py)")
    packed = []
    original = kernels.kernels().packed_recurrence
    monkeypatch.setattr(kernels.kernels(), "packed_recurrence",
                        lambda *a: (packed.append(1), original(*a))[1])
    layer = _bilm(n_layers=2)
    x = RNG.normal(size=(2, 4, 8, 6)).astype("float32")
    m = length_mask([4, 7, 0, 5], 8)  # unsorted, an empty row, a step no row has
    states = tuple(RNG.normal(size=s.shape).astype("float32") for s in layer.zero_states(4))
    masked = layer.run_directions(x, m, states)
    assert not packed
    runs = [layer.run_directions(x, m, states, inference=True)]
    assert len(packed) == 2  # both layers
    import tensorflow as tf  # its graph loop, not only the eager one
    runs.append(tf.function(lambda *a: layer.run_directions(*a, inference=True))(
        x, m, states))
    assert len(packed) == 4
    for inferred in runs:
        for a, b in zip(masked[0] + list(masked[1]), inferred[0] + list(inferred[1])):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-6)


def test_bilm_inference_multiplies_distinct_first_layer_rows_once(monkeypatch):
    """Inference computes the first layer's input gates once per distinct input row (a
    recurring word has one vector) and gathers them; its outputs, and the gradients to
    every position's input and every weight, are the masked loop's (a position's
    gradient stays there, not moved to an equal row elsewhere), eagerly and in a
    graph."""
    from elmo_keras.layers import kernels
    if keras.backend.backend() != "tensorflow":
        pytest.skip("PyTorch: tests/layers/test_kernels_jax_torch.py; JAX packs nothing")
    import tensorflow as tf

    found = []
    original = kernels.kernels().distinct_rows
    monkeypatch.setattr(kernels.kernels(), "distinct_rows",
                        lambda rows: (found.append(original(rows)), found[-1])[1])
    layer = _bilm(n_layers=2)
    vocab = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    words = [[0, 1, 2, 0, 1, 2, 0], [3, 3, 3, 3, 3, 3, 3], [3, 2, 1, 3, 2, 0, 0]]
    x = tf.constant(vocab[words])  # the real tokens: 4 distinct rows of 12 a direction
    mask = length_mask([7, 0, 5], 7)
    weights = np.arange(1, 3 * 7 * 12 + 1, dtype="float32").reshape(3, 7, 12) / 100

    def loss_and_grads(training, graph=False):
        def run(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.add_n([tf.reduce_sum(o * weights)
                                 for o in layer(x, mask=mask, training=training)])
            return loss, tape.gradient(loss, [x] + layer.trainable_variables)
        return (tf.function(run) if graph else run)(x)

    expected = loss_and_grads(training=True)
    assert not found
    for graph in (False, True):
        loss, grads = loss_and_grads(training=False, graph=graph)
        np.testing.assert_allclose(loss.numpy(), expected[0].numpy(), rtol=1e-6)
        for a, b in zip(grads, expected[1]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    first, index = (np.asarray(a) for a in found[0])  # eager: both directions' rows
    assert len(found) == 2 and len(first) == 4 and len(index) == 2 * 12


def test_bilm_forward_half_matches_keras_rnn_and_backward_reads_from_last_token():
    layer = _bilm(n_layers=1)
    x = RNG.normal(size=(1, 5, 6)).astype("float32")
    out = np.asarray(layer(x[:, :3], mask=np.ones((1, 3), bool))[0])
    fw = keras.layers.RNN(layer.forward_cells[0], return_sequences=True)
    bw = keras.layers.RNN(layer.backward_cells[0], return_sequences=True, go_backwards=True)
    np.testing.assert_allclose(out[0, :, :6], np.asarray(fw(x[:, :3]))[0], atol=1e-5)
    np.testing.assert_allclose(out[0, :, 6:], np.asarray(bw(x[:, :3]))[0, ::-1], atol=1e-5)


def test_bilm_stateful_carries_rows_and_resets():
    layer = _bilm(stateful=True, max_batch_size=4)
    x1 = RNG.normal(size=(3, 4, 6)).astype("float32")
    x2 = RNG.normal(size=(2, 4, 6)).astype("float32")
    m = np.ones((3, 4), bool)
    first = np.asarray(layer(x1, mask=m)[-1])
    second = np.asarray(layer(x2, mask=m[:2])[-1])
    layer.reset_state()
    again = np.asarray(layer(x1, mask=m)[-1])
    np.testing.assert_allclose(again, first, atol=1e-6)  # reset == fresh start
    stateless = BiLM(12, 6, 2, 3, 3, True)
    stateless.build((None, None, 6))
    stateless.set_weights([w.numpy() for w in layer.trainable_weights])
    np.testing.assert_allclose(np.asarray(stateless(x1, mask=m)[-1]), first, atol=1e-6)
    assert not np.allclose(np.asarray(stateless(x2, mask=m[:2])[-1]), second, atol=1e-4)
    # row 2 was not in the second batch: its state stays from the first call
    h = np.asarray(layer.states[0])
    assert np.any(h[:, :, 2] != 0) and np.all(h[:, :, 3] == 0)
    # state, not weights (as Keras' stateful RNNs): not saved, not trained
    assert not {id(v) for v in layer.states} & {id(w) for w in layer.weights}
    with pytest.raises(ValueError, match="max_batch_size=4"):
        layer(RNG.normal(size=(5, 2, 6)).astype("float32"), mask=np.ones((5, 2), bool))


def test_get_config_round_trip():
    check_config(BiLM(8, 4, n_layers=3, use_skip_connections=False, stateful=True,
                      max_batch_size=7))
