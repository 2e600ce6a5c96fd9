"""Downstream models on ELMo in a few arguments, and pictures of the learned mix.

Everything here is plain Keras: `text_classifier` returns an ordinary `keras.Model`
(fit, save to `.keras`, load without custom objects), and `ScalarMixHistory` is an
ordinary callback.
"""

import numpy as np

import keras

from elmo_keras.models.elmo.elmo_embedding import ELMoEmbedding
from elmo_keras.layers.scalar_mix import ScalarMix

ENCODERS = ("pooling", "bilstm")


def text_classifier(num_classes, model=None, encoder="pooling", units=64, dropout=0.2,
                    output="elmo", trainable_mix=True, name="elmo_text_classifier",
                    **embedding_kwargs):
    """Sentences in, class probabilities out: ELMo -> encoder -> dropout -> softmax.

    Args:
        num_classes: number of classes.
        model: the ELMo (see `ELMoEmbedding`'s `model`; default: the shipped
            `elmo-small-en`).
        encoder: `"pooling"` (masked mean over tokens) or `"bilstm"` (a bidirectional
            LSTM of `units` per direction over the tokens).
        units: LSTM size for `"bilstm"`.
        dropout: dropout rate before the output layer.
        output: which ELMo output feeds the encoder: `"elmo"` (the learned mix),
            `"word_emb"` (layer 0, context-free) or `"lstm_outputsK"` (one layer).
        trainable_mix: train the mix weights and gamma.
        name: the model's name.
        **embedding_kwargs: more `ELMoEmbedding` arguments (`options`, `weights`,
            `do_layer_norm`, `l2_coef`, `trainable_bilm`, ...).

    Returns:
        An uncompiled `keras.Model` taking a 1-D string tensor (one sentence per row,
        tokens separated by spaces).
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    if output in ("default", "all"):
        raise ValueError(f"output must be a per-token output for an encoder, got {output!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    inputs = keras.Input(shape=(), dtype="string", name="text")
    x = ELMoEmbedding(model=model, output=output, trainable_mix=trainable_mix, name="elmo",
                      **embedding_kwargs)(inputs)
    if encoder == "bilstm":
        x = keras.layers.Bidirectional(keras.layers.LSTM(units), name="bilstm")(x)
    else:
        x = keras.layers.GlobalAveragePooling1D(name="mean_over_tokens")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name=name)


def scalar_mixes(obj):
    """The `ScalarMix` layers in a model, an `ELMoEmbedding`, an `ELMo` or a mix."""
    if isinstance(obj, ScalarMix):
        return [obj]
    found = []
    for layer in getattr(obj, "_flatten_layers", lambda **_: [])(include_self=False):
        if isinstance(layer, ScalarMix):
            found.append(layer)
    return found


def mix_values(mix):
    """`(softmax(w), gamma)` of a `ScalarMix` as NumPy."""
    return (np.asarray(mix.layer_weights, dtype=np.float64),
            float(np.asarray(mix.gamma.numpy()).reshape(())))


class ScalarMixHistory(keras.callbacks.Callback):
    """Records `softmax(w)` and `gamma` of the model's (first) ELMo mix after every
    epoch; `plot(path)` draws them against the epoch.

    Args:
        mix: a `ScalarMix` (default: the first found in the model being trained).
    """

    def __init__(self, mix=None):
        super().__init__()
        self.mix = mix
        self.weights, self.gammas = [], []

    def _record(self):
        if self.mix is None:
            mixes = scalar_mixes(self.model)
            if not mixes:
                raise ValueError("ScalarMixHistory: the model holds no ScalarMix (no ELMo)")
            self.mix = mixes[0]
        s, g = mix_values(self.mix)
        self.weights.append(s)
        self.gammas.append(g)

    def on_train_begin(self, logs=None):
        if not self.weights:
            self._record()

    def on_epoch_end(self, epoch, logs=None):
        self._record()

    def plot(self, path):
        """Saves the layer weights and gamma against the epoch as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        w = np.array(self.weights)
        fig, (ax, ax_g) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
        names = ["layer 0 (char CNN)"] + [f"layer {j} (LSTM {j})" for j in range(1, w.shape[1])]
        for j, label in enumerate(names):
            ax.plot(range(len(w)), w[:, j], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("softmax(w)_j")
        ax.set_title("ELMo layer weights")
        ax.legend(fontsize=8)
        ax_g.plot(range(len(self.gammas)), self.gammas, marker="o", color="tab:red")
        ax_g.set_xlabel("epoch")
        ax_g.set_title("gamma")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
