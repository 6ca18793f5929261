"""Write the learner copies in `notebooks/` from the complete chapters in `solutions/`.

In a solution notebook, the answer sits between `# BEGIN SOLUTION` and `# END SOLUTION`.
The learner copy keeps every other line, all prose and every check cell, and replaces the
block with a stub that still runs, so "Run all" reaches every check:
- inside a function: `...  # Exercise 0.1: your code here` (the function returns None);
- at top level: `name = ...  # Exercise 0.1: your code here` for each name the block assigns,
  except names the cell already assigned above the block, which keep that value (for example
  the path of a file the learner edits): then the stub is the comment alone.
The exercise number is the last "Exercise N.M" named in a Markdown cell above the code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from aieng.files import ROOT, write_atomic

__all__ = ["BEGIN", "END", "ROOT", "strip_solutions", "exercise_notebook", "write_all", "stale_notebooks"]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
_EXERCISE = re.compile(r"Exercise (\d+\.\d+)")


def _assigned_names(block: str) -> list[str]:
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id not in names:
                    names.append(name.id)
    return names


def strip_solutions(source: str, exercise: str | None = None) -> str:
    """`source` with every solution block replaced by a stub (see the module docstring)."""
    label = f"Exercise {exercise}: your code here" if exercise else "your code here"
    out: list[str] = []
    block: list[str] | None = None
    indent = ""
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if block is not None:
                raise ValueError(f"Nested {BEGIN!r} in:\n{source}")
            block, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if block is None:
                raise ValueError(f"{END!r} without {BEGIN!r} in:\n{source}")
            names = _assigned_names("\n".join(b[len(indent):] for b in block)) if not indent else []
            earlier = _assigned_names("\n".join(out)) if names else []
            if names and all(name in earlier for name in names):
                out.append(f"# {label}")
            elif names:
                out.extend(f"{indent}{name} = ...  # {label}" for name in names if name not in earlier)
            else:
                out.append(f"{indent}...  # {label}")
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise ValueError(f"{BEGIN!r} without {END!r} in:\n{source}")
    return "\n".join(out)


def exercise_notebook(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner copy of a solution notebook: stubs in place of answers, no outputs."""
    notebook = nbformat.from_dict(solution)
    exercise = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found = _EXERCISE.findall(cell.source)
            exercise = found[-1] if found else exercise
        elif cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, exercise)
            cell.outputs = []
            cell.execution_count = None
    return notebook


def _pairs(root: Path = ROOT) -> list[tuple[Path, Path]]:
    return [(path, root / "notebooks" / path.name) for path in sorted((root / "solutions").glob("*.ipynb"))]


def _render(solution_path: Path) -> str:
    solution = nbformat.read(solution_path, as_version=4)
    return nbformat.writes(exercise_notebook(solution)) + "\n"


def write_all(root: Path = ROOT) -> list[Path]:
    """Write notebooks/X.ipynb for every solutions/X.ipynb (each atomically); returns the files written."""
    (root / "notebooks").mkdir(exist_ok=True)
    written = []
    for solution_path, exercise_path in _pairs(root):
        write_atomic(exercise_path, _render(solution_path))  # a crash mid-write never leaves half a notebook
        written.append(exercise_path)
    return written


def stale_notebooks(root: Path = ROOT) -> list[str]:
    """Names of learner copies that differ from what `write_all` would write now (or are missing/extra)."""
    stale = [ex.name for sol, ex in _pairs(root)
             if not ex.exists() or ex.read_text(encoding="utf-8") != _render(sol)]
    solution_names = {sol.name for sol, _ in _pairs(root)}
    stale += [p.name for p in sorted((root / "notebooks").glob("*.ipynb")) if p.name not in solution_names]
    return stale
