"""Take code out of the chapter notebooks, so tests exercise exactly what learners see."""

from __future__ import annotations

from pathlib import Path

import nbformat

from aieng.exercises import BEGIN, ROOT

__all__ = ["exercise_cell", "load_function"]


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
