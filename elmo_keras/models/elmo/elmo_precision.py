"""`dtype="auto"`: bfloat16 where it pays, float32 elsewhere.

`ELMo.from_preset(..., dtype="auto")`, `elmo_keras.load_bilm(..., dtype="auto")` and
`elmo-keras embed --dtype auto` load the model in float32, then call
`resolve_auto_dtype`. It keeps float32 unless both hold:

- **speed**: the computation runs on a CPU with bfloat16 units (AMX-BF16 or
  AVX512-BF16, `cpu_supports_bfloat16`) under TensorFlow. Measured, not timed at load:
  `benchmarks/inference.py --backend tensorflow` on a 2-core Intel Xeon with AMX-BF16
  and AVX512-BF16 (2026-12-03) gave the original architecture's `Embedder` 657 tokens/s
  in float32 and 1,236 in `mixed_bfloat16` (1.88x; the issue asks for at least 1.3x).
  bfloat16 was slower than float32 on a CPU without those units (`docs/speed.md`), and
  its speed on JAX and PyTorch on such a CPU has not been measured, so there, and on
  GPUs, `"auto"` keeps float32: pass `dtype="mixed_bfloat16"` to force it.
- **accuracy**: the same model in `mixed_bfloat16` (float32 weights, bfloat16
  compute; rebuilt with the same weights through `ELMo.from_preset(model, dtype=...)`)
  gives outputs within `BFLOAT16_MAX_ERROR` of float32's on a fixed calibration batch:
  the first `CALIBRATION_SENTENCES` sentences of 10-30 tokens of the shipped Alice text
  (`elmo_keras/datasets/alice/train.txt`). The error depends on the weights, so it is
  measured per model: on that Xeon the shipped `elmo_small_en` differs by 0.047 (its
  char CNN's outputs reach 8-10; float32 is kept), the original architecture with random
  weights by 0.0044-0.0049 (bfloat16 is chosen, just within the bound).

The decision is logged as one line on the `elmo_keras` logger (`elmo-keras` shows it as a
`note:`). `dtype="float32"` or `dtype="mixed_bfloat16"` force either.
"""

import logging
import re

import keras
from keras import ops

from elmo_keras.datasets import alice_dir
from elmo_keras.text.char_ids import batch_to_ids

logger = logging.getLogger("elmo_keras")

BFLOAT16_MAX_ERROR = 0.005
"""The largest absolute difference from float32, over every output layer
(`lm_embeddings` and `elmo_representations`), that `"auto"` accepts for bfloat16."""
CALIBRATION_SENTENCES = 16
_CALIBRATION_LENGTHS = (10, 30)
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
_MEASURED_BACKENDS = ("tensorflow",)  # where bfloat16's speed-up was measured


def cpu_supports_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether this process computes on a CPU with bfloat16 units where bfloat16 was
    measured to pay.

    True only when the Keras backend is TensorFlow, it sees no GPU, and the CPU's flags
    (Linux's `/proc/cpuinfo`) name `amx_bf16` or `avx512_bf16`. False on other operating
    systems, on GPUs, and on JAX and PyTorch (their bfloat16 speed on such CPUs is not
    measured; force it with `dtype="mixed_bfloat16"`).

    Args:
        cpuinfo: the file to read the flags from.

    Returns:
        bool.

    Examples:
    ```python
    from elmo_keras.models.elmo.elmo_precision import cpu_supports_bfloat16
    cpu_supports_bfloat16()  # True on an Intel Xeon with AMX under TensorFlow
    ```
    """
    if keras.backend.backend() not in _MEASURED_BACKENDS or _tensorflow_has_gpu():
        return False
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 20)
    except OSError:  # not Linux, or no /proc
        return False
    flags = set()
    for line in text.splitlines():
        if re.match(r"flags\s*:", line):
            flags.update(line.split(":", 1)[1].split())
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def _tensorflow_has_gpu():
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def calibration_sentences():
    """The fixed calibration batch: the first `CALIBRATION_SENTENCES` sentences of
    10-30 whitespace tokens of the shipped Alice text."""
    found = []
    with open(alice_dir() / "train.txt", encoding="utf-8") as f:
        for line in f:
            tokens = line.split()
            if _CALIBRATION_LENGTHS[0] <= len(tokens) <= _CALIBRATION_LENGTHS[1]:
                found.append(tokens)
                if len(found) == CALIBRATION_SENTENCES:
                    break
    return found


def bfloat16_error(float32_model, bfloat16_model, sentences=None):
    """The largest absolute difference between two models' float outputs
    (`lm_embeddings`, every `elmo_representations` mix) on `sentences`.

    A stateful model's states are cleared before each batch and after the last one;
    batches hold at most its `max_batch_size` rows.

    Args:
        float32_model, bfloat16_model: `ELMo`s of the same architecture.
        sentences: lists of tokens (default: `calibration_sentences()`).

    Returns:
        float.
    """
    sentences = calibration_sentences() if sentences is None else sentences
    step = float32_model.max_batch_size if float32_model.stateful else len(sentences)
    error = 0.0
    for start in range(0, len(sentences), step):
        ids = batch_to_ids(sentences[start:start + step],
                           float32_model.max_characters_per_token)
        a, b = _outputs(float32_model, ids), _outputs(bfloat16_model, ids)
        for x, y in zip(a, b):
            error = max(error, float(ops.max(ops.abs(x - y))))
    return error


def _outputs(model, ids):
    if model.stateful:
        model.reset_state()
    out = model(ids)
    if model.stateful:
        model.reset_state()
    return [ops.cast(x, "float32") for x in [out["lm_embeddings"],
                                             *out["elmo_representations"]]]


def resolve_auto_dtype(model, max_error=None, sentences=None):
    """`dtype="auto"`: `model` in bfloat16 where that is faster and accurate enough,
    else `model` itself (see the module docstring).

    Args:
        model: an `ELMo` in float32, weights loaded.
        max_error: the bound on the largest absolute output difference (default
            `BFLOAT16_MAX_ERROR`).
        sentences: the calibration batch, lists of tokens (default
            `calibration_sentences()`).

    Returns:
        A new `ELMo` with `dtype="mixed_bfloat16"` and `model`'s weights, or `model`.

    Raises:
        ValueError: `model` is not in float32.

    Examples:
    ```python
    elmo = elmo_keras.ELMo.from_preset("elmo_small_en", dtype="auto")
    elmo.dtype_policy.name  # "float32" here: its bfloat16 error is 0.028
    ```
    """
    if model.dtype_policy.name != "float32":
        raise ValueError(f"dtype='auto' starts from a float32 model, got "
                         f"{model.dtype_policy.name!r}")
    bound = BFLOAT16_MAX_ERROR if max_error is None else max_error
    if not cpu_supports_bfloat16():
        logger.info("dtype='auto': float32 (no bfloat16 speed-up measured for this "
                    "CPU/backend: backend %s; bound %g not checked)",
                    keras.backend.backend(), bound)
        return model
    candidate = type(model).from_preset(model, dtype="mixed_bfloat16")
    error = bfloat16_error(model, candidate, sentences)
    chosen = candidate if error <= bound else model
    logger.info("dtype='auto': %s (largest |bfloat16 - float32| over the output layers "
                "%.4g, bound %g)", chosen.dtype_policy.name, error, bound)
    return chosen
