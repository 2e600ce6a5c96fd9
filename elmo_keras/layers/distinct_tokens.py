"""Run the char CNN once per distinct token.

Real text repeats its words: a batch of 32 sentences of 20-25 tokens holds about 300
distinct tokens among 700, and a training batch's forward and backward streams hold the
same tokens twice. The char CNN is per token, so encoding each distinct character row
once and gathering gives the same vectors (and, through the gather, the same
gradients) for a fraction of the work (`benchmarks/inference.py`, `training.py`).
`CharacterEncoder.call` does this itself, on every backend (`layers.kernels`); this
function remains for callers written against it.
"""


def encode_distinct(encoder, char_ids):
    """`encoder` applied to each distinct row of `char_ids` once.

    Args:
        encoder: a `CharacterEncoder`.
        char_ids: int `[..., chars]` character ids of tokens.

    Returns:
        `[..., P]`: each token's vector (zero at padded positions).
    """
    return encoder(char_ids)
