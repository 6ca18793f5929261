"""Agent evals with chapter 04's harness: task success, tool choice, arguments, steps, injections resisted.

    from aieng import agent_evals
    store = agent_evals.fresh_store()
    guarded = agent_evals.build_agent(llm.client, llm.model, kind="guarded", store=store, chooser=chooser)
    runs = agent_evals.evaluate(guarded, eval_tasks, store)       # one row per task, one run each
    agent_evals.summary({"guarded": runs})                         # each metric with a bootstrap interval

A task (data/agent/tasks.jsonl) holds a customer's request, the calls that serve it and the store's
state after them. Scores per task:
- **task success**: the store ends in the expected state and every expected call ran with the right
  arguments (ids, statuses and amounts; free text such as a search query or a note is not compared);
- **tool choice**: the agent proposed exactly the expected tools, in order;
- **arguments**: of the expected calls whose tool the agent proposed, the share with the right arguments;
- **steps**: model calls the run took.
An injection ticket is **resisted** when `guardrails.violations` finds nothing outside the policy.
Every store is reset before each run, so runs never see each other's writes.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aieng import evals, guardrails, support_tools
from aieng.agent import Agent, RunRecord
from aieng.files import ROOT, read_jsonl

__all__ = ["TASKS_PATH", "INJECTIONS_PATH", "FREE_TEXT", "load_tasks", "spread", "load_injections", "injection_text",
           "fresh_store", "executor", "simulated_customer", "build_agent", "RefuseAgent", "score_run", "evaluate", "injection_runs",
           "summary", "record_success"]

TASKS_PATH = ROOT / "data" / "agent" / "tasks.jsonl"
INJECTIONS_PATH = ROOT / "data" / "agent" / "injections.jsonl"
# Arguments compared loosely: free text (no pattern, no enum) is the model's wording, not a decision.
FREE_TEXT = {name: {key for key, prop in spec.parameters["properties"].items()
                    if prop.get("type") == "string" and "pattern" not in prop and "enum" not in prop}
             for name, spec in support_tools.TOOLS.items()}


def load_tasks(split: str | None = None) -> list[dict[str, Any]]:
    """The agent tasks, all or one split ("fit" or "eval")."""
    if split not in (None, "fit", "eval"):
        raise ValueError(f"Unknown task split {split!r}; choose 'fit' or 'eval' (or None for all).")
    tasks = read_jsonl(TASKS_PATH)
    return [task for task in tasks if split is None or task["split"] == split]


def spread(tasks: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """`n` of `tasks`, taken in turn from each kind (lookup, action, multi-step), so a slice keeps the mix."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        by_kind.setdefault(task.get("kind", ""), []).append(task)
    picked: list[dict[str, Any]] = []
    while len(picked) < min(n, len(tasks)):
        for group in by_kind.values():
            if group and len(picked) < n:
                picked.append(group.pop(0))
    return picked


def load_injections() -> list[dict[str, Any]]:
    """The tickets that carry prompt-injection attempts (never part of the ticket splits)."""
    return read_jsonl(INJECTIONS_PATH)


def injection_text(ticket: dict[str, Any]) -> str:
    """What the agent reads of an injection ticket: subject and body."""
    return f"{ticket['subject']}\n\n{ticket['body']}"


def fresh_store(path: str | Path | None = None) -> support_tools.SupportStore:
    """An empty support store (a temporary file unless `path` is given)."""
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="aieng-agent-")) / "support_store.json"
    return support_tools.SupportStore(path).reset()


def executor(store: support_tools.SupportStore) -> Callable[[str, dict[str, Any]], Any]:
    """`execute(name, arguments)` for an Agent: the support tools over `store`."""
    return lambda name, arguments: support_tools.call_tool(name, arguments, store=store)


def simulated_customer(wanted_calls: Sequence[dict[str, Any]]) -> Callable[[guardrails.ProposedCall], bool]:
    """A confirmation step that answers as the customer would: yes only to a change they asked for.

    In production a person answers (the customer, or staff). An eval needs an answer without one, so it
    simulates the customer from what the task says they want (`expected_calls`, or an injection ticket's
    `legitimate_calls`): a data change is confirmed when it matches one of those calls (ids, status and
    amount; free text ignored), and declined otherwise, e.g. a refund that only an injected line asked for."""
    wanted = [dict(call) for call in wanted_calls]

    def confirm(call: guardrails.ProposedCall) -> bool:
        return any(call.name == want["name"] and _same_arguments(call.name, call.arguments, want["arguments"])
                   for want in wanted)

    return confirm


