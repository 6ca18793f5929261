"""A regression gate for the triage pipeline: score a router + prompt version fresh on a fixed set, fail below a bar.

A **pipeline** is what the product runs on a ticket: a router that picks the queue and the chat
model drafting the reply with a versioned prompt. Its id names both, e.g.
`embedding-zero:queues-v2 + triage-v3` (the shipped one) or `prompted:triage-v0-bad` (the chat
model routes too, with the known-bad prompt). The gate scores a pipeline, not a prompt alone.

Run it from the command line (it calls the model; the bundled local one unless OPENAI_BASE_URL is set):

    make gate                                         # the shipped pipeline, and the known-bad one must fail
    make gate ROUTER=prompted PROMPT=v2               # chapter 02's prompted triage
    make gate ROUTER=embedding-zero:v1                # another router, the shipped drafting prompt
    AIENG_ROUTER=prompted AIENG_PROMPT_VERSION=v2 .venv/bin/python -m pytest tests/test_gate.py -k under_test

`AIENG_ROUTER` (make's ROUTER) picks the router: `shipped` (default: the one the evals picked,
prompts/router-choice.json), `prompted` (the chat model picks the queue in the same call),
`embedding-zero:<version>` (prompts/queues-<version>.md), `embedding-lr:<n labels>` or
`tfidf-lr`. `AIENG_PROMPT_VERSION` (make's PROMPT) picks the drafting prompt, default
`triage.DEFAULT_PROMPT_VERSION`.

The gate set is fixed: about GATE_SIZE labelled test tickets, stratified by intent, seed 0. A
ticket passes when the reply is valid, its queue is right and its draft follows the reply rules;
the score is the share that pass. THRESHOLD sits well above the best constant answer (a test
keeps every constant answer below it) and below what a pipeline that triages well reaches (every
ticket can pass). Each run also records the share of drafts that looped before their repeats
were removed (`Triage.draft_looped`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from aieng import classic, data, evals, routers, triage
from aieng.errors import ModelOutputError

__all__ = [
    "ROUTER_ENV", "PROMPT_VERSION_ENV", "GATE_SIZE", "THRESHOLD", "REPLY_MIN_CHARS", "REPLY_MAX_CHARS",
    "Pipeline", "SHIPPED", "KNOWN_BAD", "GateResult", "router_from_name", "pipeline_under_test", "gate_set",
    "reply_follows_rules", "item_passes", "evaluate", "run_gate",
]

ROUTER_ENV = "AIENG_ROUTER"
PROMPT_VERSION_ENV = "AIENG_PROMPT_VERSION"
GATE_SIZE = 20          # tickets asked of the stratified sample (it rounds per queue to 21): every queue in, about
                        # 35 s per pipeline on 2 cores; 44 (43 tickets) gives the same verdicts at twice the time
THRESHOLD = 0.5         # share of gate tickets that must pass (a constant answer stays far below)
REPLY_MIN_CHARS, REPLY_MAX_CHARS = 40, 400
_PLACEHOLDER = r"\[[^\]]*\]|\{[^}]*\}"  # template slots such as [Customer Name] or {date}
_ROUTER_NAMES = ("shipped, prompted, embedding-zero:<queues version> (e.g. embedding-zero:v1), "
                 "embedding-lr:<number of labels> (e.g. embedding-lr:55), tfidf-lr")


@dataclass(frozen=True)
class Pipeline:
    """A triage pipeline: the router that picks the queue and the version of the drafting prompt.

    `router` is "shipped" (the router the evals picked), None (the chat model picks the queue in
    the same call as the draft) or any router from `aieng.routers`."""

    router: Any
    prompt_version: str

    @property
    def router_id(self) -> str:
        """The router's id, e.g. `embedding-zero:queues-v2` or `prompted:triage-v0-bad`."""
        if self.router is None:
            return f"prompted:triage-{self.prompt_version}"
        if self.router == triage.SHIPPED:
            return str(routers.load_choice()["chosen_id"])
        return str(self.router.id)

    @property
    def id(self) -> str:
        """Router and prompt, e.g. `embedding-zero:queues-v2 + triage-v3`."""
        return triage.pipeline_id(self.router_id, self.prompt_version)


SHIPPED = Pipeline(triage.SHIPPED, triage.DEFAULT_PROMPT_VERSION)  # the product: the evals' router + drafting prompt
KNOWN_BAD = Pipeline(None, "v0-bad")  # the chat model routes with a prompt written to fail: the gate must stop it


