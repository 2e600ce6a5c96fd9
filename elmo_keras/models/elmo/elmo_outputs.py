"""The public ELMo hub module's output names, computed from an `ELMo`'s outputs.

One definition for `ELMoEmbedding(output=...)` and the SavedModel export
(`elmo_keras.io.saved_model`): `word_emb` `[batch, time, P]`, `lstm_outputs1` ...
`lstm_outputsL` `[batch, time, 2P]`, `elmo` (the first mix, `[batch, time, 2P]`),
`default` (`elmo` averaged over each row's real tokens, `[batch, 2P]`, zero for an empty
row) and `sequence_len` (int32 `[batch]`).
"""

import keras
from keras import ops


def hub_output_shapes(n_layers, projection_dim, batch=None):
    """`{name: (shape, dtype)}` of the hub outputs, in the hub's order; `dtype` None
    means the model's float dtype."""
    seq = ((batch, None, 2 * projection_dim), None)
    shapes = {"word_emb": ((batch, None, projection_dim), None)}
    shapes.update({f"lstm_outputs{k}": seq for k in range(1, n_layers + 1)})
    shapes["elmo"] = seq
    shapes["default"] = ((batch, 2 * projection_dim), None)
    shapes["sequence_len"] = ((batch,), "int32")
    return shapes


def hub_output_specs(n_layers, projection_dim, dtype, batch=None):
    """The hub outputs as `keras.KerasTensor`s, by name (`compute_output_spec`)."""
    return {name: keras.KerasTensor(shape, dtype=kind or dtype)
            for name, (shape, kind) in hub_output_shapes(n_layers, projection_dim,
                                                         batch).items()}


def hub_outputs(outputs):
    """The hub outputs, by name, from an `ELMo` output dict (`ELMo.run_stages`)."""
    mask = outputs["mask"]
    lm = outputs["lm_embeddings"]
    elmo = outputs["elmo_representations"][0]
    maskf = ops.cast(mask, elmo.dtype)
    count = ops.maximum(ops.sum(maskf, axis=1, keepdims=True), 1.0)
    named = {"word_emb": outputs["token_embeddings"]}
    for k in range(1, lm.shape[1]):
        named[f"lstm_outputs{k}"] = lm[:, k]
    named["elmo"] = elmo
    named["default"] = ops.sum(elmo * maskf[..., None], axis=1) / count
    named["sequence_len"] = ops.sum(ops.cast(mask, "int32"), axis=1)
    return named
