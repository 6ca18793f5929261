"""Read a trace file (written by `aieng.tracing`) into DataFrames, and the measures a dashboard shows.

    spans = trace_analysis.load_spans(traces.path)     # one row per span
    runs = trace_analysis.requests(spans)               # one row per ticket or agent run (a trace's root span)
    trace_analysis.latency_percentiles(runs)            # p50, p90, p95, p99 by kind of request
    trace_analysis.plot_timeline(spans, trace_id)       # one trace, drawn as bars on a time axis
    trace_analysis.check_budget(runs, p95_latency_s=5.0, cost_usd_per_request=0.001)   # the alarms that fire
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aieng.files import ROOT
from aieng.workspace import artifact_path

__all__ = ["SPAN_COLUMNS", "REQUEST_COLUMNS", "NOTES_TEMPLATE", "NOTE_COLUMNS", "load_notes", "failure_modes_path",
           "model_output", "load_spans", "requests", "latency_percentiles", "children",
           "plot_timeline", "Alarm", "check_budget", "head_sample", "tail_sample"]

SPAN_COLUMNS = ["trace_id", "span_id", "parent_id", "name", "start", "end", "duration_s", "status", "kind",
                "model", "input_tokens", "output_tokens", "cost_usd", "outcome", "request_id", "attributes"]
REQUEST_COLUMNS = ["trace_id", "name", "request_id", "start", "latency_s", "n_model_calls", "input_tokens",
                   "output_tokens", "tokens", "cost_usd", "outcome", "is_error", "is_refusal"]

# Error analysis (chapter 07): one note per trace, keyed by ticket or task id, then a failure mode per note.
NOTES_TEMPLATE = ROOT / "data" / "error_analysis" / "trace_notes.csv"
NOTE_COLUMNS = ["id", "kind", "note", "failure_mode"]


def load_notes(path: str | Path = NOTES_TEMPLATE) -> pd.DataFrame:
    """Error-analysis notes, one row per trace read. Columns: id (ticket or task id), kind ("ticket" or
    "agent_task"), note (the first thing that went wrong, one line), failure_mode (its group; "none" when nothing did)."""
    path = Path(path)
    notes = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in NOTE_COLUMNS if c not in notes.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; a notes file has {NOTE_COLUMNS}. "
                         f"Compare it with {NOTES_TEMPLATE.name} in data/error_analysis/.")
    duplicated = sorted(notes.loc[notes["id"].duplicated(), "id"])
    if duplicated:
        raise ValueError(f"{path} notes {duplicated} more than once: keep one note per trace (the first thing that went wrong).")
    blank = notes.loc[notes["failure_mode"].str.strip() == "", "id"].tolist()
    if blank:
        raise ValueError(f"{path}: no failure_mode for {blank}. Name a group for each note, or 'none' when nothing went wrong.")
    return notes[NOTE_COLUMNS]


def failure_modes_path() -> Path:
    """Where chapter 07 saves the failure modes it counted (`artifacts/error_analysis/failure_modes.csv`); chapter 04 reads it."""
    return artifact_path("error_analysis/failure_modes.csv")


def model_output(spans: pd.DataFrame) -> pd.Series:
    """The text each model-call span's reply held (its first message), indexed like `spans`; "" for other spans."""
    return spans["attributes"].map(lambda a: str(a.get("llm.output_messages.0.message.content", "")))


# How an agent run's stop reason (chapter 06) reads as a request's outcome.
_AGENT_OUTCOME = {"reply": "ok", "blocked": "refused", "declined": "refused", "step_limit": "error",
                  "deadline": "error", "repeated_call": "error", "length": "error"}


def _kind(name: str, attributes: dict) -> str:
    if attributes.get("openinference.span.kind") == "LLM":
        return "model"
    if name.startswith("tool."):
        return "tool"
    return name.split(".")[0] if "." in name else "other"


