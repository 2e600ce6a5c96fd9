"""`ELMoTextClassifier` (+ `ScalarMixHistory`) on the bilm-tf reference biLM and on the
shipped preset, and `ELMoTextEmbedder`."""

import json

import numpy as np
import pytest

import keras

import elmo_keras as ek
from elmo_keras.callbacks import mix_values, scalar_mixes
from tests.conftest import TINY
from tests.support.processes import run_python


def _data():
    pos = ["a good fine film", "good and fine", "a fine good day", "fine fine good"]
    neg = ["a bad awful film", "bad and awful", "an awful bad day", "awful bad bad"]
    x = np.array(pos + neg, dtype=object)
    y = np.array([1] * 4 + [0] * 4)
    return x, y


@pytest.mark.parametrize("encoder,token_embedding_dim",
                         [("pooling", 0), ("bilstm", 0), ("bilstm_max_mean", 8)])
def test_classifier_trains_saves_and_plots_the_mix(tmp_path, encoder, token_embedding_dim):
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = ek.ELMoTextClassifier(elmo, 2, encoder=encoder, units=8, dropout=0.0,
                                  token_embedding_dim=token_embedding_dim, hash_buckets=64)
    model.compile(keras.optimizers.Adam(0.05))  # "auto" loss and metrics
    x, y = _data()
    history = ek.ScalarMixHistory()
    before = mix_values(scalar_mixes(model)[0])[0]
    fit = model.fit(x, y, epochs=15, batch_size=8, verbose=0, callbacks=[history])
    assert fit.history["loss"][-1] < 0.5 * fit.history["loss"][0]
    assert "sparse_categorical_accuracy" in fit.history
    assert len(history.weights) == 16 and len(history.gammas) == 16
    np.testing.assert_allclose(history.weights[0], before)
    assert not np.allclose(history.weights[-1], before)  # the mix learned something
    np.testing.assert_allclose(history.weights[-1].sum(), 1.0, rtol=1e-6)  # float32 softmax
    history.plot(tmp_path / "mix.png")
    assert (tmp_path / "mix.png").stat().st_size > 5000
    model.save(tmp_path / "clf.keras")
    loaded = keras.models.load_model(tmp_path / "clf.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_compiled_on_construction_with_elmo_defaults():
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = ek.ELMoTextClassifier(elmo, 3)
    assert model.compiled
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 1e-3)
    assert model.loss.get_config()["from_logits"] is True
    probs = ek.ELMoTextClassifier(elmo, 3, activation="softmax")
    assert probs.loss.get_config()["from_logits"] is False
    out = probs.predict(np.array(["a good film", ""], dtype=object), verbose=0)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)
    # only the mix and the head train; the biLM stays frozen
    names = {w.path.split("/")[0] for w in model.trainable_weights}
    assert not any("char_encoder" in w.path or "/bilm/" in w.path
                   for w in model.trainable_weights), names


def test_configs_saved_before_the_new_encoders_load_and_predict_the_same():
    """A config of the first two encoders (no token embeddings, no fine-tuning keys)
    builds the same graph: "pooling" is the mean over real tokens (ELMo's "default")."""
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = ek.ELMoTextClassifier(elmo, 2, encoder="pooling", token_embedding_dim=0)
    old = {k: v for k, v in model.get_config().items() if k in (
        "name", "trainable", "backbone", "preprocessor", "num_classes", "activation",
        "dropout", "encoder", "units", "trainable_mix")}
    loaded = ek.ELMoTextClassifier.from_config(old)
    loaded.set_weights(model.get_weights())
    x = np.array(["a good film", "bad", ""], dtype=object)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    ids = ek.batch_to_ids([["a", "good", "film"], ["bad"]])
    default = ek.ELMoEmbedding(model=elmo, output="default")(ids)
    mean = model.get_layer("mean_over_tokens")
    assert mean.mode == "mean"
    hidden = keras.Model(model.input, mean.output).predict(ids, verbose=0)
    np.testing.assert_allclose(hidden, keras.ops.convert_to_numpy(default), atol=1e-5)


