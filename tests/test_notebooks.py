"""The notebooks run top to bottom (small settings through their parameters cell) and are
stored without outputs."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).parent.parent / "notebooks"
SMALL = {
    "quickstart.ipynb": "MODEL = None",
    "sentiment_finetuning.ipynb": 'MODEL = None\nDATA = "toy"\nSAMPLE = 40\nEPOCHS = 1',
    "train_bilm.ipynb": 'MAX_STEPS = 12\nOUT = "runs/alice"\nCORPUS_DIR = None',
}


def test_every_notebook_is_listed_and_stored_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL)
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source = SMALL[name]
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