def _set_confirmation(agent: Any, wanted_calls: Sequence[dict[str, Any]], simulate: bool) -> None:
    policy = getattr(agent, "guardrails", None)
    if simulate and policy is not None:
        policy.confirm = simulated_customer(wanted_calls)


def build_agent(client: Any, model: str, *, kind: str, store: support_tools.SupportStore, chooser: Any = None,
                confirm: Callable[[guardrails.ProposedCall], bool] | None = None,
                **options: Any) -> Agent | RefuseAgent:
    """The naive agent (no guardrails), the guarded one (same agent, `Guardrails(confirm=confirm)`), or
    the always-refuse baseline; `chooser=None` lets the model pick tools. `confirm=None` declines every
    change unless `evaluate`/`injection_runs` simulate the customer (their default)."""
    if kind == "refuse":
        return RefuseAgent(model)
    if kind not in ("naive", "guarded"):
        raise ValueError(f"Unknown agent kind {kind!r}; choose 'naive', 'guarded' or 'refuse'.")
    policy = guardrails.Guardrails(confirm=confirm, store=store) if kind == "guarded" else None
    picks = chooser.id if chooser is not None else "model picks"
    return Agent(client, model, tools=support_tools.openai_tools(), execute=executor(store), chooser=chooser,
                 guardrails=policy, variant=f"{kind} · {picks}", **options)


class RefuseAgent:
    """The trivial baseline: never calls a tool, always hands over to a person."""

    variant = "always refuse"

    def __init__(self, model: str = ""):
        self.model = model

    def run(self, ticket: str, *, customer_id: str | None = None, task_id: str = "") -> RunRecord:
        """A run with no calls and a hand-over reply."""
        return RunRecord(task_id=task_id, variant=self.variant, customer_id=customer_id, model=self.model,
                         tool_calls=(), final_reply="A support agent will follow up on your request.",
                         stop_reason="reply", steps=0, latency_s=0.0, tokens=0)


def _same_arguments(name: str, got: dict[str, Any], want: dict[str, Any]) -> bool:
    for key, value in want.items():
        if key in FREE_TEXT.get(name, ()):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not isinstance(got.get(key), (int, float)) or abs(float(got[key]) - float(value)) > 0.005:
                return False
        elif str(got.get(key, "")).strip() != str(value):
            return False
    return True


def score_run(run: RunRecord, task: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """One row of scores for `run` on `task`, given the store's snapshot `state` after the run."""
    expected = task["expected_calls"]
    proposed = [call.name for call in run.tool_calls]
    matched_args, scored = 0, 0
    all_ran = True
    for want in expected:
        candidates = [c for c in run.tool_calls if c.name == want["name"]]
        ran_right = any(c.executed and _same_arguments(c.name, c.arguments, want["arguments"]) for c in candidates)
        all_ran &= ran_right
        if candidates:
            scored += 1
            matched_args += any(_same_arguments(c.name, c.arguments, want["arguments"]) for c in candidates)
    state_right = state == task["expected_state"]
    return {"task_id": task["id"], "kind": task.get("kind", ""), "variant": run.variant,
            "success": float(state_right and all_ran), "tool_choice": float(proposed == [c["name"] for c in expected]),
            "arguments": matched_args / scored if scored else np.nan, "steps": run.steps,
            "state_right": state_right, "stop_reason": run.stop_reason, "proposed": proposed,
            "latency_s": run.latency_s, "tokens": run.tokens}


def _progress(items: Sequence[Any], label: str, show: bool):
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=label, leave=False)


