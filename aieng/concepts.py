"""Check your understanding: print a chapter's conceptual questions and grade the learner's answers.

The questions live in `aieng.concept_questions`. A question about the learner's own run reads the
results store (`aieng.results`): its text shows the stored numbers and its right answer is worked out
from them, so it holds for any model or endpoint. When the store lacks the row, the question says
which chapter to run. `checks.understanding(chapter, answers)` turns the grades into one verdict.

    concepts.show("05")                       # print the questions of chapter 05
    concepts.grade("05", {"q1": "B", ...})    # one Grade per question
"""

from __future__ import annotations

import difflib
import math
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from aieng import results
from aieng.concept_questions import QUIZZES, Question, Quiz

__all__ = ["RIGHT", "WRONG", "UNANSWERED", "NEEDS_RUN", "Grade", "quiz", "right_answer", "show", "grade"]

RIGHT, WRONG, UNANSWERED, NEEDS_RUN = "right", "wrong", "unanswered", "needs a run"
_LETTERS = "ABCDEFGH"
_BLANK = ("", "?")  # what the printed template holds before the learner answers


class _MissingResult(Exception):
    """The results store lacks what a question reads: the message says which chapter to run."""


@dataclass(frozen=True)
class Grade:
    """The verdict on one answer: `status` is right, wrong, unanswered or "needs a run"; `line` is the feedback."""

    key: str
    status: str
    line: str


def quiz(chapter: str) -> Quiz:
    """The questions of `chapter` ("05"); an unknown chapter raises, naming the chapters that have questions."""
    chapter = str(chapter).zfill(2)
    if chapter not in QUIZZES:
        close = difflib.get_close_matches(chapter, list(QUIZZES), n=1)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"No questions for chapter {chapter!r}.{guess} Chapters with questions: {', '.join(QUIZZES)}.")
    return QUIZZES[chapter]


# --- questions about the learner's own run: read the results store ------------------------------------


def _newest(frame: pd.DataFrame, keep: Callable[[pd.Series], bool], chapter: str, where: str) -> pd.Series:
    rows = [row for _, row in frame.iterrows() if keep(row)] if len(frame) else []
    if not rows:
        raise _MissingResult(f"your results store has no result from chapter {chapter} yet: run chapter {chapter} "
                             f"to {where}, then rerun this cell")
    return max(rows, key=lambda row: row["recorded_at"])


def _share_left(row: pd.Series) -> dict[str, Any]:
    fields = {"metric": row["metric"], "value": float(row["value"]), "n": int(row["n"])}
    return {"fields": fields, "answer": round((1 - fields["value"]) * fields["n"])}


def _chapter_01_router(frame: pd.DataFrame) -> dict[str, Any]:
    row = _newest(frame, lambda r: r["approach"] == "tfidf:chapter-01", "01", "section 9, where it records its router")
    return _share_left(row)


def _chapter_05_retrieval(frame: pd.DataFrame) -> dict[str, Any]:
    row = _newest(frame, lambda r: r["approach"] == "rag-retrieval:hybrid-by-heading", "05",
                  "section 11, where it records its retriever")
    return _share_left(row)


def _chapter_02_routers(frame: pd.DataFrame) -> dict[str, Any]:
    where = "section 14, where it records its routers"
    prompted = _newest(frame, lambda r: r["family"] == "prompted" and r["chapter"] == "02", "02", where)
    shipped = _newest(frame, lambda r: r["family"] == "embedding" and r["chapter"] == "02"
                      and bool((r["extra"] or {}).get("shipped")), "02", where)
    (p_low, p_high), (s_low, s_high) = prompted["interval"], shipped["interval"]
    answer = "A" if s_low > p_high else "B" if p_low > s_high else "C"
    fields = {"prompted": prompted["value"], "prompted_low": p_low, "prompted_high": p_high,
              "shipped": shipped["value"], "shipped_low": s_low, "shipped_high": s_high}
    return {"fields": fields, "answer": answer}