@dataclass(frozen=True)
class GateResult:
    """One gate run: the pipeline scored, its score against the threshold, and the per-ticket rows.

    `looped_share` is the share of valid drafts that looped before their repeats were removed (NaN
    when the rows do not say). `rows` has one row per gate ticket, with a `passed` column."""

    pipeline_id: str
    model: str
    score: float
    threshold: float
    n: int
    n_errors: int
    intent_accuracy: float
    reply_ok_share: float
    looped_share: float
    rows: pd.DataFrame

    @property
    def passed(self) -> bool:
        """True when the score reaches the threshold."""
        return self.score >= self.threshold

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        looped = "not recorded" if math.isnan(self.looped_share) else f"{self.looped_share:.0%}"
        return (f"{verdict} {self.pipeline_id} on {self.model}: {self.score:.2f} of {self.n} gate tickets pass "
                f"(threshold {self.threshold:.2f}); queue right {self.intent_accuracy:.0%}, drafts following "
                f"the rules {self.reply_ok_share:.0%}, drafts that looped {looped}; {self.n_errors} broken replies")


def router_from_name(name: str) -> Any:
    """The `router` argument of `run_gate` for a name: "shipped", "prompted" (None), or a router built
    from `embedding-zero:<version>`, `embedding-lr:<n>`, `tfidf-lr`. Raises ValueError naming the choices."""
    name = (name or "").strip()
    kind, _, arg = name.partition(":")
    if name in ("", triage.SHIPPED):
        return triage.SHIPPED
    if name == "prompted":
        return None
    if kind == "embedding-zero" and arg:
        return routers.from_spec({"kind": kind, "version": arg})
    if kind == "embedding-lr" and arg.isdigit():
        return routers.from_spec({"kind": kind, "n_labels": int(arg)})
    if name == "tfidf-lr":
        return routers.from_spec({"kind": kind})
    raise ValueError(f"{ROUTER_ENV}={name!r} names no router. Use one of: {_ROUTER_NAMES}.")


def pipeline_under_test() -> Pipeline:
    """The pipeline the gate scores: $AIENG_ROUTER and $AIENG_PROMPT_VERSION, else the shipped one."""
    version = os.environ.get(PROMPT_VERSION_ENV, "").strip() or triage.DEFAULT_PROMPT_VERSION
    return Pipeline(router_from_name(os.environ.get(ROUTER_ENV, "")), version)


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


def evaluate(rows: pd.DataFrame, *, pipeline_id: str, model: str) -> GateResult:
    """The gate's verdict on already triaged rows (columns: intent, gold_intent, draft_reply; draft_looped if known)."""
    if rows.empty:
        raise ValueError("The gate needs at least one triaged ticket; got an empty table.")
    records = rows.to_dict("records")
    valid = [isinstance(r.get("intent"), str) for r in records]
    rows = rows.assign(passed=[item_passes(r) for r in records],
                       intent_correct=[ok and evals.exact_match(r["intent"], r["gold_intent"])
                                       for ok, r in zip(valid, records)],
                       reply_ok=[ok and reply_follows_rules(r.get("draft_reply") or "")
                                 for ok, r in zip(valid, records)])
    n_valid = sum(valid)
    looped = rows.loc[valid, "draft_looped"].astype(bool) if "draft_looped" in rows else None
    return GateResult(pipeline_id=pipeline_id, model=model, score=float(rows["passed"].mean()), threshold=THRESHOLD,
                      n=len(rows), n_errors=len(rows) - n_valid, intent_accuracy=float(rows["intent_correct"].mean()),
                      reply_ok_share=float(rows["reply_ok"].mean()),
                      looped_share=float(looped.mean()) if looped is not None and n_valid else math.nan, rows=rows)


def run_gate(client: Any, model: str, router: Any = triage.SHIPPED,
             prompt_version: str = triage.DEFAULT_PROMPT_VERSION, *, items: pd.DataFrame | None = None) -> GateResult:
    """Triage every gate ticket through the pipeline (`router` + drafting prompt `prompt_version`), fresh, and score it.

    `router` is "shipped", None (the chat model routes) or a router from `aieng.routers`, as for
    `triage.triage_ticket`. A reply that breaks the schema or is cut at max_tokens counts as a failed ticket."""
    items = gate_set() if items is None else items
    pipeline = Pipeline(router, prompt_version)
    rows = []
    for item in items.to_dict("records"):
        try:
            result = triage.triage_ticket(client, model, item["text"], prompt_version=prompt_version, router=router)
            rows.append({**item, "intent": result.intent, "priority": result.priority,
                         "draft_reply": result.draft_reply, "draft_looped": result.draft_looped,
                         "latency_s": result.latency_s, "error": ""})
        except ModelOutputError as err:
            rows.append({**item, "intent": None, "priority": None, "draft_reply": "", "draft_looped": False,
                         "latency_s": math.nan, "error": str(err)[:200]})
    return evaluate(pd.DataFrame(rows), pipeline_id=pipeline.id, model=model)
