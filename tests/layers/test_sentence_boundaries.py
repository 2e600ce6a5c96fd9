"""`AddSentenceBoundaries` and `RemoveSentenceBoundaries`: their configs."""

import pytest

import elmo_keras


@pytest.mark.parametrize("layer", [
    elmo_keras.layers.AddSentenceBoundaries(20),
    elmo_keras.layers.RemoveSentenceBoundaries(),
])
def test_boundary_layers_config(layer):
    assert layer.__class__.from_config(layer.get_config()).get_config() == layer.get_config()
