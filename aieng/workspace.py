"""Copy exercise notebooks into the learner's `workspace/`, never over the learner's files.

A chapter the learner lacks is copied. A chapter they have is left alone; when the course's
version changed since it was copied, the new version lands beside it as `NAME.new-<version>.ipynb`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from aieng.exercises import ROOT

__all__ = ["WORKSPACE", "WORKSPACE_ENV", "workspace_dir", "learner_copy", "sync"]

WORKSPACE = ROOT / "workspace"
WORKSPACE_ENV = "AIENG_WORKSPACE"  # the test run points this at a temporary folder: tests never write into yours
_RECORD = ".copied.json"  # chapter name -> version hash of the copy we made


def _version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def sync(source: Path = ROOT / "notebooks", workspace: Path = WORKSPACE) -> tuple[list[Path], list[Path]]:
    """Copy what is missing; returns (files copied, learner files kept while a newer version exists)."""
    workspace.mkdir(exist_ok=True)
    record_path = workspace / _RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    copied, kept = [], []
    for chapter in sorted(source.glob("*.ipynb")):
        target = workspace / chapter.name
        version = _version(chapter)
        if not target.exists():
            shutil.copyfile(chapter, target)
            record[chapter.name] = version
            copied.append(target)
        elif record.get(chapter.name) != version:
            beside = workspace / f"{chapter.stem}.new-{version}.ipynb"
            if not beside.exists():
                shutil.copyfile(chapter, beside)
                copied.append(beside)
            kept.append(target)
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return copied, kept


def workspace_dir() -> Path:
    """Where the learner's files live: $AIENG_WORKSPACE when set (the tests set it), else `workspace/`."""
    chosen = os.environ.get(WORKSPACE_ENV, "").strip()
    return Path(chosen) if chosen else WORKSPACE


def learner_copy(name: str, template: Path) -> Path:
    """The learner's own copy of `template` in the workspace, made from it the first time and never overwritten.

    Returns the path (`workspace/<name>`): edit that file; rerunning the cell keeps your edits."""
    target = workspace_dir() / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(template, temporary)
        os.replace(temporary, target)
    return target
