"""Take code out of the chapter notebooks, so tests exercise exactly what learners see."""

from __future__ import annotations

from pathlib import Path

import nbformat

from aieng.exercises import BEGIN, ROOT

__all__ = ["exercise_cell", "load_function", "verdicts", "assert_no_solution_leak"]

# Solution lines that give nothing away: comments, signatures, returns, closing brackets, try/except.
NOT_REVEALING = ("#", "def ", "return", ")", "]", "}", "try:", "except")


def exercise_cell(folder: str, notebook: str, name: str) -> str:
    """Source of the code cell in `folder/notebook` that defines `name` (a function or a value)."""
    cells = nbformat.read(ROOT / folder / notebook, as_version=4).cells
    for cell in cells:
        if cell.cell_type == "code" and (f"def {name}(" in cell.source or f"\n{name} = " in "\n" + cell.source):
            return cell.source
    raise LookupError(f"No cell defines {name} in {folder}/{notebook}")


def load_function(folder: str, notebook: str, name: str, namespace: dict | None = None):
    """The object `name` as the notebook cell defines it (imports supplied by `namespace`)."""
    scope = dict(namespace or {})
    exec(compile(exercise_cell(folder, notebook, name), f"{folder}/{notebook}", "exec"), scope)
    return scope[name]


def has_solution(folder: str, notebook: str, name: str) -> bool:
    """True when the cell still holds the solution markers (solutions/), False for stubs."""
    return BEGIN in exercise_cell(folder, notebook, name)


def verdicts(notebook: str, check, name: str, wrong, namespace: dict | None = None):
    """`check` applied to the notebook's stub, to its solution and to `wrong`, in that order."""
    stub = load_function("notebooks", notebook, name, namespace)
    solution = load_function("solutions", notebook, name, namespace)
    return check(stub), check(solution), check(wrong)


def revealing_lines(notebook: str, name: str) -> list[str]:
    """The stripped lines of the solution cell for `name` that would give the answer away."""
    lines = (line.strip() for line in exercise_cell("solutions", notebook, name).splitlines())
    return [line for line in lines if line and not line.startswith(NOT_REVEALING)]


def assert_no_solution_leak(result, notebook: str, name: str) -> None:
    """Fail if the feedback in `result` quotes a line of the solution for `name`."""
    feedback = str(result)
    for line in revealing_lines(notebook, name):
        assert line not in feedback, f"feedback reveals the solution line {line!r}"
