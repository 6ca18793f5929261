"""The course map: every chapter's id, title, notebook file and minutes, in order.

The one place the chapters' durations live for everything written about the course (the instructor
agendas in docs/instructor/, the README's chapter table). Each notebook states its own duration in
its "Needs:" line ("about 75 minutes"); tests/test_course_map.py checks the two agree, and that the
agendas use these minutes and fit their stated length. A chapter whose notebook has not stated a
duration yet has `minutes=None` and is shown as "to be timed".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Chapter", "CHAPTERS", "chapter", "stated_minutes", "TO_BE_TIMED"]

TO_BE_TIMED = "to be timed"
_NEEDS_MINUTES = re.compile(r"\*\*Needs:\*\*[^\n]*?about (\d+) minutes")  # on the Needs line itself


@dataclass(frozen=True)
class Chapter:
    """One chapter: id ("05"), title, notebook file name (same in solutions/ and notebooks/), minutes or None."""

    id: str
    title: str
    file: str
    minutes: int | None

    @property
    def label(self) -> str:
        """"05 · Retrieval-augmented generation", as the chapters' navigation lines name it."""
        return f"{self.id} · {self.title}"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("00", "Setup and your first call", "00_setup.ipynb", 30),
    Chapter("01", "The ML-engineering workflow", "01_ml_workflow.ipynb", 60),
    Chapter("02", "Prompting a foundation model", "02_prompting.ipynb", 75),
    Chapter("03", "Ship a prototype", "03_prototype.ipynb", 40),
    Chapter("04", "Evals", "04_evals.ipynb", 75),
    Chapter("05", "Retrieval-augmented generation", "05_rag.ipynb", 75),
    Chapter("06", "Agents and tools", "06_agents.ipynb", 90),
    Chapter("07", "Observability", "07_observability.ipynb", 60),
    Chapter("08", "Fine-tuning", "08_fine_tuning.ipynb", 30),
    Chapter("09", "The two workflows compared (capstone)", "09_capstone.ipynb", 60),
)


def chapter(chapter_id: str) -> Chapter:
    """The chapter with this id ("05"); an unknown id raises, listing the known ones."""
    for known in CHAPTERS:
        if known.id == chapter_id:
            return known
    raise KeyError(f"No chapter {chapter_id!r}; the chapters are {', '.join(c.id for c in CHAPTERS)}.")


def stated_minutes(notebook: str | Path) -> int | None:
    """The minutes a notebook's "Needs:" line states ("about 75 minutes"), or None when it states none."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if found := _NEEDS_MINUTES.search(source):
                return int(found.group(1))
    return None

