"""A regression gate for the triage prompt: score a version fresh on a fixed set, fail below a threshold.

Run it from the command line (it calls the model; the bundled local one unless OPENAI_BASE_URL is set):

    .venv/bin/python -m pytest tests/test_prompt_gate.py                                # the current version
    AIENG_PROMPT_VERSION=v1 .venv/bin/python -m pytest tests/test_prompt_gate.py -k current   # another one

The gate set is fixed (about GATE_SIZE labelled test tickets, stratified by intent, seed 0). A
ticket passes when the reply is valid, its queue is right and its draft follows the reply rules;
the score is the share that pass. THRESHOLD sits well above the best constant answer (the most
common queue with a perfect reply passes 3 of 21 tickets; a test keeps every constant answer
below) and far below what a model that triages well reaches (every ticket can pass). Chapter 04
measures the bundled 135M model: it fails the gate with every prompt version, the known-bad one
included, because it cannot choose a queue; the gate's tests say so rather than lower the bar.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from aieng import classic, data, evals, triage
from aieng.errors import ModelOutputError

__all__ = [
    "PROMPT_VERSION_ENV", "GATE_SIZE", "THRESHOLD", "REPLY_MIN_CHARS", "REPLY_MAX_CHARS",
    "GateResult", "prompt_version_under_test", "gate_set", "reply_follows_rules", "item_passes",
    "evaluate", "run_gate",
]

PROMPT_VERSION_ENV = "AIENG_PROMPT_VERSION"
GATE_SIZE = 20          # tickets asked of the stratified sample (it rounds per queue to 21): quick, every queue in
THRESHOLD = 0.5         # share of gate tickets that must pass (a constant answer gets at most 3 of 21)
REPLY_MIN_CHARS, REPLY_MAX_CHARS = 40, 400
_PLACEHOLDER = r"\[[^\]]*\]|\{[^}]*\}"  # template slots such as [Customer Name] or {date}


@dataclass(frozen=True)
class GateResult:
    """One gate run: the version scored, its score against the threshold, and the per-ticket rows."""

    prompt_version: str
    model: str
    score: float
    threshold: float
    n: int
    n_errors: int
    rows: pd.DataFrame

    @property
    def passed(self) -> bool:
        """True when the score reaches the threshold."""
        return self.score >= self.threshold

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"{verdict} triage-{self.prompt_version} on {self.model}: {self.score:.2f} of {self.n} gate tickets "
                f"pass (threshold {self.threshold:.2f}; {self.n_errors} broken replies)")


def prompt_version_under_test() -> str:
    """The version the gate scores: $AIENG_PROMPT_VERSION, else the one triage ships with."""
    return os.environ.get(PROMPT_VERSION_ENV, "").strip() or triage.DEFAULT_PROMPT_VERSION


def gate_set(*, seed: int = 0) -> pd.DataFrame:
    """The fixed gate tickets. Columns: item_id, source, text, gold_intent."""
    tickets = data.stratified_sample(data.load_tickets("test"), GATE_SIZE, seed=seed)
    return pd.DataFrame({"item_id": tickets["id"], "source": "labelled ticket",
                         "text": classic.ticket_text(tickets), "gold_intent": tickets["intent"]})


def reply_follows_rules(reply: str) -> bool:
    """True for a draft reply of 40 to 400 characters with no template placeholder ([Name], {date})."""
    return evals.length_between(reply, REPLY_MIN_CHARS, REPLY_MAX_CHARS) and not evals.matches(reply, _PLACEHOLDER)


def item_passes(row: Mapping[str, Any]) -> bool:
    """Whether one triaged ticket passes: a valid reply whose intent is right and draft follows the rules.

    `row` holds intent, gold_intent and draft_reply (intent None when the reply was broken)."""
    intent = row.get("intent")
    if not isinstance(intent, str):
        return False
    return evals.exact_match(intent, row["gold_intent"]) and reply_follows_rules(row.get("draft_reply") or "")


def evaluate(rows: pd.DataFrame, *, prompt_version: str, model: str) -> GateResult:
    """The gate's verdict on already triaged rows (columns: intent, gold_intent, draft_reply)."""
    if rows.empty:
        raise ValueError("The gate needs at least one triaged ticket; got an empty table.")
    passes = [item_passes(row) for row in rows.to_dict("records")]
    rows = rows.assign(passed=passes)
    n_errors = int(rows["intent"].isna().sum()) if "intent" in rows else 0
    return GateResult(prompt_version=prompt_version, model=model, score=float(sum(passes) / len(passes)),
                      threshold=THRESHOLD, n=len(rows), n_errors=n_errors, rows=rows)


def run_gate(client: Any, model: str, prompt_version: str, *, items: pd.DataFrame | None = None) -> GateResult:
    """Triage every gate ticket with `prompt_version` through the model, fresh, and score it.

    A reply that breaks the schema or is cut at max_tokens counts as a failed ticket."""
    items = gate_set() if items is None else items
    rows = []
    for item in items.to_dict("records"):
        try:
            result = triage.triage_ticket(client, model, item["text"], prompt_version=prompt_version)
            rows.append({**item, "intent": result.intent, "priority": result.priority,
                         "draft_reply": result.draft_reply, "error": ""})
        except ModelOutputError as err:
            rows.append({**item, "intent": None, "priority": None, "draft_reply": "", "error": str(err)[:200]})
    return evaluate(pd.DataFrame(rows), prompt_version=prompt_version, model=model)
