"""The course's results store: one JSON file per approach, written by the chapter that measured it.

Chapter 09 compares every approach the course built from what this store holds, never from typed
numbers: a chapter that has not run shows as missing. A chapter records what its cells measured:

    results.record(
        approach="tfidf-lr:train-542", family="classic", workflow="ml", chapter="01",
        task="routing", metric="accuracy", value=0.695, interval=(0.63, 0.75), n=226,
        labels_used=542, ms_per_request=0.4, model="scikit-learn",
    )
    results.load()           # a DataFrame, one row per approach, newest record of each

Files live in `workspace/artifacts/results/` (under $AIENG_WORKSPACE when set), so the test run
never writes into a learner's folder and a learner's rerun replaces only its own chapter's rows.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from aieng.files import shown, write_atomic
from aieng.workspace import artifact_path

__all__ = ["FAMILIES", "WORKFLOWS", "TASKS", "Result", "record", "load", "results_dir", "missing"]

# What chapter 09 expects to find, and the chapter that produces each family.
FAMILIES = {
    "classic": "01",        # TF-IDF + logistic regression on labeled tickets
    "prompted": "02",       # the chat model asked to route
    "embedding": "02",      # zero-label and few-label embedding routers
    "rag": "05",            # retrieval-augmented answers
    "agent": "06",          # the support agent on its task set
    "fine-tuned": "08",     # the LoRA-tuned small model
}
WORKFLOWS = ("ml", "ai")
TASKS = ("routing", "answering", "agent-tasks", "drafting")


@dataclass(frozen=True)
class Result:
    """One approach's measured result on one task. Optional fields are None when not measured."""

    approach: str                  # a stable id, e.g. "embedding-zero:queues-v2"
    family: str                    # one of FAMILIES
    workflow: str                  # "ml" or "ai"
    chapter: str                   # "01".."09": where the learner measured it
    task: str                      # one of TASKS
    metric: str                    # e.g. "accuracy", "task success", "answer pass rate"
    value: float
    n: int                         # items scored
    interval: tuple[float, float] | None = None   # 95% bootstrap interval of `value`
    split: str = "test"
    labels_used: int = 0           # labeled examples the approach needed to build (not to evaluate)
    ms_per_request: float | None = None
    tokens_per_request: float | None = None       # prompt + completion tokens, when a chat model is called
    model: str = ""                # the model or backend the numbers came from
    minutes_to_prototype: float | None = None     # from the ledger, when the chapter timed it
    extra: dict[str, Any] = field(default_factory=dict)
    recorded_at: float = 0.0


def results_dir() -> Path:
    """`artifacts/results/` in the workspace of the moment."""
    return artifact_path("results")


def _file_for(approach: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", approach).strip("_")
    return results_dir() / f"{slug}.json"


def record(**fields: Any) -> Result:
    """Validate and save one result (replacing the earlier record of the same approach); returns it."""
    result = Result(**{**fields, "recorded_at": time.time()})
    problems = []
    if result.family not in FAMILIES:
        problems.append(f"family {result.family!r} is not one of {sorted(FAMILIES)}")
    if result.workflow not in WORKFLOWS:
        problems.append(f"workflow {result.workflow!r} is not one of {WORKFLOWS}")
    if result.task not in TASKS:
        problems.append(f"task {result.task!r} is not one of {TASKS}")
    if not isinstance(result.value, (int, float)) or result.value != result.value:
        problems.append(f"value {result.value!r} is not a number")
    if result.interval is not None:
        lo, hi = result.interval
        if not lo <= result.value <= hi:
            problems.append(f"interval {result.interval} does not contain the value {result.value}")
    if result.n <= 0:
        problems.append(f"n={result.n}: a result needs at least one scored item")
    if problems:
        raise ValueError(f"result for {result.approach!r} not recorded: " + "; ".join(problems))
    payload = asdict(result)
    payload["interval"] = list(result.interval) if result.interval is not None else None
    write_atomic(_file_for(result.approach), json.dumps(payload, indent=1, sort_keys=True))
    return result


def load(directory: str | Path | None = None) -> pd.DataFrame:
    """Every recorded result as a DataFrame (one row per approach), sorted by chapter then approach.

    An unreadable file is named in the error with what to do, rather than silently left out."""
    directory = results_dir() if directory is None else Path(directory)
    rows = []
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            rows.append(asdict(Result(**{**payload, "interval": tuple(payload["interval"]) if payload.get("interval") else None})))
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{shown(path)} is not a result the course wrote ({err}); delete it and rerun "
                             "the chapter that records it.") from err
    columns = list(Result.__dataclass_fields__)
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["chapter", "approach"], ignore_index=True)


def missing(frame: pd.DataFrame | None = None) -> dict[str, str]:
    """Families with no recorded result: family -> the chapter to run."""
    frame = load() if frame is None else frame
    present = set(frame["family"]) if len(frame) else set()
    return {family: chapter for family, chapter in FAMILIES.items() if family not in present}