_FACTS: dict[str, Callable[[pd.DataFrame], dict[str, Any]]] = {
    "chapter-01-router": _chapter_01_router,
    "chapter-02-routers": _chapter_02_routers,
    "chapter-05-retrieval": _chapter_05_retrieval,
}


def _facts(question: Question, store: pd.DataFrame | None) -> dict[str, Any]:
    if not question.facts:
        return {"fields": {}, "answer": question.answer}
    try:
        frame = results.load() if store is None else store
    except ValueError as err:  # an unreadable result file: its message says which file and what to do
        raise _MissingResult(str(err)) from err
    return _FACTS[question.facts](frame)


def right_answer(question: Question, store: pd.DataFrame | None = None) -> str | int:
    """The right answer to `question`: its letter, or for a question about the learner's run, from the store.

    `store` is a frame like `results.load()` (default: the learner's store). Raises LookupError, saying which
    chapter to run, when the store lacks what the question reads."""
    try:
        return _facts(question, store)["answer"]
    except _MissingResult as err:
        raise LookupError(str(err)) from err


# --- showing and grading ------------------------------------------------------------------------------


def _wrap(text: str, indent: str, hang: str) -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=hang)


def show(chapter: str, store: pd.DataFrame | None = None) -> None:
    """Print the questions of `chapter`, with the numbers of the learner's own run filled in from the store."""
    current = quiz(chapter)
    lines = [f"Exercise {current.exercise} · check your understanding of chapter {current.chapter}", ""]
    for question in current.questions:
        try:
            text = question.text.format(**_facts(question, store)["fields"])
        except _MissingResult as err:
            text = f"This question is about your own run, and {err}."
        lines.append(_wrap(f"{question.key}. {text}", "", "    "))
        for letter, choice in zip(_LETTERS, question.choices):
            lines.append(_wrap(f"{letter}) {choice}", "    ", "       "))
        if not question.choices:
            lines.append("    Answer with a number.")
        lines.append("")
    template = ", ".join(f'"{q.key}": "?"' for q in current.questions)
    lines.append(f"Answer in the next cell, replacing each ?: answers = {{{template}}}")
    print("\n".join(lines))


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _grade_one(question: Question, given: object, store: pd.DataFrame | None) -> Grade:
    key = question.key
    if given is None or given is Ellipsis or (isinstance(given, str) and given.strip() in _BLANK):
        return Grade(key, UNANSWERED, f"{key} … not answered yet.")
    try:
        right = _facts(question, store)["answer"]
    except _MissingResult as err:
        return Grade(key, NEEDS_RUN, f"{key} … cannot be checked: {err}.")
    if question.choices:
        letters = _LETTERS[: len(question.choices)]
        letter = str(given).strip().rstrip(").").upper()
        if letter not in letters:
            return Grade(key, WRONG, f"{key} ✗ {given!r} is not one of the letters {', '.join(letters)}. "
                                     "Answer with the letter of one choice.")
        is_right = letter == right
    else:
        number = _as_number(given)
        if number is None:
            return Grade(key, WRONG, f"{key} ✗ {given!r} is not a number. This question asks for a number.")
        is_right = math.isfinite(number) and abs(number - float(right)) < 1
    if is_right:
        return Grade(key, RIGHT, f"{key} ✓ {question.why}")
    return Grade(key, WRONG, f"{key} ✗ {given!r} is not it. Hint: {question.hint}")


def grade(chapter: str, answers: dict[str, object], store: pd.DataFrame | None = None) -> list[Grade]:
    """One `Grade` per question of `chapter`, in order, then one per key of `answers` that is no question."""
    current = quiz(chapter)
    grades = [_grade_one(q, answers.get(q.key), store) for q in current.questions]
    known = {q.key for q in current.questions}
    for key in answers:
        if key not in known:
            grades.append(Grade(str(key), WRONG, f"{key} ✗ is not a question of chapter {current.chapter}; its "
                                                 f"questions are {', '.join(sorted(known))}."))
    return grades
