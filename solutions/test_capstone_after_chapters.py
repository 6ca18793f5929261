"""After the chapters have run in this test session, chapter 09 showed no approach as missing.

`make test` runs the notebooks of solutions/ in file order under nbval, all in one AIENG_WORKSPACE:
chapters 01 to 08 record what they measured in the results store there, and chapter 09 saves what
its table showed (`capstone.save_snapshot`). This file sorts after every notebook, so pytest runs it
last and reads that snapshot. It skips, saying why, when the session did not run the chapters
(e.g. `pytest tests/` or one notebook alone)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from aieng import capstone, results

SOLUTIONS = Path(__file__).parent
_IMPORTED_AT = time.time()  # collection time: a snapshot older than this is from another run


def _chapter(path: Path) -> str | None:
    found = re.match(r"(\d\d)_\w+\.ipynb$", path.name)
    return found.group(1) if found and path.parent.resolve() == SOLUTIONS.resolve() else None


def test_chapter_09_shows_no_approach_missing_after_chapters_00_to_08(request):
    ran = {_chapter(Path(str(item.fspath))) for item in request.session.items} - {None}
    in_course = {_chapter(path) for path in SOLUTIONS.glob("[0-9][0-9]_*.ipynb")}
    if "09" not in in_course:
        pytest.skip("solutions/ has no chapter 09 notebook to read the table of.")
    not_run = sorted(in_course - ran)
    if not_run:
        pytest.skip(f"Chapters {', '.join(not_run)} did not run in this session; this test reads chapter 09's table "
                    "after all of them (make test).")
    snapshot = capstone.load_snapshot()
    assert snapshot["saved_at"] >= _IMPORTED_AT, "chapter 09's table is from an earlier run, not from this session's"
    producers = {family: chapter for family, chapter in results.FAMILIES.items() if chapter in in_course}
    missing = {family: chapter for family, chapter in snapshot["missing"].items() if family in producers}
    assert not missing, (f"chapter 09 shows these approaches as missing although their chapters ran in this "
                         f"session (family: chapter): {missing}; that chapter records nothing in aieng.results")
