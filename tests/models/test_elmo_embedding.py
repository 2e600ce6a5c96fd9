"""ELMoEmbedding inside Keras 3 models: inputs, outputs, masks, training, saving, loading."""

import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import elmo_keras
from elmo_keras import ELMoEmbedding
from tests.conftest import TINY
from tests.support.processes import run_python

KW = dict(options=str(TINY / "options.json"), weights=str(TINY / "lm_weights.hdf5"))
SENTS = ["the river bank is muddy", "i opened a bank account today", "hello"]
X = np.array(["good fine great movie", "bad awful movie", "great fun", "awful bad"] * 4, object)
Y = np.array([1, 0, 1, 0] * 4, "float32")


def _classifier(layer):
    inp = keras.Input(shape=(), dtype="string")
    x = layer(inp)
    if len(x.shape) == 3:
        x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    return model


def test_input_forms_agree_and_carry_the_mask():
    layer = ELMoEmbedding(**KW)
    toks = [s.split() for s in SENTS]
    width = max(map(len, toks))
    from_strings = layer(tf.constant(SENTS))
    from_tokens = layer(tf.constant([t + [""] * (width - len(t)) for t in toks]))
    from_ragged = layer(tf.ragged.constant(toks))
    from_ids = layer(elmo_keras.batch_to_ids(toks))
    for other in (from_tokens, from_ragged, from_ids):
        np.testing.assert_allclose(np.asarray(other), np.asarray(from_strings), atol=1e-6)
    mask = np.asarray(layer.compute_mask(tf.constant(SENTS)))
    np.testing.assert_array_equal(mask.sum(axis=1), [5, 6, 1])
    assert from_strings.shape == (3, 6, 32)
    assert np.all(np.asarray(from_strings)[2, 1:] == 0)


def test_strings_are_split_as_the_preset_was_trained():
    """The README's main example: strings into the shipped model are split by its
    corpus tokenizer (recorded in its preset), in the graph and in NumPy alike."""
    layer = ELMoEmbedding.from_preset("elmo_small_en")
    assert layer.split == "corpus" and layer.get_config()["split"] == "corpus"
    text = ["It's good, isn't it?", "Fine."]
    ref = np.asarray(layer(elmo_keras.batch_to_ids([elmo_keras.tokenize(s) for s in text])))
    assert ref.shape[1] == 6  # the corpus split ("," "?" apart), not str.split (4 tokens)
    for given in (tf.constant(text), np.array(text, dtype=object), text):
        np.testing.assert_allclose(np.asarray(layer(given)), ref, atol=1e-6)
    assert ELMoEmbedding(**KW).split == "whitespace"  # bilm-tf files record no split
    with pytest.raises(ValueError, match="split must be one of"):
        ELMoEmbedding(**KW, split="spacy")


def test_output_modes():
    full = ELMoEmbedding(**KW, output="all")(tf.constant(SENTS))
    assert set(full) == {"word_emb", "lstm_outputs1", "lstm_outputs2", "elmo", "default",
                         "sequence_len"}
    pooled = np.asarray(ELMoEmbedding(**KW, output="default")(tf.constant(SENTS)))
    elmo = np.asarray(full["elmo"])
    np.testing.assert_allclose(pooled[0], elmo[0, :5].mean(axis=0), atol=1e-6)
    top = np.asarray(ELMoEmbedding(**KW, output="lstm_outputs2")(tf.constant(SENTS)))
    np.testing.assert_array_equal(top, np.asarray(full["lstm_outputs2"]))
    assert ELMoEmbedding(**KW, output="word_emb")(tf.constant(SENTS)).shape == (3, 6, 16)
    with pytest.raises(ValueError, match="output must be one of"):
        ELMoEmbedding(**KW, output="lstm_outputs3")


def test_bad_inputs_and_paths_are_clear():
    layer = ELMoEmbedding(**KW)
    with pytest.raises(ValueError, match="got dtype float32"):
        layer(tf.constant([[1.0]]))
    with pytest.raises(ValueError, match=r"string input must be 1-D .* got shape \(1, 1, 1\)"):
        layer(tf.constant([[["a"]]]))
    with pytest.raises(ValueError, match="'nope.keras': no such file or directory"):
        ELMoEmbedding(model="nope.keras")
    with pytest.raises(ValueError, match="options .options.json. and weights .weights.hdf5. "
                                         "go together"):
        ELMoEmbedding(options=KW["options"])


