"""The feedback file: what support agents said about the prototype's proposals, one JSON line each.

The chapter 03 app (`apps/support_triage.py`) appends one `FeedbackEntry` per thumbs up/down;
chapter 04 turns the file into an eval set. The format is that of `data/seed_feedback.jsonl`, plus
the pipeline that made the proposal (`router_id`, `pipeline_id`), so votes can be counted by pipeline.
A line without them (the seed file, or a vote from before the app had a router) was made by the
chat model alone: it is read as the prompted pipeline of its prompt version, `prompted:triage-v1`.

Appending is safe with several writers at once (two browser tabs, two app processes): each
entry is one `write` to a file opened with O_APPEND, under an exclusive file lock where the
system has one, so lines never interleave, nothing is lost and nothing is overwritten.
Reading never drops a line quietly: a malformed line is reported with its line number.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from aieng.data import INTENTS
from aieng.errors import AiengError
from aieng.files import BadJsonLine, numbered_jsonl
from aieng.triage import pipeline_id as _pipeline_id
from aieng.workspace import workspace_dir

try:  # POSIX file locks; on Windows the O_APPEND single write alone keeps lines whole
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FEEDBACK_PATH", "FEEDBACK_PATH_ENV", "FIELDS", "REQUIRED_FIELDS", "RATINGS",
    "FeedbackEntry", "MalformedFeedback", "feedback_path", "utc_timestamp", "entry_from_triage",
    "append_feedback", "load_feedback",
]

FEEDBACK_PATH_ENV = "AIENG_FEEDBACK_PATH"  # set it to send the app's feedback elsewhere (tests, a shared drive)
RATINGS = ("up", "down")


def __getattr__(name: str) -> Path:
    if name == "FEEDBACK_PATH":  # the default file in the workspace, computed at each use ($AIENG_WORKSPACE)
        return workspace_dir() / "feedback" / "triage_feedback.jsonl"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MalformedFeedback(AiengError, ValueError):
    """A feedback entry or a line of the feedback file breaks the format (the message says where and how)."""


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _check_timestamp(value: object) -> str | None:
    if not isinstance(value, str):
        return f"created_at must be an ISO 8601 timestamp string, not {type(value).__name__}"
    try:  # Python 3.10's fromisoformat does not read a trailing "Z"
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return f"created_at {value!r} is not an ISO 8601 timestamp such as '2026-10-05T08:12:41Z'"
    if moment.tzinfo is None:
        return f"created_at {value!r} has no time zone; end it with 'Z' for UTC"
    return None


@dataclass(frozen=True)
class FeedbackEntry:
    """One agent's verdict on one proposal: the ticket, what the app proposed, thumbs up or down.

    `rating` is "up" or "down"; `corrected_intent` is the queue the agent says is right (or None);
    `created_at` is an ISO 8601 UTC timestamp (`utc_timestamp()` makes one). `router_id` is the router
    that proposed the queue and `pipeline_id` the router plus the drafting prompt
    (`embedding-zero:queues-v2 + triage-v3`); left empty, they are those of the chat model routing with
    `prompt_version` (`prompted:triage-v2`). Invalid values raise `MalformedFeedback` when the entry
    is made, so a bad entry never reaches the file."""

    created_at: str
    ticket: str
    proposed_intent: str
    draft_reply: str
    rating: str
    comment: str
    corrected_intent: str | None
    prompt_version: str
    model: str
    router_id: str = ""
    pipeline_id: str = ""

    def __post_init__(self) -> None:
        problems = _problems(asdict(self))
        if not problems:
            _fill_pipeline(self)
            problems = _pipeline_problems(self)
        if problems:
            raise MalformedFeedback("Invalid feedback entry: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        """The entry as a dict with the file's keys, in the file's order."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> FeedbackEntry:
        """An entry from a dict with the file's keys (missing or unknown keys raise; router_id and
        pipeline_id may be missing, as in the seed file).

        A NaN corrected_intent (a DataFrame row's missing value) counts as None."""
        if not isinstance(record, dict):
            raise MalformedFeedback(f"A feedback entry is a JSON object, not {type(record).__name__}.")
        missing = [name for name in REQUIRED_FIELDS if name not in record]
        unknown = sorted(set(record) - set(FIELDS))
        problems = []
        if missing:
            problems.append(f"missing field(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)}")
        if problems:
            raise MalformedFeedback("Invalid feedback entry: " + "; ".join(problems)
                                    + f". A feedback entry has exactly: {', '.join(FIELDS)}.")
        corrected = record["corrected_intent"]
        if isinstance(corrected, float) and corrected != corrected:  # NaN: a DataFrame's missing value
            record = {**record, "corrected_intent": None}
        return cls(**record)


FIELDS = tuple(f.name for f in fields(FeedbackEntry))
REQUIRED_FIELDS = FIELDS[:-2]  # the seed file's keys; router_id and pipeline_id are derived when a line lacks them


def _fill_pipeline(entry: FeedbackEntry) -> None:
    """Fill an empty router_id / pipeline_id: no router recorded means the chat model routed."""
    version = entry.prompt_version.removeprefix("triage-")
    router_id = entry.router_id.strip() or f"prompted:triage-{version}"
    object.__setattr__(entry, "router_id", router_id)  # frozen: set once, while the entry is made
    if not entry.pipeline_id.strip():
        object.__setattr__(entry, "pipeline_id", _pipeline_id(router_id, version))


