"""Where a learner stands: per chapter, which exercises pass, which are attempted, which are untouched.

Read from the check cells' saved outputs in the learner's own notebooks (`workspace_dir()`); nothing
is executed, so the report is as fresh as the last save (Ctrl+S in JupyterLab). A check cell is a
code cell starting with `checks.`; its verdict is the line a check's `Result` displays:

    ✓ Exercise 5.1: ...                  passed
    ✗ Exercise 5.1: ...  (or an error)   attempted, not passing yet
    … Exercise 5.1 not attempted yet     untouched (as is a check cell that never ran)

    python -m aieng progress              every chapter in the workspace
    progress.show("05")                   one chapter, from the last cell of chapter 05
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from aieng.files import ROOT, shown
from aieng.workspace import workspace_dir

__all__ = ["PASSED", "ATTEMPTED", "UNTOUCHED", "Exercise", "Chapter", "read_chapter", "report", "format_report",
           "show"]

PASSED, ATTEMPTED, UNTOUCHED = "passed", "attempted", "untouched"
_MARK = {PASSED: "✓", ATTEMPTED: "✗", UNTOUCHED: "○"}
_VERDICT = re.compile(r"^([✓…✗]) Exercise (\d+\.\d+)", re.MULTILINE)  # as aieng.checks._result.Result displays
_STATUS_OF_MARK = {"✓": PASSED, "✗": ATTEMPTED, "…": UNTOUCHED}
_EXERCISE_HEADING = re.compile(r"^(?:#+ .*?|\*\*)Exercise (\d+\.\d+)", re.MULTILINE)  # a heading or a bold lead
_CHAPTER_FILE = re.compile(r"^(\d\d)_[\w-]+\.ipynb$")  # 05_rag.ipynb, not 05_rag.new-1a2b3c4d.ipynb


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter: its number ("5.1"), status (passed, attempted, untouched) and check cells."""

    number: str
    status: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Chapter:
    """One chapter notebook of the workspace; `problem` says why it could not be read (then no exercises)."""

    chapter: str
    title: str
    path: Path
    exercises: tuple[Exercise, ...] = ()
    problem: str = ""

    @property
    def n_passed(self) -> int:
        return sum(e.status == PASSED for e in self.exercises)


def _text(outputs: list[dict]) -> str:
    parts = []
    for output in outputs:
        text = output.get("text", "")
        plain = output.get("data", {}).get("text/plain", "")
        for value in (text, plain):
            parts.append("".join(value) if isinstance(value, list) else str(value))
    return "".join(parts)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _verdict(outputs: list[dict]) -> tuple[str, str | None]:
    """(status, exercise number printed) of one check cell's saved outputs."""
    if any(o.get("output_type") == "error" for o in outputs):
        return ATTEMPTED, None  # the check ran and raised (a strict run, or the cell misused it): not passing
    found = _VERDICT.search(_text(outputs))
    if not found:
        return UNTOUCHED, None  # never run since the notebook was copied
    return _STATUS_OF_MARK[found.group(1)], found.group(2)


def _combine(statuses: list[str]) -> str:
    """An exercise passes when all its checks pass, is untouched when none was tried, else attempted."""
    if all(s == PASSED for s in statuses):
        return PASSED
    if all(s == UNTOUCHED for s in statuses):
        return UNTOUCHED
    return ATTEMPTED


def read_chapter(path: str | Path) -> Chapter:
    """The exercises of one saved notebook and their status; an unreadable file gives a `Chapter` with `problem` set."""
    path = Path(path)
    match = _CHAPTER_FILE.match(path.name)
    chapter = match.group(1) if match else path.stem
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
        if not isinstance(cells, list):
            raise ValueError("its cells are not a list")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        reason = f"{type(err).__name__}: {err}" if not isinstance(err, KeyError) else "it has no cells"
        return Chapter(chapter, "", path, problem=(
            f"{shown(path)} is not a readable notebook ({reason}). Open it in JupyterLab to repair it, or rename it "
            "and run `make lab` for a fresh copy of the chapter."))
    title, heading_exercise = "", None
    checks: dict[str, list[tuple[str, str]]] = {}  # exercise number -> [(check source, status)]
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = _source(cell)
        if cell.get("cell_type") == "markdown":
            if not title and source.lstrip().startswith("# "):
                title = source.lstrip()[2:].splitlines()[0].strip()
            if found := _EXERCISE_HEADING.search(source):
                heading_exercise = found.group(1)
        elif cell.get("cell_type") == "code" and source.lstrip().startswith("checks."):
            status, printed = _verdict(cell.get("outputs") or [])
            # The number the check printed wins; before it ran, the exercise heading above it names it.
            number = printed or heading_exercise or source.strip().split("(")[0]
            checks.setdefault(number, []).append((source.strip(), status))
    exercises = tuple(Exercise(n, _combine([s for _, s in found]), tuple(c for c, _ in found))
                      for n, found in checks.items())
    return Chapter(chapter, title, path, exercises)


def _learner_notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if _CHAPTER_FILE.match(p.name))


def report(workspace: str | Path | None = None, *, chapter: str | None = None) -> list[Chapter]:
    """Every chapter notebook in the workspace (default `workspace_dir()`), or only `chapter` ("05"), in order."""
    folder = workspace_dir() if workspace is None else Path(workspace)
    paths = _learner_notebooks(folder)
    if chapter is not None:
        paths = [p for p in paths if p.name.startswith(f"{chapter}_")]
    return [read_chapter(p) for p in paths]


def _missing_chapters(chapters: list[Chapter]) -> list[str]:
    have = {c.path.name for c in chapters}
    return [p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if p.name not in have]


def format_report(chapters: list[Chapter], workspace: str | Path | None = None) -> str:
    """The report as text: one line per chapter, then its exercises marked ✓ passed, ✗ attempted, ○ untouched."""
    folder = workspace_dir() if workspace is None else Path(workspace)
    if not chapters:
        return (f"No chapter notebooks in {shown(folder)}. Run `make lab` (or `python -m aieng workspace`) "
                "to copy them there.")
    lines = [f"Progress in {shown(folder)}, read from the saved notebooks (save with Ctrl+S to update):"]
    for chapter in chapters:
        if chapter.problem:
            lines.append(f"{chapter.chapter} · {chapter.problem}")
            continue
        name = chapter.title or chapter.path.name
        if not chapter.exercises:
            lines.append(f"{name}: no exercises")
            continue
        marks = "  ".join(f"{_MARK[e.status]} {e.number}" for e in chapter.exercises)
        lines.append(f"{name}: {chapter.n_passed}/{len(chapter.exercises)} passed   {marks}")
    lines.append("✓ passed · ✗ attempted, not passing yet · ○ untouched")
    return "\n".join(lines)


def show(chapter: str | None = None) -> None:
    """Print the progress report: every chapter, or only `chapter` ("05"). Reads the saved files; runs nothing."""
    chapters = report(chapter=chapter)
    if chapter is not None and not chapters:
        print(f"No notebook of chapter {chapter} in {shown(workspace_dir())}. Save this notebook (Ctrl+S) there "
              "and run the cell again.")
        return
    print(format_report(chapters))
    if chapter is None and (missing := _missing_chapters(chapters)):
        print(f"Not in your workspace yet: {', '.join(missing)}. Run `make lab` to copy them.")
