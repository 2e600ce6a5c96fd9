"""The Keras layers that compose ELMo."""

from elmo_keras.layers.bilm import BiLM
from elmo_keras.layers.character_encoder import CharacterEncoder
from elmo_keras.layers.highway import Highway
from elmo_keras.layers.lstm_projection import LSTMPCell
from elmo_keras.layers.scalar_mix import ScalarMix
from elmo_keras.layers.sentence_boundaries import AddSentenceBoundaries, RemoveSentenceBoundaries
from elmo_keras.layers.lm_softmax import LMSoftmax