def _pipeline_problems(entry: FeedbackEntry) -> list[str]:
    want = _pipeline_id(entry.router_id, entry.prompt_version.removeprefix("triage-"))
    if entry.pipeline_id != want:
        return [f"pipeline_id {entry.pipeline_id!r} does not match router {entry.router_id!r} and prompt "
                f"{entry.prompt_version!r}, which make {want!r}; leave pipeline_id empty to have it filled in"]
    return []


def _problems(record: dict[str, Any]) -> list[str]:
    """Everything wrong with the values of a complete record, in words a person can act on."""
    problems = []
    stamp = _check_timestamp(record["created_at"])
    if stamp:
        problems.append(stamp)
    for name in ("ticket", "prompt_version", "model"):
        value = record[name]
        if not _is_text(value) or not value.strip():
            problems.append(f"{name} must be a non-empty string, got {value!r}")
    for name in ("draft_reply", "comment", "router_id", "pipeline_id"):
        if not _is_text(record[name]):
            problems.append(f"{name} must be a string (may be empty), got {type(record[name]).__name__}")
    if record["proposed_intent"] not in INTENTS:
        problems.append(f"unknown proposed_intent {record['proposed_intent']!r}; choose one of: {', '.join(INTENTS)}")
    corrected = record["corrected_intent"]
    if corrected is not None and corrected not in INTENTS:
        problems.append(f"unknown corrected_intent {corrected!r}; use None or one of: {', '.join(INTENTS)}")
    if record["rating"] not in RATINGS:
        problems.append(f"rating must be 'up' or 'down', got {record['rating']!r}")
    return problems


def utc_timestamp() -> str:
    """The current time as the feedback file writes it: '2026-10-05T08:12:41Z' (UTC, whole seconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def feedback_path() -> Path:
    """Where the app writes feedback: $AIENG_FEEDBACK_PATH when set, else feedback/triage_feedback.jsonl
    in the workspace (`workspace.workspace_dir()`). Read at each call."""
    override = os.environ.get(FEEDBACK_PATH_ENV, "").strip()
    return Path(override).expanduser() if override else workspace_dir() / "feedback" / "triage_feedback.jsonl"


def entry_from_triage(proposal: Any, *, ticket: str, rating: str, comment: str = "",
                      corrected_intent: str | None = None) -> FeedbackEntry:
    """The feedback entry for an agent's verdict on `proposal` (a `triage.Triage`), stamped now.

    The prompt version is stored as the prompt's id ('triage-v2'), as in the seed file, beside the
    router and pipeline that made the proposal. A corrected queue equal to the proposed one is no
    correction and is stored as None."""
    version = str(proposal.prompt_version)
    if corrected_intent == proposal.intent or corrected_intent == "":
        corrected_intent = None
    return FeedbackEntry(
        created_at=utc_timestamp(), ticket=ticket, proposed_intent=proposal.intent,
        draft_reply=proposal.draft_reply, rating=rating, comment=(comment or "").strip(),
        corrected_intent=corrected_intent,
        prompt_version=version if version.startswith("triage-") else f"triage-{version}", model=proposal.model,
        router_id=str(getattr(proposal, "router_id", "") or ""))


def append_feedback(entry: FeedbackEntry, path: Path | None = None) -> None:
    """Append `entry` as one JSON line to `path` (default `feedback_path()`; created with its folder if missing).

    Safe with several processes appending at once: one write of the whole line to a file opened
    in append mode, under an exclusive lock. Existing lines are never rewritten; if the file's
    last line lacks its newline (a hand edit), a newline is added first so lines never merge."""
    if not isinstance(entry, FeedbackEntry):
        raise TypeError(f"append_feedback takes a FeedbackEntry, not {type(entry).__name__}: "
                        "build one with feedback.FeedbackEntry(...) or FeedbackEntry.from_dict(record).")
    line = (json.dumps(entry.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
    path = feedback_path() if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)  # only reads move; O_APPEND still writes at the end
            if os.read(fd, 1) != b"\n":
                line = b"\n" + line
        written = 0
        while written < len(line):  # a short write only happens when the disk is full; finish the line
            written += os.write(fd, line[written:])
    finally:
        os.close(fd)


def load_feedback(path: Path | None = None, *, on_error: str = "raise") -> pd.DataFrame:
    """Every entry of the feedback file (default `feedback_path()`), one row each, in file order (columns: FIELDS).

    No file yet gives an empty frame with the columns. Blank lines are skipped. Malformed lines
    are reported with their line numbers: `on_error="raise"` (default) raises MalformedFeedback
    listing all of them; `on_error="warn"` warns with the same list and returns the valid rows."""
    if on_error not in ("raise", "warn"):
        raise ValueError(f"on_error must be 'raise' or 'warn', not {on_error!r}.")
    path = feedback_path() if path is None else Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(FIELDS))
    bad_json: list[BadJsonLine] = []
    rows, problems = [], []
    for number, record in numbered_jsonl(path, problems=bad_json):
        try:
            rows.append(FeedbackEntry.from_dict(record).to_dict())
        except (MalformedFeedback, TypeError) as err:
            problems.append((number, str(err).removeprefix('Invalid feedback entry: ')))
    problems = [f"line {n}: {why}" for n, why in sorted(problems + [(b.line, b.reason) for b in bad_json])]
    if problems:
        message = (f"{len(problems)} malformed line(s) in {path}:\n  " + "\n  ".join(problems)
                   + "\nFix or delete those lines, or load the valid ones with load_feedback(path, on_error='warn').")
        if on_error == "raise":
            raise MalformedFeedback(message)
        warnings.warn(message, stacklevel=2)
    return pd.DataFrame(rows, columns=list(FIELDS))
