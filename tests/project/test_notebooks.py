"""The notebooks run top to bottom (small settings through their parameters cell), use
only the public API, and are stored without outputs. Each runs once:
`test_wheel_install.py` runs the quickstart, from an installed wheel."""

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
SMALL = {
    "quickstart.ipynb": 'PRESET = "elmo_small_en"',
    "sentiment_finetuning.ipynb": 'PRESET = "elmo_small_en"\nDATA = "toy"\nSAMPLE = 40\nEPOCHS = 1',
    "train_bilm.ipynb": 'MAX_STEPS = 12\nOUT = "runs/alice"',
}
RUN_BY_THE_WHEEL_TEST = {"quickstart.ipynb"}


def test_every_notebook_is_listed_and_stored_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL)
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name
                for line in cell.source.splitlines():  # only the public API
                    assert "elmo_keras." not in line.split("import")[0] or \
                        line.startswith("from elmo_keras.training import"), line
                assert "__file__" not in cell.source and "tests/" not in cell.source


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(SMALL) - RUN_BY_THE_WHEEL_TEST))
def test_notebook_runs(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source = SMALL[name]
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
