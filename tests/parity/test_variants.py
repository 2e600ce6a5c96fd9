"""Parity with the original bilm-tf code on option combinations beyond the main fixture.

tests/fixtures/bilm_variants/ holds, for each variant, random weights in bilm-tf's HDF5
layout and what bilm-tf itself computed from them (see that folder's README and
make_reference.py): tanh, 0/1/2 highway layers, no skip connections, 1/2/3 layers, no LSTM
projection, no char-CNN projection, no clipping, binding clips.
"""

import json

import h5py
import numpy as np
import pytest

import elmo_keras
from tests.conftest import FIXTURES
from tests.parity.test_bilm_tf import MODES, run

VARIANTS_DIR = FIXTURES / "bilm_variants"
VARIANTS = sorted(p.name for p in VARIANTS_DIR.iterdir() if (p / "reference.hdf5").exists())
#: The variants whose options reach the JAX and PyTorch backends' own recurrence kernels
#: (`elmo_keras/layers/kernels/`: the clips and the projection). The others differ in
#: `keras.ops` code that every backend runs alike (activation, highway layers, skip
#: connections, layer count, char-CNN projection): checked against bilm-tf on TensorFlow,
#: and on the other backends by the main fixture (`test_bilm_tf.py`), not variant by
#: variant (`tests/models/test_elmo_backends.py`: each one costs JAX compilations).
KERNEL_VARIANTS = ["no_clip", "no_projection", "tight_clip"]


def test_all_variants_present():
    assert len(VARIANTS) == 9 and set(KERNEL_VARIANTS) <= set(VARIANTS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_matches_bilm_tf(variant, mode):
    folder = VARIANTS_DIR / variant
    batches = json.loads((VARIANTS_DIR / "sentences.json").read_text(encoding="utf-8"))
    model = elmo_keras.load_bilm(folder / "options.json", folder / "weights.hdf5",
                                 stateful=True)
    with h5py.File(folder / "reference.hdf5", "r") as ref:
        for b, batch in enumerate(batches):
            out = run(model, elmo_keras.batch_to_ids(batch), mode)
            lm = out["lm_embeddings"]
            ref_lm, ref_mask = ref[f"lm_embeddings_{b}"][...], ref[f"mask_{b}"][...]
            assert lm.shape == ref_lm.shape, (lm.shape, ref_lm.shape)
            np.testing.assert_array_equal(out["mask"], ref_mask)
            for k, sent in enumerate(batch):
                n = len(sent)
                np.testing.assert_allclose(lm[k, :, :n], ref_lm[k, :, :n], atol=1e-5,
                                           err_msg=f"{variant} batch {b} row {k}")
                tok = ref[f"token_embeddings_{b}"][k, 1:n + 1]  # bilm-tf keeps <S>, </S>
                np.testing.assert_allclose(out["token_embeddings"][k, :n], tok,
                                           atol=1e-5)
