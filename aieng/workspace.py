"""Copy exercise notebooks into the learner's `workspace/`, never over the learner's files.

A chapter the learner lacks is copied. A chapter they have is left alone; when the course's
version changed since it was copied, the new version lands beside it as `NAME.new-<version>.ipynb`.
Every file the course writes for the learner (ledger, saved model, eval results, feedback) goes
under `workspace_dir()`, which the test run points at a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from aieng.files import ROOT, shown, write_atomic

__all__ = ["WORKSPACE", "WORKSPACE_ENV", "workspace_dir", "artifact_path", "learner_copy", "sync"]

WORKSPACE = ROOT / "workspace"
WORKSPACE_ENV = "AIENG_WORKSPACE"  # the test run points this at a temporary folder: tests never write into yours
_RECORD = ".copied.json"  # chapter name -> version hash of the copy we made


def _version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def _read_record(record_path: Path) -> dict[str, str]:
    """The record of copies made; an unreadable one is replaced by an empty record, said in one line."""
    if not record_path.exists():
        return {}
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not all(isinstance(v, str) for v in record.values()):
            raise ValueError("not a JSON object of chapter: version")
    except (ValueError, UnicodeDecodeError) as err:
        print(f"{shown(record_path)} is unreadable ({err}); starting a new record: your notebooks are kept, "
              "and a chapter that differs from the course's arrives beside yours as NAME.new-<version>.ipynb.",
              file=sys.stderr)
        return {}
    return record


def sync(source: Path = ROOT / "notebooks", workspace: Path | None = None) -> tuple[list[Path], list[Path]]:
    """Copy what is missing; returns (files copied, learner files kept while a newer version exists).

    `workspace` defaults to `workspace_dir()`. Writes the record of copies (`.copied.json`) atomically."""
    workspace = workspace_dir() if workspace is None else Path(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    record_path = workspace / _RECORD
    record = _read_record(record_path)
    copied, kept = [], []
    for chapter in sorted(source.glob("*.ipynb")):
        target = workspace / chapter.name
        version = _version(chapter)
        if not target.exists():
            temporary = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(chapter, temporary)
            os.replace(temporary, target)
            record[chapter.name] = version
            copied.append(target)
        elif record.get(chapter.name) != version:
            if _version(target) == version:  # the learner's file is this very version (e.g. the record was lost)
                record[chapter.name] = version
                continue
            beside = workspace / f"{chapter.stem}.new-{version}.ipynb"
            if not beside.exists():
                shutil.copyfile(chapter, beside)
                copied.append(beside)
            kept.append(target)
    write_atomic(record_path, json.dumps(record, indent=1, sort_keys=True))
    return copied, kept


def workspace_dir() -> Path:
    """Where the learner's files live: $AIENG_WORKSPACE when set (the tests set it), else `workspace/`.

    Read at each call, so a kernel or process started with the variable set writes there."""
    chosen = os.environ.get(WORKSPACE_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else WORKSPACE


def artifact_path(name: str) -> Path:
    """`artifacts/<name>` in the workspace of the moment: where runs save models, ledgers and the like."""
    return workspace_dir() / "artifacts" / name


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
