"""options.json as a file format: typed sections, each keeping its own unknown keys;
token input is a file without `char_cnn`."""

import json

import pytest

from elmo_keras import BiLMOptions, OptionsError, load_options
from elmo_keras.io.bilm_options import CharCNNOptions, LSTMOptions
from elmo_keras.training.training_options import load_training_options
from tests.conftest import FIXTURES, TINY


def test_sections_keep_their_own_unknown_keys_through_a_round_trip():
    d = json.loads((TINY / "options.json").read_text())
    d["char_cnn"]["note"] = "cnn"
    d["lstm"]["note"] = "lstm"
    d["batch_size"] = 64
    opts = load_options(d)
    assert isinstance(opts.char_cnn, CharCNNOptions) and isinstance(opts.lstm, LSTMOptions)
    assert opts.char_cnn.extra == {"note": "cnn"} and opts.lstm.extra == {"note": "lstm"}
    assert opts.extra == {"batch_size": 64}
    assert opts.to_dict() == d
    # ELMo's arguments come from the sections, and back.
    kwargs = opts.model_kwargs()
    assert kwargs["lstm_dim"] == opts.lstm.dim == opts.lstm_dim
    assert kwargs["char_embedding_dim"] == opts.char_cnn.embedding_dim
    assert BiLMOptions.from_model_kwargs(kwargs) == opts


def test_token_input_options_have_no_char_cnn_and_write_none():
    d = json.loads((FIXTURES / "bilm_training" / "token_inputs" / "options.json").read_text())
    assert "char_cnn" not in d
    opts = load_training_options(d).model
    assert opts.char_cnn is None and not opts.char_inputs
    written = opts.to_dict()
    assert "char_cnn" not in written
    assert not [k for k in written if k.startswith("__")]
    assert opts.lstm_dim == d["lstm"]["dim"]
    with pytest.raises(AttributeError, match="token-input biLM .* has no filters"):
        opts.filters
    with pytest.raises(OptionsError, match="ELMo needs character inputs"):
        opts.model_kwargs()
    with pytest.raises(OptionsError, match="missing key 'char_cnn'"):
        load_options(d)  # inference needs characters


def test_section_errors_name_the_file_and_key(tmp_path):
    d = json.loads((TINY / "options.json").read_text())
    d["char_cnn"]["filters"] = []
    path = tmp_path / "o.json"
    path.write_text(json.dumps(d))
    with pytest.raises(OptionsError, match=r"o\.json: char_cnn\.filters is empty"):
        load_options(path)
    d = json.loads((TINY / "options.json").read_text())
    d["lstm"]["projection_dim"] = 10 ** 6
    path.write_text(json.dumps(d))
    with pytest.raises(OptionsError, match=r"o\.json: lstm\.projection_dim=1000000 is larger"):
        load_options(path)
