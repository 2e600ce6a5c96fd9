"""`benchmarks/gpu.py` runs (CPU, tiny size): every implementation, dtype and mode gives a
figure, and elmo-keras and AllenNLP's own ELMo modules agree on the same weights."""

import importlib.util
import json
import sys

import pytest

from tests.conftest import ROOT, TINY
from tests.support.processes import run

sys.path.insert(0, str(ROOT / "benchmarks"))

from allennlp_peer import import_elmo  # noqa: E402


@pytest.fixture(scope="module")
def allennlp_wheel(tmp_path_factory):
    """AllenNLP 0.9.0's wheel from the package registry (or pip's cache)."""
    folder = tmp_path_factory.mktemp("allennlp")
    proc = run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                "allennlp==0.9.0", "-d", folder], check=False)
    wheels = list(folder.glob("allennlp-0.9.0-*.whl"))
    if proc.returncode != 0 or not wheels:
        pytest.skip(f"allennlp==0.9.0 cannot be downloaded: {proc.stderr[-300:]}")
    return wheels[0]


needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed")


@needs_torch
def test_allennlp_elmo_imports_with_stubs_and_reproduces_bilm_tf(allennlp_wheel):
    # AllenNLP's fixture (tests/fixtures/bilm_tiny) through its own _ElmoBiLm: the
    # stubs leave the numerics alone.
    import h5py
    import numpy as np
    import torch

    from elmo_keras.text.char_ids import batch_to_ids

    elmo = import_elmo(allennlp_wheel)
    tiny = TINY
    bilm = elmo._ElmoBiLm(str(tiny / "options.json"), str(tiny / "lm_weights.hdf5")).eval()
    sentences = json.loads((tiny / "sentences.json").read_text())
    batch = [sentences[k][0].split() for k in range(3)]
    with torch.no_grad():
        out = bilm(torch.from_numpy(batch_to_ids(batch).astype(np.int64)))
    top = out["activations"][-1][:, 1:-1].numpy()
    for k, tokens in enumerate(batch):
        with h5py.File(tiny / f"lm_embeddings_{k}.hdf5") as f:
            ref = np.concatenate([f["0"][0], f["0"][1]], axis=-1)
        np.testing.assert_allclose(top[k, :len(tokens)], ref, atol=1e-5)


@pytest.mark.slow
def test_gpu_benchmark_runs_tiny_on_cpu(allennlp_wheel, tmp_path):
    out = tmp_path / "results.json"
    # One process per backend (two), not one per row (thirteen): the same rows.
    proc = run([sys.executable, ROOT / "benchmarks" / "gpu.py", "--tiny", "--device", "cpu",
                "--batches", "4", "--repeats", "1", "--threads", "1", "--allennlp",
                allennlp_wheel, "--process-per", "backend", "--json", out], check=False)
    results = json.loads(out.read_text()) if out.exists() else []
    errors = [r for r in results if "error" in r]
    assert proc.returncode == 0 and not errors, (errors, proc.stdout[-2000:],
                                                 proc.stderr[-2000:])
    impls = {i for i in ("jax", "torch") if importlib.util.find_spec(i)} | {"allennlp"}
    if "torch" not in impls:
        impls.discard("allennlp")
    rows = {(r["impl"], r["mode"], r["dtype"]) for r in results if r["mode"] != "check"}
    assert rows == {(i, m, d) for i in impls for m in ("infer", "train")
                    for d in ("float32", "bfloat16")}
    for r in results:
        if r["mode"] == "infer":
            assert r["4"] > 0 and r["peak"] > 0
        elif r["mode"] == "train":
            assert r["train"] > 0
        else:  # same weights, same sentences: the two implementations agree
            assert r["max_abs_diff"] < 1e-5
    assert "| tiny | float32 | elmo-keras" in proc.stdout
