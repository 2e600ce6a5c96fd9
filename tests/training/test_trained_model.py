"""A trained model's weight files go through the checked weight maps: the softmax file
(NaN and shapes checked before any assignment) and token-input weight files (layers the
options lack are refused)."""

import json

import h5py
import numpy as np
import pytest

from elmo_keras.io.bilm_hdf5 import WeightFileError, softmax_weight_map, write_weight_file
from elmo_keras.training.language_model import BiLMLanguageModel
from elmo_keras.training.trained_model import load_softmax, read_lm_weights
from elmo_keras.training.training_options import load_training_options
from tests.support.training import TINY


def _lm(**lstm):
    d = json.loads(json.dumps(TINY))
    d["lstm"].update(lstm)
    return BiLMLanguageModel(load_training_options(d), 50)


def test_softmax_file_is_checked_before_any_weight_is_assigned(tmp_path):
    lm = _lm()
    path = str(tmp_path / "softmax.hdf5")
    write_weight_file(softmax_weight_map(lm.softmaxes), path)
    with h5py.File(path, "r+") as f:
        f["softmax/W"][...] = f["softmax/W"][...] + 1.0
        b = f["softmax/b"][...]
        b[3] = np.nan
        f["softmax/b"][...] = b
    before = lm.softmaxes[0].kernel.numpy()
    with pytest.raises(WeightFileError, match=r"dataset 'softmax/b' holds NaN"):
        load_softmax(lm, path)
    np.testing.assert_array_equal(lm.softmaxes[0].kernel.numpy(), before)  # W untouched
    with h5py.File(path, "r+") as f:
        del f["softmax/b"]
        f["softmax/b"] = np.zeros(49, "float32")
    with pytest.raises(WeightFileError, match=r"'softmax/b' has shape \(49,\), expected \(50,\)"):
        load_softmax(lm, path)


def test_token_input_weight_file_with_more_lstm_layers_is_refused(tmp_path):
    def token_lm(n_layers):
        d = json.loads(json.dumps(TINY))
        del d["char_cnn"]
        d["lstm"]["n_layers"] = n_layers
        return BiLMLanguageModel(load_training_options(d), 50)

    path = str(tmp_path / "weights.hdf5")
    write_weight_file(token_lm(2).weight_map(), path)
    with pytest.raises(WeightFileError, match=r"LSTM layer 'RNN_0/RNN/MultiRNNCell/Cell1' "
                                              r"but the options say n_layers=1"):
        read_lm_weights(token_lm(1), path)
    read_lm_weights(token_lm(2), path)
