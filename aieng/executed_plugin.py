"""A pytest plugin that keeps each solution notebook as nbval executed it: `build/executed/NN_name.ipynb`.

Registered in tests/conftest.py (`pytest_plugins`), beside the status plugin, so `make test` uses it; a
run of one notebook alone (`pytest --nbval-lax solutions/05_rag.ipynb`) does not load tests/conftest.py
and names it: `pytest -p aieng.executed_plugin --nbval-lax solutions/05_rag.ipynb`. nbval runs every code
cell of `solutions/NN_*.ipynb` as a test item and keeps what the kernel sent back in the item's
`test_outputs`; this plugin copies those outputs into a copy of the notebook and writes it, atomically,
once every code cell of that notebook has run. So `make site` and `make slides` show the outputs of the
run `make test` made, and nothing executes the chapters a second time.

Only a notebook run in full is written: one cell picked with `-k`, or a run stopped early, writes
nothing. A chapter with a failing cell is not written either (its page would show a traceback): its old
copy is removed and `NN_name.failed.txt` says which cells failed, so the site names the chapter as
missing instead of showing results from an older run.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

from aieng.files import atomic_file, write_atomic
from aieng.status_plugin import _commit, backend_label  # the labels docs/status.md shows

__all__ = ["EXECUTED_DIR", "METADATA_KEY", "NotebookRun", "executed_notebook", "ExecutedRecorder",
           "pytest_configure"]

EXECUTED_DIR = Path("build") / "executed"  # relative to the pytest root folder
METADATA_KEY = "aieng_executed"  # notebook metadata: when, on which backend and commit it ran
_CHAPTER = re.compile(r"^\d\d_[\w-]+\.ipynb$")


@dataclass
class NotebookRun:
    """One solution notebook in this session: its code cells' outputs by cell number, and cells that failed."""

    path: Path
    notebook: nbformat.NotebookNode
    code_cells: int
    outputs: dict[int, list] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    written: bool = False

    @property
    def complete(self) -> bool:
        return len(self.outputs) == self.code_cells


def executed_notebook(notebook: nbformat.NotebookNode, outputs: dict[int, list],
                      metadata: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of `notebook` whose code cells carry `outputs` (code cell number -> nbval's outputs) and
    numbered execution counts, with `metadata` stored under `aieng_executed`; the original is left as it was."""
    executed = copy.deepcopy(notebook)
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code):
        cell.outputs = [nbformat.from_dict(dict(out)) for out in outputs.get(number) or []]
        cell.execution_count = number + 1
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = number + 1
    executed.metadata[METADATA_KEY] = dict(metadata)
    nbformat.validate(executed)
    return executed


class ExecutedRecorder:
    """Collects the outputs of one session's solution notebooks and writes each one when it has run in full."""

    def __init__(self, root: Path, out_dir: Path | None = None) -> None:
        self.root = root
        self.out_dir = out_dir or root / EXECUTED_DIR
        self.runs: dict[Path, NotebookRun] = {}

    def _run_of(self, item: pytest.Item) -> NotebookRun | None:
        """The run of this item's notebook, when the item is a cell of solutions/NN_name.ipynb run by nbval."""
        parent = getattr(item, "parent", None)
        if not hasattr(item, "cell_num") or getattr(parent, "nb", None) is None:
            return None
        path = Path(str(parent.path))
        try:
            relative = path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        if relative.parent != Path("solutions") or not _CHAPTER.match(path.name):
            return None
        if path not in self.runs:
            cells = sum(cell.cell_type == "code" for cell in parent.nb.cells)
            self.runs[path] = NotebookRun(path, parent.nb, cells)
        return self.runs[path]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        run = self._run_of(item)
        if run is None:
            return
        if report.failed:
            run.failed.append(f"Cell {item.cell_num} ({report.when})")
        done = call.when == "call" or (call.when == "setup" and not report.passed)
        if done and item.cell_num not in run.outputs:
            run.outputs[item.cell_num] = list(getattr(item, "test_outputs", None) or [])
        if call.when == "teardown" and run.complete and not run.written:
            run.written = True
            self._write(run)
            run.outputs.clear()  # free the outputs (plots) of a notebook already written

    def _write(self, run: NotebookRun) -> None:
        """Write the executed copy, or, when a cell failed, remove the stale copy and say which cells failed."""
        target = self.out_dir / run.path.name
        failed_note = target.with_suffix(".failed.txt")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if run.failed:
            target.unlink(missing_ok=True)
            cells = ", ".join(run.failed[:5]) + (f" and {len(run.failed) - 5} more" if len(run.failed) > 5 else "")
            write_atomic(failed_note, f"{run.path.name} failed under nbval on {now}: {cells}.\n"
                         f"Fix it, then run it again: AIENG_CHECKS_STRICT=1 .venv/bin/python -m pytest "
                         f"-p aieng.executed_plugin --nbval-lax solutions/{run.path.name}\n")
            return
        executed = executed_notebook(run.notebook, run.outputs,
                                     {"at": now, "backend": backend_label(), "commit": _commit(self.root)})
        with atomic_file(target) as out:
            nbformat.write(executed, out)
        failed_note.unlink(missing_ok=True)


def pytest_configure(config: pytest.Config) -> None:
    """Give this pytest run its own recorder, writing under its root folder's build/executed/."""
    config.pluginmanager.register(ExecutedRecorder(config.rootpath), "aieng-executed-recorder")