def load_spans(path: str | Path) -> pd.DataFrame:
    """The spans of a trace file, one row each, ordered by start. Columns: `SPAN_COLUMNS`.

    `duration_s` in seconds; tokens, `cost_usd` and `model` are set on model-call spans (0 / "" elsewhere);
    `request_id` is the ticket or agent task id of the span's trace; `attributes` holds every attribute."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No trace file at {path}. Call tracing.setup() and run a few tickets first.")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {number}, is not a span (JSON): {err}. "
                             "Was the file cut while written? Run the traced cells again.") from err
        attributes = record.get("attributes") or {}
        rows.append({
            "trace_id": record["trace_id"], "span_id": record["span_id"], "parent_id": record.get("parent_id"),
            "name": record["name"], "start": record["start_ns"], "end": record["end_ns"],
            "status": record.get("status", "UNSET"), "kind": _kind(record["name"], attributes),
            "model": attributes.get("llm.model_name", ""),
            "input_tokens": int(attributes.get("llm.token_count.prompt", 0)),
            "output_tokens": int(attributes.get("llm.token_count.completion", 0)),
            "cost_usd": float(attributes.get("llm.cost_usd", 0.0)),
            "outcome": attributes.get("aieng.outcome") or attributes.get("tool.outcome")
                       or _AGENT_OUTCOME.get(attributes.get("agent.stop_reason", ""), ""),
            "request_id": attributes.get("aieng.ticket_id") or attributes.get("agent.task_id") or "",
            "attributes": attributes})
    spans = pd.DataFrame(rows, columns=[c for c in SPAN_COLUMNS if c != "duration_s"])
    spans["duration_s"] = (spans["end"] - spans["start"]) / 1e9
    named = spans[spans["request_id"] != ""].groupby("trace_id")["request_id"].first()
    spans["request_id"] = spans["request_id"].where(spans["request_id"] != "", spans["trace_id"].map(named)).fillna("")
    spans["start"] = pd.to_datetime(spans["start"], unit="ns", utc=True)
    spans["end"] = pd.to_datetime(spans["end"], unit="ns", utc=True)
    return spans[SPAN_COLUMNS].sort_values("start", ignore_index=True)


def requests(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per trace: its root span (a ticket or an agent run) and the model calls inside it.

    Columns: `REQUEST_COLUMNS`. `outcome` is the root's ("ok", "looped", "refused", "error", ...);
    `is_error` is true for an error outcome or an ERROR status anywhere in the trace."""
    if spans.empty:
        return pd.DataFrame(columns=REQUEST_COLUMNS)
    roots = spans[spans["parent_id"].isna()]
    models = spans[spans["kind"] == "model"].groupby("trace_id")
    per_trace = pd.DataFrame({"n_model_calls": models.size(), "input_tokens": models["input_tokens"].sum(),
                              "output_tokens": models["output_tokens"].sum(), "cost_usd": models["cost_usd"].sum()})
    has_error = spans.groupby("trace_id")["status"].agg(lambda s: bool((s == "ERROR").any()))
    # a root without its own id or outcome (a span a notebook wrapped around the pipeline) takes the first one inside
    named = spans[spans["request_id"] != ""].groupby("trace_id")["request_id"].first()
    steps = spans[~spans["kind"].isin(["model", "tool"]) & (spans["outcome"] != "")]
    ended = steps.groupby("trace_id")["outcome"].first()
    roots = roots.assign(
        request_id=roots["request_id"].where(roots["request_id"] != "", roots["trace_id"].map(named)).fillna(""),
        outcome=roots["outcome"].where(roots["outcome"] != "", roots["trace_id"].map(ended)).fillna(""))
    out = roots[["trace_id", "name", "request_id", "start", "duration_s", "outcome"]].rename(
        columns={"duration_s": "latency_s"}).join(per_trace, on="trace_id").join(has_error.rename("has_error"), on="trace_id")
    out[["n_model_calls", "input_tokens", "output_tokens"]] = out[["n_model_calls", "input_tokens",
                                                                   "output_tokens"]].fillna(0).astype(int)
    out["cost_usd"] = out["cost_usd"].fillna(0.0)
    out["tokens"] = out["input_tokens"] + out["output_tokens"]
    out["outcome"] = np.where(out["outcome"].eq("") & out["has_error"], "error", out["outcome"].replace("", "ok"))
    out["is_error"] = out["outcome"].eq("error") | (out["has_error"] & out["name"].ne("agent.run"))
    out["is_refusal"] = out["outcome"].eq("refused")
    return out[REQUEST_COLUMNS].reset_index(drop=True)


def latency_percentiles(runs: pd.DataFrame, *, by: str = "name",
                        quantiles: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)) -> pd.DataFrame:
    """Latency percentiles in seconds (columns p50, p90, ...) and the count `n`, one row per `by` value."""
    grouped = runs.groupby(by)["latency_s"]
    table = grouped.quantile(list(quantiles)).unstack()
    table.columns = [f"p{round(q * 100)}" for q in quantiles]
    return table.assign(n=grouped.size())


