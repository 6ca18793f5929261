"""Prompts as versioned files: `prompts/<name>-<version>.md`, loaded by name and version.

    from aieng import prompts
    prompts.versions("triage")          # ['v0-bad', 'v1', 'v2']
    prompt = prompts.load("triage", "v2")
    prompt.text                         # the body, ready to be the system message

Each file starts with a small front matter between `---` lines (name, version, description),
then the prompt itself. A prompt in a file has a history (git), a name you can log beside every
result, and a review like any other change; a string edited in a notebook cell has none of these.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from aieng.files import ROOT, parse_front_matter

__all__ = ["PROMPTS_DIR", "Prompt", "load", "versions", "parse"]

PROMPTS_DIR = ROOT / "prompts"
_REQUIRED = ("name", "version", "description")


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt: its name, version, the text the model sees, and the file it came from."""

    name: str
    version: str
    text: str
    path: Path
    description: str = ""

    @property
    def id(self) -> str:
        """`name-version`, the label to store beside every result this prompt produced."""
        return f"{self.name}-{self.version}"


def parse(raw: str, path: Path) -> Prompt:
    """The `Prompt` in `raw`, the text of a prompt file; `path` is only recorded and quoted in errors."""
    try:
        fields, body = parse_front_matter(raw, path)
    except ValueError:
        raise ValueError(f"{path.name} has no front matter: start it with a '---' line, then "
                         "name:, version:, description:, then another '---' line.") from None
    missing = [key for key in _REQUIRED if not fields.get(key)]
    if missing:
        raise ValueError(f"{path.name}: the front matter lacks {', '.join(missing)}.")
    if not body.strip():
        raise ValueError(f"{path.name}: the prompt body after the front matter is empty.")
    return Prompt(name=fields["name"], version=fields["version"], text=body.strip(), path=path,
                  description=fields["description"])


def _version_key(version: str) -> tuple:
    """Natural order: v2 before v10, v0-bad before v1."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version))


def _files(name: str, folder: Path) -> dict[str, Path]:
    found = {}
    for path in folder.glob(f"{name}-*.md"):
        prompt = parse(path.read_text(encoding="utf-8"), path)
        if prompt.name == name:
            found[prompt.version] = path
    return found


def versions(name: str, *, folder: Path = PROMPTS_DIR) -> list[str]:
    """The versions of prompt `name` in `folder`, oldest first (natural order: v2 before v10)."""
    return sorted(_files(name, folder), key=_version_key)


def load(name: str, version: str, *, folder: Path = PROMPTS_DIR) -> Prompt:
    """Prompt `name` at `version`, read from `folder/<name>-<version>.md`.

    An unknown name or version raises ValueError listing what exists."""
    files = _files(name, folder)
    if not files:
        names = sorted({p.stem.split("-", 1)[0] for p in folder.glob("*.md")})
        raise ValueError(f"No prompt named {name!r} in {folder}. Prompts there: {', '.join(names) or '(none)'}.")
    if version not in files:
        known = sorted(files, key=_version_key)
        close = difflib.get_close_matches(version, known, n=1, cutoff=0.4)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Prompt {name!r} has no version {version!r}.{guess} Versions: {', '.join(known)}.")
    prompt = parse(files[version].read_text(encoding="utf-8"), files[version])
    expected = folder / f"{name}-{version}.md"
    if files[version] != expected:
        raise ValueError(f"{files[version].name} says version {version!r}; rename it {expected.name}.")
    return prompt
