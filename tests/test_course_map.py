"""The course map is the one source of chapter durations: the notebooks state the same minutes, and the
instructor agendas use them and fit their stated length, breaks included."""

import re
from datetime import datetime

import pytest

from aieng import course_map
from aieng.files import ROOT

INSTRUCTOR = ROOT / "docs" / "instructor"
_LENGTH = re.compile(r"\*\*Length:\*\* (?:(\d+) hours?)?\s*(?:(\d+) minutes)?, (\d\d:\d\d) to (\d\d:\d\d)")
_ROW = re.compile(r"^\|[ ]*(?P<start>[^|]*?)[ ]*\|[ ]*(?P<minutes>[^|]*?)[ ]*\|[ ]*(?P<session>[^|]*?)[ ]*\|",
                  re.MULTILINE)
_CHAPTER_LINK = re.compile(r"^\[(?P<label>[^\]]+)\]\(\.\./\.\./solutions/(?P<file>\d\d_[\w-]+\.ipynb)\)$")
_LEFT = re.compile(r"leaves (\d+) minutes for the chapters still to be timed")


def _clock(text: str) -> int:
    moment = datetime.strptime(text, "%H:%M")
    return moment.hour * 60 + moment.minute


def day_problems(day: str, chapters: tuple[course_map.Chapter, ...] = course_map.CHAPTERS,
                 ) -> tuple[list[str], list[str]]:
    """(problems, chapter ids) of one day's agenda: its length line, then its table row by row."""
    by_file = {c.file: c for c in chapters}
    length = _LENGTH.search(day)
    if not length:
        return ["no **Length:** line (`**Length:** 7 hours 30 minutes, 09:00 to 16:30`)"], []
    stated = int(length[1] or 0) * 60 + int(length[2] or 0)
    begin, end = _clock(length[3]), _clock(length[4])
    problems = [] if end - begin == stated else [f"the length says {stated} min but {length[3]} to {length[4]} "
                                                  f"is {end - begin} min"]
    clock, known_minutes, untimed_minutes, seen = begin, 0, 0, []
    rows = [m for m in _ROW.finditer(day) if m["start"] not in ("start", "---")]
    for row in rows:
        start, minutes, session = row["start"], row["minutes"], row["session"]
        if session == "End":
            if clock is not None and _clock(start) != clock:
                problems.append(f"End at {start}, but the rows add up to {clock // 60:02d}:{clock % 60:02d}")
            break
        if clock is None:
            if start != "—":
                problems.append(f"{session}: start {start} after an untimed chapter; write —")
        elif start == "—" or _clock(start) != clock:
            problems.append(f"{session}: starts {start}, but the rows before it end at "
                            f"{clock // 60:02d}:{clock % 60:02d}")
        link = _CHAPTER_LINK.match(session)
        chapter = by_file.get(link["file"]) if link else None
        if link and chapter is None:
            problems.append(f"{session}: not a chapter of the course map")
        if chapter:
            seen.append(chapter.id)
            if link["label"] != chapter.label:
                problems.append(f"{session}: the course map names it {chapter.label!r}")
            if chapter.minutes is None and minutes != course_map.TO_BE_TIMED:
                problems.append(f"{chapter.label}: not timed in the course map; write {course_map.TO_BE_TIMED!r}")
            if chapter.minutes is not None and minutes != str(chapter.minutes):
                problems.append(f"{chapter.label}: {minutes} min here, {chapter.minutes} in the course map")
        if minutes == course_map.TO_BE_TIMED:
            clock = None
            untimed_minutes += (chapter.minutes or 0) if chapter else 0
        else:
            known_minutes += int(minutes)
            clock = None if clock is None else clock + int(minutes)
    else:
        problems.append("the table has no End row")
    if known_minutes + untimed_minutes > stated:
        problems.append(f"the sessions take {known_minutes + untimed_minutes} min, more than the stated {stated}")
    if (left := _LEFT.search(day)) and int(left[1]) != stated - known_minutes:
        problems.append(f"it says {left[1]} minutes are left, but {stated - known_minutes} are")
    return problems, seen


def agenda_problems(text: str) -> tuple[list[str], list[str]]:
    """(problems, chapter ids in order) of an agenda file: one day, or several under `## Day N` headings."""
    days = re.split(r"^## Day \d+$", text, flags=re.MULTILINE)
    days = days[1:] if len(days) > 1 else days
    problems, seen = [], []
    for number, day in enumerate(days, start=1):
        found, ids = day_problems(day)
        problems += [f"day {number}: {p}" for p in found]
        seen += ids
    return problems, seen


@pytest.mark.parametrize("chapter", course_map.CHAPTERS, ids=lambda c: c.id)
def test_each_notebook_states_the_course_maps_minutes(chapter):
    path = ROOT / "solutions" / chapter.file
    if not path.exists():
        pytest.skip(f"{chapter.file} is not in solutions/ yet")
    stated = course_map.stated_minutes(path)
    assert stated == chapter.minutes, (f"{chapter.file} says about {stated} minutes in its Needs line, the course "
                                       f"map {chapter.minutes}: change aieng/course_map.py and the agendas in "
                                       "docs/instructor/")


def test_every_chapter_notebook_is_on_the_map():
    files = {c.file for c in course_map.CHAPTERS}
    missing = [p.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb") if p.name not in files]
    assert not missing, f"chapters missing from aieng/course_map.py: {missing}"
    assert [c.id for c in course_map.CHAPTERS] == sorted(c.id for c in course_map.CHAPTERS)


def test_the_one_day_agenda_uses_the_maps_minutes_and_fits():
    problems, seen = agenda_problems((INSTRUCTOR / "agenda-1-day.md").read_text(encoding="utf-8"))
    assert not problems, problems
    assert seen == ["00", "01", "02", "03", "04", "05"]


def test_the_two_day_agenda_holds_every_chapter_once_and_fits():
    problems, seen = agenda_problems((INSTRUCTOR / "agenda-2-day.md").read_text(encoding="utf-8"))
    assert not problems, problems
    assert seen == [c.id for c in course_map.CHAPTERS]


_GOOD_DAY = """**Length:** 2 hours, 09:00 to 11:00.

| start | minutes | session | the point |
|---|---|---|---|
| 09:00 | 30 | [00 · Setup and your first call](../../solutions/00_setup.ipynb) | x |
| 09:30 | 15 | Break | |
| 09:45 | 75 | [02 · Prompting a foundation model](../../solutions/02_prompting.ipynb) | y |
| 11:00 | | End | |
"""


def test_a_good_day_passes_and_each_known_slip_is_caught():
    assert day_problems(_GOOD_DAY) == ([], ["00", "02"])
    wrong_minutes = _GOOD_DAY.replace("| 09:45 | 75 |", "| 09:45 | 60 |")
    assert any("60 min here, 75 in the course map" in p for p in day_problems(wrong_minutes)[0])
    too_long = _GOOD_DAY.replace("| 09:30 | 15 | Break", "| 09:30 | 45 | Break").replace("| 09:45 |", "| 10:15 |") \
                        .replace("| 11:00 | | End", "| 11:30 | | End")
    assert any("more than the stated 120" in p for p in day_problems(too_long)[0])
    bad_start = _GOOD_DAY.replace("| 09:30 | 15 | Break", "| 09:35 | 15 | Break")
    assert any("Break: starts 09:35" in p for p in day_problems(bad_start)[0])
    untimed = course_map.CHAPTERS[:2] + (course_map.Chapter("02", "Prompting a foundation model", "02_prompting.ipynb",
                                                            None),)
    assert any("not timed in the course map" in p for p in day_problems(_GOOD_DAY, untimed)[0])
