"""The grader's scores: one function per rubric criterion, each from evidence the grader measured itself.

Each criterion gets `Criterion(name, points, max_points, checks)`, where every check is one line of
evidence: what was looked at, what was found, and whether it earned its point. The criteria and their
points follow assessment/RUBRIC.md; "judgement and communication" is scored here only on what a
program can see (a memo of the right length that quotes the measured figures); the rest is a person's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from aieng import data, evals
from aieng.grading import task

__all__ = ["Check", "Criterion", "Evidence", "read_submission", "score_all", "GAP_LIMIT", "CI_TOLERANCE"]

GAP_LIMIT = 0.20      # public-test accuracy minus hidden accuracy above this reads as tuned on the test split
CI_TOLERANCE = 0.05   # a reported interval bound may differ this much from the grader's paired bootstrap
ACC_TOLERANCE = 0.01  # reported accuracies must match what predictions.csv gives
LATENCY_SLACK_MS = 20  # a batch figure and the grader's one-call figure may differ this much (a call's overhead)
_AGREES = f"reported latency agrees with the grader's measure (within 3× or {LATENCY_SLACK_MS} ms)"


@dataclass(frozen=True)
class Check:
    """One line of evidence: what the grader checked, what it found, and whether it earned its point."""

    name: str
    passed: bool
    found: str


@dataclass(frozen=True)
class Criterion:
    """A rubric criterion's automatic score and the checks behind it."""

    name: str
    points: int
    max_points: int
    checks: tuple[Check, ...]


@dataclass
class Evidence:
    """Everything the scores are computed from (filled by `aieng.grading.grade`)."""

    run_status: str
    run_message: str
    files: dict[str, bytes]                       # the submission folder's files, by name
    public_tests: dict[str, Any]                  # {"passed": int, "failed": [messages], "total": int}
    hidden_tests: dict[str, Any]                  # the same, for the hiring team's test files
    hidden: pd.DataFrame | None                   # id, gold_intent, intent, error, ms (None: no predictions)
    hidden_message: str
    shipped_hidden_accuracy: float
    public_test: pd.DataFrame                     # the take-home's test tickets: id, intent
    leaks: list[str] = field(default_factory=list)


