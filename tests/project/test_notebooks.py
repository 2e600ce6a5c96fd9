"""The notebooks run top to bottom (small settings through their parameters cell), use
only the public API, and are stored without outputs. Each runs once:
`test_wheel_install.py` runs the quickstart, from an installed wheel."""

import signal

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
SMALL = {
    "quickstart.ipynb": 'PRESET = "elmo_small_en"',
    "sentiment_finetuning.ipynb": 'PRESET = "elmo_small_en"\nDATA = "toy"\nSAMPLE = 40\nEPOCHS = 1\n'
                              'FINE_TUNE = False',
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
    before = signal.getsignal(signal.SIGINT)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:  # nbclient leaves Python's default Ctrl-C handler where SIGINT was ignored
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("sample", [4, 7, 40])
def test_training_slice_holds_every_class_in_its_share(sample):
    """The cells up to the one making `y_train` run (toy data: 20 rows, stored sorted by
    label, as the real split is): a sample of any size holds both classes, in about their
    share of the split; a slice of the first rows would hold one."""
    nb = nbformat.read(NOTEBOOKS / "sentiment_finetuning.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    last = next(i for i, src in enumerate(cells) if "y_train =" in src)
    namespace = {}
    for src in [f'PRESET = "elmo_small_en"\nDATA = "toy"\nSAMPLE = {sample}'] + [
            s for s in cells[:last + 1] if "# Parameters" not in s]:
        exec(compile(src, "<notebook cell>", "exec"), namespace)
    splits, y_train = namespace["splits"], namespace["y_train"]
    assert [y for _, y in splits["train"][:4]] == [1] * 4  # its first rows: one class
    labels, counts = np.unique(y_train, return_counts=True)
    assert labels.tolist() == [0, 1], counts
    assert abs(len(y_train) - sample) <= 1 and abs(counts[0] - counts[1]) <= 1
    assert len(set(namespace["x_train"])) > 1 and list(y_train) != sorted(y_train)
