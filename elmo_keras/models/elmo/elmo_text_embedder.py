"""`ELMoTextEmbedder`: sentences in, one vector per sentence out (the hub module's
`default` output)."""

import keras

from elmo_keras.models.elmo.elmo_embedding import ELMoEmbedding
from elmo_keras.models.elmo.elmo_task import ELMoTask


@keras.saving.register_keras_serializable(package="elmo_keras")
class ELMoTextEmbedder(ELMoTask):
    """Sentences -> preprocessor (char ids) -> ELMo -> the mix averaged over each
    sentence's tokens, `[batch, 2 * projection_dim]` (zero for an empty sentence), on
    every Keras backend (the preprocessor runs outside the graph, in `predict`: see
    `ELMoTask`).

    The mix is the plain average of the layers (weights `1/(L+1)`, gamma 1) unless the
    backbone's was trained; nothing here is trainable.

    Args:
        backbone: an `ELMo`.
        preprocessor: an `ELMoTextClassifierPreprocessor` or an `ELMoTokenizer`
            (default: whitespace splitting; `from_preset` uses the preset's).

    Examples:
    ```python
    embedder = elmo_keras.ELMoTextEmbedder.from_preset("elmo_small_en")
    vectors = embedder.predict(np.array(["The river bank.", "A bank loan."], dtype=object))
    ```
    """

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        backbone, preprocessor = self.checked(backbone, preprocessor)
        embedding = ELMoEmbedding(model=backbone, output="default", trainable_mix=False,
                                  name="elmo")

        # === Functional model ===
        inputs = self.char_ids_input(backbone)
        kwargs.setdefault("name", "elmo_text_embedder")
        super().__init__(backbone, preprocessor, inputs, embedding(inputs), **kwargs)

        # === Config ===
        self.embedding = embedding
