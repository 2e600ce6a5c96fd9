"""Fine-tuning the biLM under a task, ULMFiT's way (Howard & Ruder 2018): discriminative
learning rates (`DiscriminativeAdam`) and gradual unfreezing (`GradualUnfreezing`).

Each variable gets a *depth*: 0 for the task's own layers and the ELMo mix, 1 for the
top biLSTM layer, ..., `L` for the lowest, `L + 1` for the character CNN
(`elmo_layer_depths`). A variable at depth `d` is updated with the learning rate
`lr / decay**d`, times 0 while its depth is still frozen.

Defaults, and why: `decay=2.6` is ULMFiT's (found best for its 3-layer LSTM language
model; lower layers hold more general features, so they should move less);
`GradualUnfreezing(warmup=1)` trains the freshly initialised head (and the mix) alone for
one epoch, so that its first, large and random gradients do not reach the pretrained
biLM (ULMFiT's remedy for catastrophic forgetting), then unfreezes one layer per epoch.

Keras 3 has no per-variable learning rate, and scaling the gradient would not do: Adam
divides the gradient by its own running scale, so its step does not change. What is
scaled here is the *update*: `update_step` gets the learning rate multiplied per
variable. Adam's step is linear in the learning rate, so this is exactly ULMFiT's rule.
The subclass runs Keras' generic per-variable Adam on every backend (PyTorch's fused
`Adam` is used only for `keras.optimizers.Adam` itself), which
`tests/models/test_elmo_finetuning.py` checks on TensorFlow, JAX and PyTorch.
"""

import keras
from keras import ops

#: ULMFiT's factor between the learning rates of adjacent layers.
DEFAULT_DECAY = 2.6


def elmo_layer_depths(elmo):
    """`{variable path: depth}` for an `ELMo`'s biLM: the character CNN `L + 1`, biLSTM
    layer `i` (0 = lowest) `L - i`, forward and backward alike. The mix is not listed
    (depth 0, with the task's layers).

    Args:
        elmo: an `ELMo`.

    Returns:
        dict of `str` to `int`.

    Examples:
    ```python
    elmo = elmo_keras.ELMo.from_preset("elmo_small_en")
    depths = elmo_layer_depths(elmo)   # {"char_encoder/...": 3, "bilm/forward_1/...": 1, ...}
    ```
    """
    n = elmo.n_layers
    depths = {v.path: n + 1 for v in elmo.char_encoder.weights}
    for i in range(n):
        for cell in (elmo.bilm.forward_cells[i], elmo.bilm.backward_cells[i]):
            depths.update({v.path: n - i for v in cell.weights})
    return depths


@keras.saving.register_keras_serializable(package="elmo_keras")
class DiscriminativeAdam(keras.optimizers.Adam):
    """Adam with a learning rate per layer depth: `lr / decay**depth`, and depths that
    can be frozen (multiplier 0) while training runs (`GradualUnfreezing`).

    Frozen depths still get gradients (so Adam's moments are warm when they unfreeze)
    but do not move: their step is multiplied by exactly 0.

    Args:
        learning_rate: the rate of depth 0 (the task's layers and the mix).
        depths: `{variable path (or a path prefix ending a name): depth}`
            (`elmo_layer_depths`); variables not listed have depth 0.
        decay: the factor between adjacent depths (ULMFiT's 2.6).
        unfrozen_depth: the deepest depth that trains from the start (None: all).
        **kwargs: `keras.optimizers.Adam`'s other arguments (`weight_decay` is refused:
            Keras applies it at the full rate, which would move frozen layers).

    Examples:
    ```python
    optimizer = DiscriminativeAdam(1e-3, depths=elmo_layer_depths(model.backbone))
    model.compile(optimizer, ...)
    ```
    """

    def __init__(self, learning_rate=0.001, depths=None, decay=DEFAULT_DECAY,
                 unfrozen_depth=None, **kwargs):
        if kwargs.get("weight_decay") is not None:
            raise ValueError("DiscriminativeAdam does not take weight_decay: Keras applies "
                             "it at the full rate, which would move frozen layers")
        if float(decay) <= 0:
            raise ValueError(f"decay must be > 0, got {decay}")
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.depths = {str(k): int(v) for k, v in (depths or {}).items()}
        self.decay = float(decay)
        self.max_depth = max(self.depths.values(), default=0)
        self.unfrozen_depth = self.max_depth if unfrozen_depth is None else int(unfrozen_depth)

    def depth_of(self, variable):
        """The depth of a `keras.Variable` (its path or the longest listed prefix)."""
        path = variable.path
        best, found = 0, -1
        for key, depth in self.depths.items():
            if (path == key or path.startswith(key + "/")) and len(key) > found:
                best, found = depth, len(key)
        return best

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._depths = [self.depth_of(v) for v in variables]
        # 1.0 for the depths that train, 0.0 for the frozen ones. Made with its value
        # (an assign inside Keras' symbolic build would not last).
        self.unfrozen = self.add_variable(
            shape=(self.max_depth + 1,), dtype="float32", name="unfrozen",
            initializer=lambda shape, dtype: ops.convert_to_tensor(self._flags(), dtype))

    def _flags(self):
        return [1.0 if d <= self.unfrozen_depth else 0.0 for d in range(self.max_depth + 1)]

    def unfreeze(self, depth):
        """Trains depths `0 .. depth` from the next step on; deeper ones stay still."""
        self.unfrozen_depth = int(depth)
        if hasattr(self, "unfrozen"):  # else: `build` makes it with these values
            self.unfrozen.assign(ops.convert_to_tensor(self._flags(), "float32"))

    def update_step(self, gradient, variable, learning_rate):
        depth = self._depths[self._get_variable_index(variable)]
        if depth:
            scale = self.unfrozen[depth] * (self.decay ** -depth)
            learning_rate = ops.cast(learning_rate, "float32") * scale
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(depths=self.depths, decay=self.decay,
                      unfrozen_depth=self.unfrozen_depth)
        return config


class GradualUnfreezing(keras.callbacks.Callback):
    """ULMFiT's gradual unfreezing: the task's layers (and the mix) alone for `warmup`
    epochs, then one more biLM depth per epoch, top-down (epoch `warmup`: the top
    biLSTM layer, ...; the character CNN last). Needs a `DiscriminativeAdam`.

    Epochs count from 0 in each `fit` call (`initial_epoch` counts too).

    Args:
        warmup: epochs with the whole biLM frozen (>= 0).

    Examples:
    ```python
    model.fit(x, y, epochs=4, callbacks=[GradualUnfreezing(warmup=1)])
    ```
    """

    def __init__(self, warmup=1):
        super().__init__()
        if int(warmup) < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        self.warmup = int(warmup)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not isinstance(optimizer, DiscriminativeAdam):
            raise TypeError("GradualUnfreezing needs a DiscriminativeAdam optimizer, got "
                            f"{type(optimizer).__name__}")
        optimizer.unfreeze(max(0, epoch - self.warmup + 1))
