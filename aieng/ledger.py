"""The workflow ledger: minutes spent in each stage of a workflow, measured or estimated.

Chapter 01 records the ML-engineering path (collect, label, train, evaluate, ...) and saves the
ledger. `DEFAULT_COSTS` holds the estimated knobs both chapters charge with (collecting tickets,
minutes per label, review share, writing a prompt), so chapter 02 charges every path the same way. Every entry says
whether its minutes were timed in the notebook ("measured") or come from a cost model you can
change ("estimated"), so a comparison never passes an estimate off as a measurement.

    ledger = Ledger()
    ledger.add("ml", "label", 540 * 0.5, kind="estimated", note="540 tickets at 0.5 min each")
    ledger.add("ml", "train", 0.02, kind="measured")
    ledger.save()            # workspace/artifacts/ledger.json (under $AIENG_WORKSPACE when set)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from aieng.files import write_atomic
from aieng.workspace import artifact_path

__all__ = ["DEFAULT_PATH", "default_path", "WORKFLOWS", "KINDS", "COLUMNS", "Costs", "DEFAULT_COSTS", "Entry", "Ledger"]

WORKFLOWS = ("ml", "ai")
KINDS = ("measured", "estimated")
COLUMNS = ["workflow", "stage", "minutes", "kind", "note"]


@dataclass(frozen=True)
class Costs:
    """The estimated knobs of the cost model: change them to your company's figures (chapters 01, 02)."""

    collect_minutes: float = 240.0    # export tickets from the helpdesk, remove personal data, de-duplicate
    minutes_per_label: float = 0.75   # read a ticket, apply the routing rules, pick one queue
    review_share: float = 0.2         # share of labels a second person checks, at the same minutes per label
    prompt_minutes: float = 30.0      # read the routing rules, write and try a first prompt or set of descriptions


DEFAULT_COSTS = Costs()


def default_path() -> Path:
    """Where `save` and `load` go by default: artifacts/ledger.json in the workspace (`workspace.workspace_dir()`)."""
    return artifact_path("ledger.json")


def __getattr__(name: str) -> Path:
    if name == "DEFAULT_PATH":  # computed at each use, so $AIENG_WORKSPACE set later still counts
        return default_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Entry:
    """One line of the ledger: `minutes` spent in `stage` of `workflow`, `kind` measured or estimated."""

    workflow: str
    stage: str
    minutes: float
    kind: str
    note: str = ""


def _check_choice(value: str, options: tuple[str, ...], what: str) -> str:
    if value not in options:
        raise ValueError(f"Unknown {what} {value!r}; choose one of: {', '.join(options)}.")
    return value


class Ledger:
    """Minutes per workflow stage, in the order they were added; `add`, `to_frame`, `save`, `load`."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []

    def add(self, workflow: str, stage: str, minutes: float, *, kind: str, note: str = "") -> None:
        """Record `minutes` for `stage` of `workflow` ("ml" or "ai"); `kind` is "measured" or "estimated".

        A second entry for the same workflow and stage replaces the first (keeping its place), so
        re-running a notebook cell does not count the time twice."""
        _check_choice(workflow, WORKFLOWS, "workflow")
        _check_choice(kind, KINDS, "kind")
        if not isinstance(stage, str) or not stage.strip():
            raise ValueError(f"stage must be a non-empty name such as 'label' or 'train'; got {stage!r}.")
        try:
            minutes = float(minutes)
        except (TypeError, ValueError) as err:
            raise TypeError(f"minutes must be a number; got {minutes!r}.") from err
        if not math.isfinite(minutes) or minutes < 0:
            raise ValueError(f"minutes must be a finite number >= 0; got {minutes!r} for stage {stage!r}.")
        entry = Entry(workflow, stage, minutes, kind, str(note))
        for i, old in enumerate(self._entries):
            if (old.workflow, old.stage) == (workflow, stage):
                self._entries[i] = entry
                return
        self._entries.append(entry)

    @property
    def entries(self) -> list[Entry]:
        """The entries, in the order they were added (a copy)."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        totals = ", ".join(f"{w}: {self.total_minutes(w):.1f} min" for w in WORKFLOWS)
        return f"Ledger({len(self)} entries; {totals})"

    def to_frame(self) -> pd.DataFrame:
        """One row per entry. Columns: workflow, stage, minutes, kind, note."""
        return pd.DataFrame([asdict(e) for e in self._entries], columns=COLUMNS).astype({"minutes": float})

    def total_minutes(self, workflow: str) -> float:
        """Minutes over every stage of `workflow`, measured and estimated together."""
        _check_choice(workflow, WORKFLOWS, "workflow")
        return float(sum(e.minutes for e in self._entries if e.workflow == workflow))

    def save(self, path: str | Path | None = None) -> Path:
        """Write the ledger as JSON to `path` (default `default_path()`; folders created) and return the path.

        The write is atomic: an interrupted save leaves the previous ledger whole."""
        path = default_path() if path is None else Path(path)
        payload = {"entries": [asdict(e) for e in self._entries]}
        return write_atomic(path, json.dumps(payload, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path | None = None) -> Ledger:
        """The ledger saved at `path` (JSON written by `save`; default `default_path()`)."""
        path = default_path() if path is None else Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No ledger at {path}. Run chapter 01 to the end (it saves the ML "
                                    "workflow's ledger there), or start a new one with Ledger().")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            rows = payload["entries"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a ledger file (JSON with an 'entries' list): {err}. "
                             "Delete it and re-run chapter 01 to write it again.") from err
        ledger = cls()
        for row in rows:
            ledger.add(row["workflow"], row["stage"], row["minutes"], kind=row["kind"], note=row.get("note", ""))
        return ledger
