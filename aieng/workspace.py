"""Copy exercise notebooks into the learner's `workspace/`, never over the learner's files.

A chapter the learner lacks is copied. A chapter they have is left alone; when the course's
version changed since it was copied, the new version lands beside it as `NAME.new-<version>.ipynb`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from aieng.exercises import ROOT

__all__ = ["WORKSPACE", "sync"]

WORKSPACE = ROOT / "workspace"
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
