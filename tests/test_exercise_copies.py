"""The learner copies run: everything up to the first exercise check works, and that check on
the untouched stub prints "not attempted" instead of a traceback. (Every check's verdict on
every stub is proven in test_checks*.py without a kernel.)"""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from aieng.checks import STRICT_ENV
from aieng.exercises import ROOT

COPIES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _text(outputs):
    return "".join(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", "")) for o in outputs)


@pytest.mark.parametrize("path", COPIES, ids=[p.name for p in COPIES])
def test_exercise_copy_runs_and_checks_give_feedback(path):
    notebook = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}  # a learner's kernel: checks do not raise
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    first_check = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source.startswith("checks."))
    with client.setup_kernel(env=env):
        for index, cell in enumerate(notebook.cells[: first_check + 1]):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
    code_cells = [c for c in notebook.cells[: first_check + 1] if c.cell_type == "code"]
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(code_cells) for o in c.outputs
              if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: cells raised {errors}"
    cell = code_cells[-1]
    assert "not attempted" in _text(cell.outputs), f"{path.name}: {cell.source!r} printed {_text(cell.outputs)!r}"
