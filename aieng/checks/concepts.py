"""Check for the conceptual questions that end every chapter: `checks.understanding("05", answers)`."""

from __future__ import annotations

from aieng import concepts
from aieng.checks._result import Result, fail, is_stub, ok, todo

__all__ = ["understanding"]


def understanding(chapter: str, answers: object) -> Result:
    """Exercise N.M of each chapter: `answers` maps each question ("q1", ...) to a letter or a number.

    Right answers say why; wrong ones name the section to reread, never the answer. A question about the
    learner's own run is checked against the results store, and says which chapter to run when it is empty."""
    quiz = concepts.quiz(chapter)
    if is_stub(answers):
        return todo(quiz.exercise, "answers")
    if not isinstance(answers, dict):
        raise TypeError(f"answers must be a dict such as {{'q1': 'B', 'q2': 'A'}}, not a {type(answers).__name__}. "
                        f"Run the cell above it to see the questions of chapter {quiz.chapter}.")
    grades = concepts.grade(quiz.chapter, answers)
    if all(g.status == concepts.UNANSWERED for g in grades):
        return todo(quiz.exercise, "answers")
    n_right = sum(g.status == concepts.RIGHT for g in grades)
    lines = "\n".join("  " + g.line for g in grades)
    if n_right == len(quiz.questions) and len(grades) == n_right:
        return ok(quiz.exercise, f"all {n_right} answers are right.\n{lines}")
    return fail(quiz.exercise, f"right answers: {n_right} of {len(quiz.questions)}.\n{lines}",
                hint="Reread the section each wrong answer names, change that answer and run the check again.")