@pytest.mark.slow  # fit, then a new process
def test_classifier_trains_mix_only_saves_and_reloads_in_fresh_process(tmp_path):
    layer = ELMoEmbedding(**KW, dropout=0.1, l2_coef=1e-3)
    model = _classifier(layer)
    frozen = [w.numpy().copy() for w in layer.elmo.bilm.weights]
    mix_before = layer.elmo.scalar_mixes[0].mix_weights.numpy().copy()
    before = model.evaluate(X, Y, verbose=0)
    model.fit(X, Y, epochs=15, batch_size=16, verbose=0)
    assert model.evaluate(X, Y, verbose=0) < before
    assert not np.allclose(layer.elmo.scalar_mixes[0].mix_weights.numpy(), mix_before)
    for w, v in zip(layer.elmo.bilm.weights, frozen):
        np.testing.assert_array_equal(w.numpy(), v)
    assert len(layer.trainable_weights) == 2
    path = tmp_path / "clf.keras"
    model.save(path)
    preds = model.predict(X[:4], verbose=0)
    np.save(tmp_path / "preds.npy", preds)
    script = textwrap.dedent(f"""
        import numpy as np, keras
        import elmo_keras  # registers the layers; no custom_objects needed
        m = keras.models.load_model({str(path)!r})
        p = m.predict(np.array({list(X[:4])!r}, object), verbose=0)
        ref = np.load({str(tmp_path / "preds.npy")!r})
        assert np.array_equal(p, ref), np.abs(p - ref).max()
        print("identical")
    """)
    # Another process (the TensorFlow worker), which never held this model.
    assert "identical" in run_python(script).stdout


def test_trainable_bilm_fine_tunes_everything():
    layer = ELMoEmbedding(**KW, output="default", trainable_bilm=True)
    model = _classifier(layer)
    w0 = layer.elmo.bilm.forward_cells[0].kernel.numpy().copy()
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    assert not np.allclose(layer.elmo.bilm.forward_cells[0].kernel.numpy(), w0)
    assert len(layer.trainable_weights) == len(layer.elmo.weights)


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "elmo"
    elmo_keras.export_hub(elmo_keras.load_bilm(KW["options"], KW["weights"]), out)
    return out


@pytest.mark.slow  # an exported SavedModel, then a fit
def test_tfsmlayer_classifier_trains(hub_dir):
    # Frozen: Keras 3 optimizers reject the restored variables' names ("...:0") as slot
    # scopes, so fine-tuning the mix from Keras 3 goes through ELMoEmbedding(model=dir).
    tfsm = keras.layers.TFSMLayer(str(hub_dir), call_endpoint="default", trainable=False)
    inp = keras.Input(shape=(), dtype="string")
    x = tfsm(inp)["default"]
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    before = model.evaluate(X, Y, verbose=0)
    model.fit(X, Y, epochs=10, batch_size=16, verbose=0)
    assert model.evaluate(X, Y, verbose=0) < before
    ref = ELMoEmbedding(**KW, output="default")(tf.constant(SENTS))
    np.testing.assert_allclose(np.asarray(tfsm(tf.constant(SENTS))["default"]), np.asarray(ref),
                               atol=1e-5)


@pytest.mark.slow  # an export and a .keras file, each traced
def test_embedding_from_export_and_from_keras_file(hub_dir, tmp_path):
    ref = np.asarray(ELMoEmbedding(**KW)(tf.constant(SENTS)))
    layer = ELMoEmbedding(model=str(hub_dir))
    np.testing.assert_allclose(np.asarray(layer(tf.constant(SENTS))), ref, atol=1e-6)
    model = _classifier(layer)
    before = model.evaluate(X, Y, verbose=0)
    model.fit(X, Y, epochs=10, batch_size=16, verbose=0)
    assert model.evaluate(X, Y, verbose=0) < before
    elmo_keras.load_bilm(KW["options"], KW["weights"]).save(tmp_path / "elmo.keras")
    from_keras = ELMoEmbedding(model=str(tmp_path / "elmo.keras"))
    np.testing.assert_allclose(np.asarray(from_keras(tf.constant(SENTS))), ref, atol=1e-6)