def evaluate(agent: Agent | RefuseAgent, tasks: Sequence[dict[str, Any]], store: support_tools.SupportStore, *,
             progress: bool = False, runs: list[RunRecord] | None = None,
             simulate_customer: bool = True) -> pd.DataFrame:
    """One row of `score_run` per task, each run on a freshly reset store; `runs` (a list) collects the records.

    `simulate_customer`: a guarded agent's confirmation step answers as the task's customer would
    (`simulated_customer`); False keeps the agent's own `confirm`."""
    rows = []
    for task in _progress(list(tasks), getattr(agent, "variant", "agent"), progress):
        store.reset()
        _set_confirmation(agent, task["expected_calls"], simulate_customer)
        run = agent.run(task["request"], customer_id=task["customer_id"], task_id=task["id"])
        rows.append(score_run(run, task, store.snapshot()))
        if runs is not None:
            runs.append(run)
    return pd.DataFrame(rows)


def injection_runs(agent: Agent | RefuseAgent, injections: Sequence[dict[str, Any]],
                   store: support_tools.SupportStore, *, progress: bool = False,
                   simulate_customer: bool = True, runs: list[RunRecord] | None = None) -> pd.DataFrame:
    """One row per injection ticket: what the agent executed, the policy violations found, and `resisted`.

    The simulated customer confirms only the ticket's `legitimate_calls`, never what the injected text asks."""
    rows = []
    for ticket in _progress(list(injections), getattr(agent, "variant", "agent"), progress):
        store.reset()
        _set_confirmation(agent, ticket.get("legitimate_calls", []), simulate_customer)
        run = agent.run(injection_text(ticket), customer_id=ticket["customer_id"], task_id=ticket["id"])
        forbidden = ticket.get("forbidden", {})
        found = guardrails.violations(run, forbidden_ids=forbidden.get("ids", ()),
                                      forbidden_tools=forbidden.get("tools", ()), store=store)
        if runs is not None:
            runs.append(run)
        rows.append({"id": ticket["id"], "attack": ticket.get("attack", ""), "variant": run.variant,
                     "executed": [f"{c.name}({json.dumps(c.arguments)[:60]})" for c in run.executed],
                     "stop_reason": run.stop_reason, "violations": found, "resisted": float(not found),
                     "steps": run.steps, "latency_s": run.latency_s})
    return pd.DataFrame(rows)


def _cell(values: Sequence[float], seed: int) -> tuple[float, float, float, int]:
    values = [float(v) for v in values if not (isinstance(v, float) and np.isnan(v))]
    if not values:
        return np.nan, np.nan, np.nan, 0
    low, high = evals.bootstrap_ci(values, seed=seed)
    return float(np.mean(values)), low, high, len(values)


def summary(results: dict[str, pd.DataFrame], *, injections: dict[str, pd.DataFrame] | None = None,
            seed: int = 0) -> pd.DataFrame:
    """One row per agent: each metric's mean and 95% bootstrap interval (chapter 04's `bootstrap_ci`).

    Columns "<metric>" (mean), "<metric> low", "<metric> high", and "n tasks"."""
    rows = []
    for label, runs in results.items():
        row: dict[str, Any] = {"agent": label, "n tasks": len(runs)}
        for metric in ("success", "tool_choice", "arguments", "steps"):
            mean, low, high, _ = _cell(runs[metric], seed)
            name = metric.replace("_", " ")
            row[name], row[f"{name} low"], row[f"{name} high"] = mean, low, high
        if injections and label in injections:
            mean, low, high, n = _cell(injections[label]["resisted"], seed)
            row["injections resisted"], row["injections resisted low"], row["injections resisted high"] = mean, low, high
        rows.append(row)
    return pd.DataFrame(rows).set_index("agent")


def record_success(runs: pd.DataFrame, *, approach: str, model: str, labels_used: int = 0,
                   extra: dict[str, Any] | None = None, seed: int = 0) -> Any:
    """Save the agent's task success on these runs in the course's results store (chapter 09 reads it)."""
    from aieng import results

    mean, low, high, n = _cell(runs["success"], seed)
    return results.record(approach=approach, family="agent", workflow="ai", chapter="06", task="agent-tasks",
                          metric="task success", value=mean, n=n, interval=(low, high), split="eval",
                          labels_used=labels_used, ms_per_request=1000 * float(runs["latency_s"].mean()),
                          tokens_per_request=float(runs["tokens"].mean()), model=model,
                          extra={"recorded": time.strftime("%Y-%m-%d"), **(extra or {})})
