"""Files the course reads and writes: the course folder, JSON lines, front matter, atomic writes.

    ROOT                          the course folder (data/, prompts/, notebooks/, workspace/ live here)
    read_jsonl(path)              the JSON objects of a .jsonl file; a bad line names the file and line
    numbered_jsonl(path)          (line number, value) pairs, for readers that check each line themselves
    parse_front_matter(raw, path) the `key: value` block between `---` lines, and the text after it
    write_atomic(path, content)   write a whole file so a crash leaves the old file or the new, never half
    atomic_file(path)             the same, for writers that want a file object (joblib, nbformat)

Every file a learner would lose is written atomically: into a temporary file in the same folder,
then renamed over the old one with `os.replace`, which is atomic on the same file system.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from aieng.errors import AiengError

__all__ = ["ROOT", "BadJsonLine", "read_jsonl", "numbered_jsonl", "parse_front_matter", "write_atomic",
           "atomic_file", "shown"]

ROOT = Path(__file__).resolve().parents[1]


class BadJsonLine(AiengError, ValueError):
    """A line of a JSON-lines file is not what the reader needs; `path`, `line` and `reason` say which and why."""

    def __init__(self, path: Path, line: int, reason: str, hint: str = "") -> None:
        self.path, self.line, self.reason = Path(path), line, reason
        super().__init__(f"{shown(path)}, line {line}: {reason}. "
                         + (hint or "Fix or delete that line, then run the cell again."))


def shown(path: str | Path) -> str:
    """`path` as a person finds it: relative to the course folder when it lies inside, else in full."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def numbered_jsonl(path: str | Path, *, problems: list[BadJsonLine] | None = None,
                   hint: str = "") -> list[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line of the JSON-lines file `path`, in order.

    A line that is not valid JSON raises `BadJsonLine` naming the file and line (`hint` replaces
    the default advice on what to do); when a `problems` list is passed, each bad line is appended
    to it and skipped instead, so a reader can report them all at once."""
    path = Path(path)
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                bad = BadJsonLine(path, number, f"not valid JSON ({err.msg} at column {err.colno})", hint)
                if problems is None:
                    raise bad from err
                problems.append(bad)
    return records


def read_jsonl(path: str | Path, *, hint: str = "") -> list[dict[str, Any]]:
    """The JSON objects in the JSON-lines file `path`, one per non-blank line, in order.

    A line that is not a JSON object raises `BadJsonLine` with the file and line number; `hint`
    replaces the default advice ("Fix or delete that line")."""
    rows = []
    for number, value in numbered_jsonl(path, hint=hint):
        if not isinstance(value, dict):
            raise BadJsonLine(path, number, f"a JSON {type(value).__name__}, not an object {{...}}", hint)
        rows.append(value)
    return rows


def parse_front_matter(raw: str, path: str | Path) -> tuple[dict[str, str], str]:
    """The front matter of `raw` as {key: value} (keys and values stripped of spaces) and the text after it.

    Front matter is a block of `key: value` lines between a first line `---` and the next `---`
    line; lines without a colon are ignored. `path` is only quoted in the error raised (ValueError)
    when there is no such block."""
    raw = raw.replace("\r\n", "\n")
    if not raw.startswith("---\n") or "\n---\n" not in raw[4:]:
        raise ValueError(f"{Path(path).name} has no front matter: start it with a '---' line, then "
                         "key: value lines, then another '---' line.")
    header, body = raw[4:].split("\n---\n", 1)
    fields: dict[str, str] = {}
    for line in header.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields, body


@contextmanager
def atomic_file(path: str | Path, *, binary: bool = False, encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """A file object to write the whole of `path`; the file appears only when the block ends without error.

    Writes to a temporary file in the same folder (created if missing), flushes it to disk, then
    renames it over `path` (`os.replace`). On an error the temporary file is removed and `path` keeps
    its old content. A file that existed keeps its permissions; a new one gets rw-r--r--."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": encoding})) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, content: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write `content` (text or bytes) as the whole of `path`, atomically (see `atomic_file`); returns the path."""
    with atomic_file(path, binary=isinstance(content, bytes), encoding=encoding) as out:
        out.write(content)
    return Path(path)