def read_submission(files: Mapping[str, bytes]) -> tuple[dict | None, pd.DataFrame | None, str | None, list[str]]:
    """results.json, predictions.csv and MEMO.md parsed from the submission's files, and the problems found."""
    problems, results, predictions, memo = [], None, None, None
    if "results.json" in files:
        try:
            results = json.loads(files["results.json"].decode("utf-8"))
            if not isinstance(results, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as err:
            problems.append(f"results.json does not parse: {err}")
            results = None
    if "predictions.csv" in files:
        try:
            from io import BytesIO
            predictions = pd.read_csv(BytesIO(files["predictions.csv"]), dtype=str)
        except Exception as err:  # noqa: BLE001 - any broken file is a finding
            problems.append(f"predictions.csv does not parse: {err}")
    if "MEMO.md" in files:
        memo = files["MEMO.md"].decode("utf-8", errors="replace")
    return results, predictions, memo, problems


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _public_accuracy(predictions: pd.DataFrame | None, public_test: pd.DataFrame, column: str) -> tuple[float, list]:
    """Accuracy of predictions[column] on the public test tickets, and the per-ticket 0/1 scores (NaN: missing)."""
    if predictions is None or column not in predictions or "id" not in predictions:
        return math.nan, []
    pred = dict(zip(predictions["id"], predictions[column]))
    scores = [float(pred.get(i) == gold) for i, gold in zip(public_test["id"], public_test["intent"])]
    return (sum(scores) / len(scores) if scores else math.nan), scores


def _working_system(ev: Evidence) -> Criterion:
    checks = [Check("ran cleanly", ev.run_status == "ok",
                    "the notebook ran top to bottom" if ev.run_status == "ok" else ev.run_message)]
    pub = ev.public_tests
    checks.append(Check("public tests", pub["total"] > 0 and not pub["failed"],
                        f"{pub['passed']} of {pub['total']} pass" + (f"; first failure: {pub['failed'][0]}"
                                                                      if pub["failed"] else "")))
    hid = ev.hidden_tests
    checks.append(Check("hidden tests", hid["total"] > 0 and not hid["failed"],
                        f"{hid['passed']} of {hid['total']} pass" + (f"; first failure: {hid['failed'][0]}"
                                                                      if hid["failed"] else "")))
    if ev.hidden is None:
        checks.append(Check(f"hidden accuracy ≥ {task.GATE_ACCURACY:.2f}", False, ev.hidden_message))
        checks.append(Check("beats the shipped router on hidden tickets", False, ev.hidden_message))
    else:
        acc = float((ev.hidden["intent"] == ev.hidden["gold_intent"]).mean())
        n_err = int((ev.hidden["error"] != "").sum())
        checks.append(Check(f"hidden accuracy ≥ {task.GATE_ACCURACY:.2f}", acc >= task.GATE_ACCURACY,
                            f"{acc:.2f} on {len(ev.hidden)} hidden tickets ({n_err} calls raised)"))
        checks.append(Check("beats the shipped router on hidden tickets", acc > ev.shipped_hidden_accuracy,
                            f"{acc:.2f} against the shipped router's {ev.shipped_hidden_accuracy:.2f}"))
    if ev.leaks:
        checks.append(Check("no hidden-test content in what the notebook wrote or printed", False,
                            "; ".join(ev.leaks[:3])))
        checks = [Check(c.name, False, c.found) if c.name.startswith(("hidden", "beats")) else c for c in checks]
    return Criterion("working system", sum(c.passed for c in checks), 5, tuple(checks))


def _eval_design(results: dict | None, predictions: pd.DataFrame | None, public_test: pd.DataFrame) -> Criterion:
    test = results.get("test") if isinstance(results, dict) and isinstance(results.get("test"), dict) else {}
    n = _num(test.get("n"))
    checks = [Check("paired comparison on the whole test split",
                    n == len(public_test) and predictions is not None and "baseline_intent" in predictions,
                    f"n={test.get('n')!r} (the test split has {len(public_test)}); predictions.csv "
                    + ("has" if predictions is not None and "baseline_intent" in predictions else "lacks")
                    + " a baseline_intent column")]
    lo, hi, diff = _num(test.get("ci_low")), _num(test.get("ci_high")), _num(test.get("mean_diff"))
    checks.append(Check("an interval on the difference", None not in (lo, hi, diff) and lo <= diff <= hi,
                        f"mean_diff={test.get('mean_diff')!r}, "
                        f"interval=({test.get('ci_low')!r}, {test.get('ci_high')!r})"))
    base_acc, base_scores = _public_accuracy(predictions, public_test, "baseline_intent")
    cand_acc, cand_scores = _public_accuracy(predictions, public_test, "intent")
    rep_base, rep_cand = _num(test.get("baseline_accuracy")), _num(test.get("candidate_accuracy"))
    reproduces = (rep_base is not None and rep_cand is not None and not math.isnan(cand_acc)
                  and not math.isnan(base_acc)
                  and abs(rep_base - base_acc) <= ACC_TOLERANCE and abs(rep_cand - cand_acc) <= ACC_TOLERANCE)
    checks.append(Check("reported accuracies reproduce from predictions.csv", reproduces,
                        f"reported {rep_base} → {rep_cand}; predictions.csv gives "
                        f"{base_acc:.3f} → {cand_acc:.3f}"))
    if base_scores and cand_scores and None not in (lo, hi):
        paired = evals.paired_bootstrap(base_scores, cand_scores)
        close = abs(paired.ci_low - lo) <= CI_TOLERANCE and abs(paired.ci_high - hi) <= CI_TOLERANCE
        found = (f"the grader's paired bootstrap gives ({paired.ci_low:+.3f}, {paired.ci_high:+.3f}); "
                 f"reported ({lo:+.3f}, {hi:+.3f})")
    else:
        close, found = False, "no interval, or no per-ticket predictions to recompute it from"
    checks.append(Check("the interval reproduces", close, found))
    return Criterion("eval design", sum(c.passed for c in checks), 4, tuple(checks))


def _use_of_data(results: dict | None, predictions: pd.DataFrame | None, public_test: pd.DataFrame,
                 hidden: pd.DataFrame | None) -> Criterion:
    results = results if isinstance(results, dict) else {}
    selection = str(results.get("selection_split", "")).strip().lower()
    checks = [Check("choices made on data other than the test split", selection not in ("", "test", "none"),
                    f"selection_split={results.get('selection_split')!r}")]
    cand_acc, _ = _public_accuracy(predictions, public_test, "intent")
    if hidden is not None and not math.isnan(cand_acc):
        hidden_acc = float((hidden["intent"] == hidden["gold_intent"]).mean())
        gap = cand_acc - hidden_acc
        checks.append(Check(f"public test accuracy not above hidden by more than {GAP_LIMIT:.2f}", gap <= GAP_LIMIT,
                            f"public test {cand_acc:.2f}, hidden {hidden_acc:.2f}: gap {gap:+.2f}"))
    else:
        checks.append(Check(f"public test accuracy not above hidden by more than {GAP_LIMIT:.2f}", False,
                            "no predictions on both sets to compare"))
    sources = results.get("label_sources")
    labels = _num(results.get("labels_used"))
    ok = (isinstance(sources, list) and labels is not None and labels >= 0
          and not any("test" in str(s).lower() for s in sources))
    checks.append(Check("labels used reported, none from the test split", ok,
                        f"labels_used={results.get('labels_used')!r}, label_sources={sources!r}"))
    return Criterion("use of data", sum(c.passed for c in checks), 3, tuple(checks))


def _cost_latency(results: dict | None, hidden: pd.DataFrame | None) -> Criterion:
    results = results if isinstance(results, dict) else {}
    ms, calls = _num(results.get("ms_per_ticket")), _num(results.get("chat_calls_per_ticket"))
    checks = [Check("latency and chat calls per ticket reported", ms is not None and calls is not None,
                    f"ms_per_ticket={results.get('ms_per_ticket')!r}, "
                    f"chat_calls_per_ticket={results.get('chat_calls_per_ticket')!r}")]
    within = calls is not None and calls <= task.CHAT_CALLS_LIMIT
    if hidden is not None and len(hidden):
        measured = float(hidden["ms"].median())
        checks.append(Check(f"within the limits ({task.MS_PER_TICKET_LIMIT} ms, {task.CHAT_CALLS_LIMIT} chat call)",
                            measured <= task.MS_PER_TICKET_LIMIT and within,
                            f"the grader measured a median of {measured:.0f} ms per hidden ticket; "
                            f"{results.get('chat_calls_per_ticket')!r} chat calls reported"))
        honest = ms is not None and (measured / 3 <= ms <= measured * 3 or abs(ms - measured) <= LATENCY_SLACK_MS)
        checks.append(Check(_AGREES, honest,
                            f"reported {results.get('ms_per_ticket')!r} ms, measured {measured:.0f} ms"))
    else:
        checks.append(Check("within the limits", False, "no predictions on hidden tickets to time"))
        checks.append(Check(_AGREES, False,
                            "no predictions on hidden tickets to time"))
    return Criterion("cost and latency", sum(c.passed for c in checks), 3, tuple(checks))


def _figures(results: dict | None) -> list[float]:
    test = results.get("test", {}) if isinstance(results, dict) else {}
    test = test if isinstance(test, dict) else {}
    return [v for v in (_num(test.get(k)) for k in ("mean_diff", "ci_low", "ci_high")) if v is not None]


def _quotes(memo: str, value: float) -> bool:
    """True when the memo writes `value` as a share (0.12, +0.12) or a percentage (12%, 12.5 %)."""
    numbers = [float(x) for x in re.findall(r"[-+−]?\d+(?:\.\d+)?", memo.replace("−", "-"))]
    percents = [float(x) / 100 for x in re.findall(r"([-+]?\d+(?:\.\d+)?)\s*(?:%|percentage points|pp)",
                                                      memo.replace("−", "-"))]
    return any(abs(abs(n) - abs(value)) < 0.006 for n in numbers + percents)


def _judgement(memo: str | None, results: dict | None) -> Criterion:
    words = len(re.findall(r"\S+", memo or ""))
    lo, hi = task.MEMO_WORDS
    checks = [Check(f"a memo of {lo} to {hi} words", lo <= words <= hi, f"MEMO.md has {words} words")]
    figures = _figures(results)
    quoted = bool(memo) and bool(figures) and any(_quotes(memo, f) for f in figures)
    checks.append(Check("the memo quotes the measured difference or its interval", quoted,
                        "found" if quoted else "no figure from results.json appears in MEMO.md"))
    return Criterion("judgement and communication", sum(c.passed for c in checks), 2, tuple(checks))


def score_all(ev: Evidence) -> tuple[list[Criterion], list[str]]:
    """Every criterion's score, and the problems found in the submission's files."""
    results, predictions, memo, problems = read_submission(ev.files)
    if predictions is not None and "intent" in predictions:
        bad = sorted(set(predictions["intent"].dropna()) - set(data.INTENTS))
        if bad:
            problems.append(f"predictions.csv names queues that do not exist: {', '.join(map(str, bad[:5]))}")
    criteria = [_working_system(ev), _eval_design(results, predictions, ev.public_test),
                _use_of_data(results, predictions, ev.public_test, ev.hidden),
                _cost_latency(results, ev.hidden), _judgement(memo, results)]
    unchanged = _unchanged(results, predictions)
    if unchanged:  # nothing was built: there is no design, data use or cost of a change to credit
        criteria = [c if c.name in ("working system", "judgement and communication") else
                    Criterion(c.name, 0, c.max_points, (Check("a candidate that differs from the shipped router",
                                                              False, unchanged), *c.checks)) for c in criteria]
    return criteria, problems


def _unchanged(results: dict | None, predictions: pd.DataFrame | None) -> str:
    """Why the submission is the shipped router unchanged ("" when it is not)."""
    if isinstance(results, dict) and results.get("candidate_id") and results.get("candidate_id") == results.get(
            "baseline_id"):
        return f"candidate_id and baseline_id are both {results.get('candidate_id')!r}"
    if (predictions is not None and {"intent", "baseline_intent"} <= set(predictions.columns) and len(predictions)
            and (predictions["intent"] == predictions["baseline_intent"]).all()):
        return "every test prediction equals the shipped router's"
    return ""