def test_fine_tuning_classifier_reloads_with_its_optimizer(tmp_path):
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = ek.ELMoTextClassifier(elmo, 2, encoder="max_mean", units=4, trainable_bilm=True,
                                  token_embedding_dim=4, hash_buckets=16, lr_decay=3.0)
    model.optimizer.build(model.trainable_variables)  # its state is saved too
    model.save(tmp_path / "clf.keras")
    loaded = keras.models.load_model(tmp_path / "clf.keras")
    assert isinstance(loaded.optimizer, ek.DiscriminativeAdam)
    assert loaded.optimizer.decay == 3.0 and loaded.unfreeze_after is None
    assert sorted(set(loaded.optimizer._depths)) == [0, 1, 2, 3]  # the paths still match
    x, _ = _data()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_classifier_arguments_are_checked():
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    with pytest.raises(ValueError, match="encoder must be one of"):
        ek.ELMoTextClassifier(elmo, 2, encoder="cnn")
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        ek.ELMoTextClassifier(elmo, 1)
    with pytest.raises(ValueError, match="activation must be None"):
        ek.ELMoTextClassifier(elmo, 2, activation="sigmoid")
    with pytest.raises(ValueError, match="unfreeze_after needs trainable_bilm"):
        ek.ELMoTextClassifier(elmo, 2, unfreeze_after=1)
    with pytest.raises(TypeError, match="backbone must be an elmo_keras.ELMo"):
        ek.ELMoTextClassifier(str(TINY), 2)


RELOAD = """
import json, sys
import numpy as np
import keras
import elmo_keras  # registers the classes
model = keras.saving.load_model(sys.argv[1])
x = np.array(json.load(open(sys.argv[2])), dtype=object)
np.save(sys.argv[3], model.predict(x, verbose=0))
print(type(model).__name__, model.preprocessor.tokenizer.split, model.compiled)
"""


@pytest.mark.slow
def test_from_preset_trains_on_raw_strings_and_reloads_in_a_fresh_process(tmp_path):
    keras.utils.set_random_seed(0)
    model = ek.ELMoTextClassifier.from_preset("elmo_small_en", num_classes=2)
    assert model.preprocessor.tokenizer.split == "corpus"  # the shipped model's tokenization
    texts = ["A good, fine film!", "Good and fine.", "What a fine day!", "So good!",
             "A bad, awful film.", "Bad and awful...", "What an awful day!", "So bad!"]
    x = np.array(texts, dtype=object)
    y = np.array([1] * 4 + [0] * 4)
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=10, batch_size=4, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before
    model.save(tmp_path / "clf.keras")
    (tmp_path / "x.json").write_text(json.dumps(texts))
    # Another process (the TensorFlow worker), which never held this model.
    out = run_python(RELOAD, tmp_path / "clf.keras", tmp_path / "x.json",
                     tmp_path / "pred.npy", cwd=tmp_path)
    assert out.stdout.split() == ["ELMoTextClassifier", "corpus", "True"]
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), model.predict(x, verbose=0))


@pytest.mark.slow  # fits on tf.data pipelines
def test_preprocessor_in_tf_data_and_on_datasets_of_strings():
    """The preprocessor maps a `tf.data.Dataset` (in-graph ids, the same as NumPy's), and
    the task maps a dataset of strings itself; a tokenizer given is wrapped."""
    import tensorflow as tf

    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = ek.ELMoTextClassifier(elmo, 2, preprocessor=ek.ELMoTokenizer(split="corpus"))
    preprocessor = model.preprocessor
    assert isinstance(preprocessor, ek.ELMoTextClassifierPreprocessor)
    x, y = _data()
    x = np.array([s + "!" for s in x], dtype=object)
    ids, labels = preprocessor(x, y)
    assert ids.shape == (8, 8, 50) and ids[0, 4, 1] == ord("!") + 1  # "!" apart, 8 steps
    mapped = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(preprocessor)
    in_graph, graph_labels = next(iter(mapped))
    np.testing.assert_array_equal(in_graph, ids)
    np.testing.assert_array_equal(graph_labels, labels)
    strings = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    history = model.fit(strings, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    np.testing.assert_allclose(model.predict(strings.map(lambda t, _: t), verbose=0),
                               model.predict(ids, verbose=0), atol=1e-6)
    bad = ids.copy()
    bad[1, 2, 3] = 300  # past the character table: the one validator refuses it
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="out of range"):
        model.predict(bad, verbose=0)


def test_text_embedder_gives_the_hub_default_output(tmp_path):
    elmo = ek.load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    embedder = ek.ELMoTextEmbedder(elmo)
    x = np.array(["the river bank", "a bank loan here", ""], dtype=object)
    vectors = embedder.predict(x, verbose=0)
    assert vectors.shape == (3, elmo.output_dim)
    np.testing.assert_array_equal(vectors[2], 0.0)
    ids = ek.batch_to_ids([s.split() for s in x[:2]])
    out = elmo(ids)
    mix = np.asarray(out["elmo_representations"][0])
    np.testing.assert_allclose(vectors[0], mix[0, :3].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(vectors[1], mix[1, :4].mean(axis=0), atol=1e-5)
    embedder.save(tmp_path / "emb.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "emb.keras").predict(
        x, verbose=0), vectors, atol=1e-6)
