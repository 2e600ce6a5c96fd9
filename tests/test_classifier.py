"""`text_classifier` and `ScalarMixHistory` on the bilm-tf reference biLM."""

import numpy as np
import pytest

import keras

from elmo_keras import load_bilm
from elmo_keras.models.elmo.elmo_classifier import ScalarMixHistory, mix_values, scalar_mixes, text_classifier
from tests.conftest import TINY


def _data():
    pos = ["a good fine film", "good and fine", "a fine good day", "fine fine good"]
    neg = ["a bad awful film", "bad and awful", "an awful bad day", "awful bad bad"]
    x = np.array(pos + neg, dtype=object)
    y = np.array([1] * 4 + [0] * 4)
    return x, y


@pytest.mark.parametrize("encoder", ["pooling", "bilstm"])
def test_classifier_trains_saves_and_plots_the_mix(tmp_path, encoder):
    elmo = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    model = text_classifier(2, model=elmo, encoder=encoder, units=8, dropout=0.0)
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = _data()
    history = ScalarMixHistory()
    before = mix_values(scalar_mixes(model)[0])[0]
    fit = model.fit(x, y, epochs=15, batch_size=8, verbose=0, callbacks=[history])
    assert fit.history["loss"][-1] < 0.5 * fit.history["loss"][0]
    assert len(history.weights) == 16 and len(history.gammas) == 16
    np.testing.assert_allclose(history.weights[0], before)
    assert not np.allclose(history.weights[-1], before)  # the mix learned something
    np.testing.assert_allclose(history.weights[-1].sum(), 1.0)
    history.plot(tmp_path / "mix.png")
    assert (tmp_path / "mix.png").stat().st_size > 5000
    model.save(tmp_path / "clf.keras")
    loaded = keras.models.load_model(tmp_path / "clf.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_classifier_arguments_are_checked():
    elmo = load_bilm(TINY / "options.json", TINY / "lm_weights.hdf5")
    with pytest.raises(ValueError, match="encoder must be one of"):
        text_classifier(2, model=elmo, encoder="cnn")
    with pytest.raises(ValueError, match="per-token output"):
        text_classifier(2, model=elmo, output="default")
