"""The verdict of an exercise check, shown to the learner as a short block of text.

Three outcomes: not attempted (the stub is still there), wrong (what broke and a hint), right.
Under the test run (`AIENG_CHECKS_STRICT=1`, which the kernel inherits) anything but a pass
raises `ExerciseCheckFailed`, so a broken solution fails nbval; a learner just sees feedback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aieng.errors import ExerciseCheckFailed

__all__ = ["STRICT_ENV", "Result", "ok", "fail", "todo", "is_stub", "require_callable"]

STRICT_ENV = "AIENG_CHECKS_STRICT"


@dataclass(frozen=True)
class Result:
    """One check's verdict: status is "ok", "fail" or "todo"."""

    status: str
    exercise: str
    message: str
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        if self.status == "ok":
            return f"✓ Exercise {self.exercise}: {self.message}"
        if self.status == "todo":
            return f"… Exercise {self.exercise} not attempted yet: {self.message}"
        text = f"✗ Exercise {self.exercise}: {self.message}"
        return text + (f"\n  Hint: {self.hint}" if self.hint else "")

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display
        printer.text(str(self))


def _finish(result: Result) -> Result:
    if not result.passed and os.environ.get(STRICT_ENV) == "1":
        raise ExerciseCheckFailed(str(result))
    return result


def ok(exercise: str, message: str) -> Result:
    """A pass."""
    return _finish(Result("ok", exercise, message))


def fail(exercise: str, message: str, *, hint: str = "") -> Result:
    """A wrong answer: `message` names the input, what came back and the rule it breaks."""
    return _finish(Result("fail", exercise, message, hint))


def todo(exercise: str, name: str) -> Result:
    """The stub is untouched: `name` returned None or still holds `...`."""
    return _finish(Result("todo", exercise, f"{name} is still the stub. Replace the `...` and rerun the cell."))


def is_stub(value: object) -> bool:
    """True for what an untouched exercise stub returns (None, or `...`): the check says "not attempted"."""
    return value is None or value is Ellipsis


def require_callable(value: object, check_name: str, arg_name: str) -> None:
    """Misuse (a call result instead of the function) raises, saying what to type."""
    if not callable(value):
        raise TypeError(f"Pass the function itself: checks.{check_name}({arg_name}), without parentheses after {arg_name}.")
