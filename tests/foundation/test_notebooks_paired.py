"""Every notebook is a jupytext pair whose .ipynb is output-free and in sync with its .py."""

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("*.ipynb"))


def _cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_every_notebook_has_both_halves():
    ipynb = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    py = {p.stem for p in NOTEBOOKS.glob("*.py")}
    assert ipynb == py, f"unpaired notebooks: {sorted(ipynb ^ py)}; run `jupytext --sync notebooks/*.py`"
    assert ipynb, "no notebooks found"


@pytest.mark.parametrize("path", PAIRS, ids=lambda p: p.stem)
def test_pair_in_sync_and_stripped(path):
    nb = jupytext.read(path)
    script = jupytext.read(path.with_suffix(".py"))
    assert _cells(nb) == _cells(script), f"{path.name} drifted from its .py; run `jupytext --sync {path.with_suffix('.py')}`"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs; strip them"
