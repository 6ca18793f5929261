"""The learner copies run to the end with every stub left in place: "Run all" reaches every check,
each check prints its verdict (not attempted, or feedback), and no cell raises. (Every check's
verdict on every stub is proven in test_checks*.py without a kernel; this runs the notebooks.)"""

import os
import re
import time

import nbformat
import pytest
from nbclient import NotebookClient

from aieng import call_replay_plugin
from aieng.checks import STRICT_ENV
from aieng.exercises import ROOT

COPIES = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMES_REAL_CALLS = {"07_observability.ipynb"}
VERDICT = re.compile(r"^[✓…✗] Exercise \d+\.\d+", re.MULTILINE)  # how a check's Result displays itself


def _text(outputs):
    return "".join(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", "")) for o in outputs)


def _is_check(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith("checks.")


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("path", COPIES, ids=[p.name for p in COPIES])
def test_exercise_copy_runs_to_the_end_and_every_check_gives_a_verdict(path):
    notebook = nbformat.read(path, as_version=4)
    checks = [i for i, c in enumerate(notebook.cells) if _is_check(c)]
    assert checks, f"{path.name} has no check cell (a line starting with `checks.`)"
    env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}  # a learner's kernel: checks do not raise
    # The calls the solution run asked already (it runs first under `make test`) are answered from what it kept:
    # this test proves the copy's cells and checks run, the solution's run proved the model calls. Chapter 07
    # compares the latencies of real calls (first pass vs cache), so its copy asks the model again.
    if path.name not in TIMES_REAL_CALLS:
        env = call_replay_plugin.replay_environment(env)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    with client.setup_kernel(env=env):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
    print(f"{path.name}: ran to the end in {time.perf_counter() - started:.0f} s")
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(notebook.cells) if c.cell_type == "code"
              for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: cells raised (cell index, error, message): {errors}"
    silent = {i: notebook.cells[i].source for i in checks if not VERDICT.search(_text(notebook.cells[i].outputs))}
    assert not silent, f"{path.name}: check cells printed no verdict: {silent}"
