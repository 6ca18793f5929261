"""A pytest plugin that writes `docs/status.md`: how each chapter fared in the last full run of `make test`.

Registered in tests/conftest.py (`pytest_plugins`). nbval turns every cell of `solutions/NN_*.ipynb`
into a test item; this plugin adds up each notebook's items (passed or failed, seconds) and, at the
end of the session, writes the table with the date, the backend and model, and the commit.
It writes only when the run executed every chapter in solutions/: `make test-fast`, one test file or
one notebook leave the file as it was, so it always describes a whole run. The file is replaced
atomically, and a chapter that failed keeps the date it last passed, read from the previous file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aieng.files import write_atomic

__all__ = ["ChapterRun", "chapters_expected", "last_passed", "format_status", "backend_label",
           "StatusRecorder", "pytest_configure"]

_CHAPTER = re.compile(r"^\d\d_[\w-]+\.ipynb$")
_ROW = re.compile(r"^\| \[?(?P<name>\d\d_[\w-]+\.ipynb)\]?\S* \| [^|]* \| [^|]* \| (?P<passed>[^|]*?) \|$",
                  re.MULTILINE)


@dataclass
class ChapterRun:
    """One chapter notebook in this run: cells that passed, failed and skipped, and seconds spent."""

    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failed_cells: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0


def chapters_expected(solutions: Path) -> list[str]:
    """The chapter notebooks a full run must cover: `NN_name.ipynb` files in `solutions`."""
    return sorted(p.name for p in solutions.glob("*.ipynb") if _CHAPTER.match(p.name))


def last_passed(previous: str) -> dict[str, str]:
    """Chapter -> the date it last passed, read from a previous status file's table (empty when none)."""
    return {m["name"]: m["passed"].strip() for m in _ROW.finditer(previous)}


def backend_label() -> str:
    """Which backend and model the run used: the endpoint set in OPENAI_BASE_URL, else the bundled local model."""
    base_url = os.environ.get("OPENAI_BASE_URL", "").strip()
    if base_url:
        return f"{base_url} · {os.environ.get('AIENG_MODEL', '').strip() or 'the endpoint’s only model'}"
    try:  # the local server this run used (it keeps running after the session), else the bundled file's name
        from aieng import local_server

        server = local_server.running_server()
        return f"local · {server.model if server else local_server.served_name(local_server.model_path())}"
    except Exception as err:  # noqa: BLE001 -- a status line must never fail the run
        return f"local · model unknown ({type(err).__name__})"


def _commit(root: Path) -> str:
    try:
        found = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
                               text=True, timeout=10)
        return found.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def format_status(runs: list[ChapterRun], *, finished: datetime, backend: str, commit: str,
                  previous: dict[str, str]) -> str:
    """The Markdown of docs/status.md: one row per chapter, with the date it last passed."""
    today = finished.strftime("%Y-%m-%d")
    lines = ["# Chapter status", "",
             "Written by `make test` after its last full run; each chapter notebook in `solutions/` is executed "
             "top to bottom under nbval.", "",
             f"Run finished {finished.strftime('%Y-%m-%d %H:%M')} UTC · backend {backend} · "
             f"Python {sys.version.split()[0]} · commit {commit}", "",
             "| chapter | result | seconds | last passed |", "|---|---|---|---|"]
    for run in runs:
        if run.ok:
            result, passed_on = "✓ passed", today
        else:
            cells = run.passed + run.failed
            result = f"✗ failed ({run.failed} of {cells} cells)" if run.failed else "✗ did not run"
            passed_on = previous.get(run.name, "never")
        lines.append(f"| [{run.name}](../solutions/{run.name}) | {result} | {run.seconds:.0f} | {passed_on} |")
    return "\n".join(lines) + "\n"


def _chapter_of(nodeid: str) -> str | None:
    """`05_rag.ipynb` for an item of solutions/05_rag.ipynb (node ids are relative to the root folder)."""
    path = Path(nodeid.split("::")[0])
    return path.name if path.parent == Path("solutions") and _CHAPTER.match(path.name) else None


class StatusRecorder:
    """Collects one session's chapter runs and writes the status file at its end (one per pytest config,
    so a pytest run inside a test, as pytester makes, keeps its own tally)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs: dict[str, ChapterRun] = {}  # chapter file name -> its run, filled as reports arrive

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Add each cell's outcome and time to its chapter (setup and teardown count: the kernel starts there)."""
        name = _chapter_of(report.nodeid)
        if name is None:
            return
        run = self.runs.setdefault(name, ChapterRun(name))
        run.seconds += report.duration
        if report.failed:  # a failed setup (kernel did not start) or teardown counts as a failure too
            if report.nodeid not in run.failed_cells:
                run.failed += 1
                run.failed_cells.append(report.nodeid)
        elif report.when == "call" and report.passed:
            run.passed += 1
        elif report.skipped:
            run.skipped += 1

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write docs/status.md when every chapter in solutions/ ran; otherwise leave it alone."""
        expected = chapters_expected(self.root / "solutions")
        ran = {name: run for name, run in self.runs.items() if run.passed or run.failed}
        if not expected or set(expected) - set(ran):
            return  # not a full run (test-fast, one file, -k, or stopped early with -x)
        target = self.root / "docs" / "status.md"
        previous = last_passed(target.read_text(encoding="utf-8")) if target.exists() else {}
        text = format_status([ran[name] for name in expected], finished=datetime.now(timezone.utc),
                             backend=backend_label(), commit=_commit(self.root), previous=previous)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text)


def pytest_configure(config: pytest.Config) -> None:
    """Give this pytest run its own recorder, rooted at its root folder (where solutions/ and docs/ are)."""
    config.pluginmanager.register(StatusRecorder(config.rootpath), "aieng-status-recorder")