def children(spans: pd.DataFrame, trace_id: str) -> pd.DataFrame:
    """The spans of one trace except its root, longest first, with `depth` (1 = directly under the root)."""
    one = spans[spans["trace_id"] == trace_id]
    if one.empty:
        raise KeyError(f"No trace {trace_id!r} in these spans; pick one from requests(spans)['trace_id'].")
    parent_of = dict(zip(one["span_id"], one["parent_id"]))

    def depth(span_id: str) -> int:
        n = 0
        while parent_of.get(span_id) is not None:
            span_id, n = parent_of[span_id], n + 1
        return n

    inner = one[one["parent_id"].notna()].assign(depth=lambda f: f["span_id"].map(depth))
    return inner.sort_values("duration_s", ascending=False, ignore_index=True)


def plot_timeline(spans: pd.DataFrame, trace_id: str, ax: Any = None, *, title: str | None = None) -> Any:
    """One trace as horizontal bars (one per span, nested spans indented below their parent); returns the Axes.

    x is seconds since the trace began; model calls, tools and the rest get their own colours."""
    import matplotlib.pyplot as plt

    one = spans[spans["trace_id"] == trace_id].sort_values("start")
    if one.empty:
        raise KeyError(f"No trace {trace_id!r} in these spans; pick one from requests(spans)['trace_id'].")
    t0 = one["start"].min()
    depth = {sid: 0 for sid in one["span_id"]}
    parent_of = dict(zip(one["span_id"], one["parent_id"]))
    for sid in depth:
        p = parent_of[sid]
        while p is not None and p in parent_of:
            depth[sid], p = depth[sid] + 1, parent_of[p]
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.45 * len(one) + 1.2))
    colours = {"model": "#1f77b4", "tool": "#ff7f0e"}
    for row_number, span in enumerate(one.itertuples()):
        left = (span.start - t0).total_seconds()
        colour = "#d62728" if span.status == "ERROR" else colours.get(span.kind, "#7f7f7f")
        ax.barh(row_number, span.duration_s, left=left, color=colour, height=0.6)
        ax.text(left, row_number, f"{'  ' * depth[span.span_id]}{span.name}  {span.duration_s:.2f} s",
                va="center", ha="left", fontsize=8, color="black")
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the request began")
    ax.set_title(title or f"trace {trace_id[:8]}: blue = model call, orange = tool, grey = other, red = error")
    return ax


@dataclass(frozen=True)
class Alarm:
    """A budget that was exceeded: `metric` measured `value`, above its `threshold`."""

    metric: str
    value: float
    threshold: float

    def __str__(self) -> str:
        return f"ALARM {self.metric}: {self.value:.4g} > budget {self.threshold:.4g}"


def check_budget(runs: pd.DataFrame, *, p95_latency_s: float | None = None,
                 cost_usd_per_request: float | None = None, error_rate: float | None = None) -> list[Alarm]:
    """The alarms that fire on these requests: an empty list when every measure is within its budget.

    Budgets left as None are not checked. Cost is the mean per request; latency the 95th percentile."""
    if runs.empty:
        raise ValueError("No requests to check: trace a few tickets first (the budget of nothing says nothing).")
    measured = {"p95_latency_s": (p95_latency_s, float(runs["latency_s"].quantile(0.95))),
                "cost_usd_per_request": (cost_usd_per_request, float(runs["cost_usd"].mean())),
                "error_rate": (error_rate, float(runs["is_error"].mean()))}
    return [Alarm(metric, value, budget) for metric, (budget, value) in measured.items()
            if budget is not None and value > budget]


def head_sample(trace_ids: list[str], ratio: float) -> list[str]:
    """The trace ids a head sampler keeps at `ratio`: OpenTelemetry's rule (the id's low 64 bits under ratio * 2**64)."""
    bound = round(ratio * (2**64 - 1))
    return [t for t in trace_ids if int(t, 16) & (2**64 - 1) < bound]


def tail_sample(runs: pd.DataFrame, ratio: float, *, keep: Callable[[pd.Series], bool] | None = None) -> list[str]:
    """Tail sampling, decided once a request ended: every request `keep` selects (default: errors and
    refusals), plus the head sampler's share of the rest. Returns trace ids."""
    keep = keep or (lambda run: bool(run["is_error"] or run["is_refusal"]))
    always = runs[runs.apply(keep, axis=1)]["trace_id"].tolist()
    others = runs[~runs["trace_id"].isin(always)]["trace_id"].tolist()
    return always + head_sample(others, ratio)
