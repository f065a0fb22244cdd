"""The notebooks in notebooks/ run top to bottom and are stored without
outputs (executed here with nbclient in a fresh kernel, with the session's
$IQA_JAX_HOME: the built-in datasets are prepared once for all tests)."""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_and_they_hold_no_outputs():
  assert len(NOTEBOOKS) >= 2
  for path in NOTEBOOKS:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
      if cell.cell_type == "code":
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{path.name} holds outputs: clear them before committing "
            "(jupyter nbconvert --clear-output --inplace)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch, iqa_home):
  monkeypatch.setenv("IQA_JAX_HOME", str(iqa_home))
  monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline
  nb = nbformat.read(path, as_version=4)
  client = nbclient.NotebookClient(
      nb, timeout=600, kernel_name="python3",
      resources={"metadata": {"path": str(tmp_path)}})
  client.execute()   # raises CellExecutionError naming the failing cell
  errors = [o for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if o.get("output_type") == "error"]
  assert not errors
  pictures = [o for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if "image/png" in o.get("data", {})]
  assert pictures, f"{path.name} drew no figure"
  assert os.path.isdir(iqa_home / "datasets")    # the cache the notebook used
