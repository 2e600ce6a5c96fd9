"""Keras callbacks for models with ELMo: `ScalarMixHistory` records the learned mix."""

import numpy as np

import keras

from elmo_keras.layers.scalar_mix import ScalarMix


def scalar_mixes(obj):
    """The `ScalarMix` layers in a model, an `ELMoEmbedding`, an `ELMo` or a mix."""
    if isinstance(obj, ScalarMix):
        return [obj]
    found, seen = [], {id(obj)}

    def walk(value):  # a layer's sublayers are its attributes (public API only)
        if isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, keras.Layer) and id(value) not in seen:
            seen.add(id(value))
            if isinstance(value, ScalarMix):
                found.append(value)
            for v in vars(value).values():
                walk(v)

    for v in vars(obj).values():
        walk(v)
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
        """Saves the layer weights and gamma against the epoch as an image (PNG, or the
        format `path`'s extension names), written whole through
        `elmo_keras.io.paths.save_figure`."""
        from elmo_keras.extras import require
        from elmo_keras.io.paths import save_figure

        require("matplotlib", "plot", "ScalarMixHistory.plot").use("Agg")
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
        try:
            save_figure(fig, path)
        finally:
            plt.close(fig)
