"""Checks for chapter 01 (the ML-engineering workflow: labels, metrics, a predict function)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo
from aieng.data import INTENTS

__all__ = ["labeling_cost", "macro_f1", "predict_intent"]


def _number(value: object) -> float | None:
    try:
        number = float(value)  # numpy scalars included
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# (n_labels, minutes_per_label, hourly_rate_usd, review_share)
_COST_CASES = [(600, 0.5, 30.0, 0.0), (600, 0.5, 30.0, 0.2), (90, 2.0, 45.0, 0.5)]


def labeling_cost(fn: Callable[..., tuple[float, float]]) -> Result:
    """Exercise 1.1: `fn(n_labels, minutes_per_label, hourly_rate_usd, review_share=...)` gives (hours, cost_usd)."""
    require_callable(fn, "labeling_cost", "labeling_cost")
    for n_labels, minutes, rate, review in _COST_CASES:
        shown = f"labeling_cost({n_labels}, {minutes}, {rate}, review_share={review})"
        try:
            got = fn(n_labels, minutes, rate, review_share=review)
        except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
            return fail("1.1", f"{shown} raised {type(err).__name__}: {err}",
                        hint="Use only the four arguments; the function needs no data from the notebook.")
        if is_stub(got):
            return todo("1.1", "labeling_cost")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return fail("1.1", f"{shown} returned {got!r}, not a pair (hours, cost_usd).",
                        hint="End with `return hours, cost_usd`.")
        hours, cost = _number(got[0]), _number(got[1])
        if hours is None or cost is None:
            return fail("1.1", f"{shown} returned {got!r}; both hours and cost_usd must be numbers.",
                        hint="Compute with the arguments; do not format the result as text.")
        base_hours = n_labels * minutes / 60
        want_hours = base_hours * (1 + review)
        if math.isclose(hours, want_hours * 60, rel_tol=1e-6) or math.isclose(hours, base_hours * 60, rel_tol=1e-6):
            return fail("1.1", f"{shown} returned hours={hours:g}: that is a count of minutes, not hours.",
                        hint="minutes_per_label is in minutes, and an hour has 60 of them.")
        if review and math.isclose(hours, base_hours, rel_tol=1e-6):
            return fail("1.1", f"{shown} returned the same hours as with review_share=0.",
                        hint="A share review_share of the labels is done a second time, by a reviewer.")
        if not math.isclose(hours, want_hours, rel_tol=1e-6):
            return fail("1.1", f"{shown} returned hours={hours:g}, which does not follow from {n_labels} labels "
                        f"at {minutes} minutes each plus a review of {review:.0%} of them.",
                        hint="Count the minutes of all labels (first pass and review), then turn them into hours.")
        if not math.isclose(cost, hours * rate, rel_tol=1e-6):
            return fail("1.1", f"{shown} returned hours={hours:g} but cost_usd={cost:g}, which is not those hours "
                        f"paid at ${rate:g} an hour.", hint="The cost is the hours times the hourly rate.")
    return ok("1.1", "labeling_cost turns labels, minutes, review and the hourly rate into hours and dollars.")


# (gold, predicted): imbalanced so that accuracy, weighted F1 and macro-F1 all differ
_F1_CASES = [
    (["billing"] * 6 + ["payroll"] * 2 + ["bug_report"] * 2,
     ["billing"] * 5 + ["bug_report"] + ["payroll", "billing"] + ["bug_report", "bug_report"]),
    (["invoicing", "invoicing", "invoicing", "bank_feeds", "bank_feeds", "security_privacy"],
     ["invoicing", "invoicing", "bank_feeds", "bank_feeds", "invoicing", "invoicing"]),
]


def _f1_scores(gold: list[str], predicted: list[str]) -> tuple[float, float, float]:
    """Reference (macro, weighted, accuracy), written out so the check needs no scikit-learn call."""
    labels = sorted(set(gold))
    f1s, weights = [], []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        n_pred, n_gold = predicted.count(label), gold.count(label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        weights.append(n_gold)
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
    return sum(f1s) / len(f1s), sum(f * w for f, w in zip(f1s, weights)) / len(gold), accuracy


def macro_f1(fn: Callable[[list[str], list[str]], float]) -> Result:
    """Exercise 1.2: `fn(gold, predicted)` is the unweighted mean over intents of each intent's F1."""
    require_callable(fn, "macro_f1", "macro_f1")
    for gold, predicted in _F1_CASES:
        shown = f"macro_f1(gold, predicted) for gold={gold} and predicted={predicted}"
        try:
            got = fn(list(gold), list(predicted))
        except ZeroDivisionError:
            return fail("1.2", f"{shown} raised ZeroDivisionError: one intent there is never predicted.",
                        hint="When an intent is never predicted its precision has no denominator: count its F1 as 0.")
        except Exception as err:  # noqa: BLE001
            return fail("1.2", f"{shown} raised {type(err).__name__}: {err}",
                        hint="gold and predicted are plain lists of intent names, of the same length.")
        if is_stub(got):
            return todo("1.2", "macro_f1")
        value = _number(got)
        if value is None or isinstance(got, bool):
            return fail("1.2", f"{shown} returned {got!r}, not a number.",
                        hint="Return one float: the mean of the per-intent F1 scores.")
        macro, weighted, accuracy = _f1_scores(gold, predicted)
        if not 0 <= value <= 1:
            return fail("1.2", f"{shown} returned {value:g}; an F1 score lies between 0 and 1.",
                        hint="F1 = 2PR / (P + R) with precision P and recall R, each a fraction.")
        if math.isclose(value, macro, abs_tol=1e-9):
            continue
        if math.isclose(value, accuracy, abs_tol=1e-9):
            return fail("1.2", f"{shown} returned {value:.3f}, the share of tickets routed right (accuracy).",
                        hint="Compute F1 for each intent on its own, then average those scores.")
        if math.isclose(value, weighted, abs_tol=1e-9):
            return fail("1.2", f"{shown} returned {value:.3f}: a mean weighted by how many tickets each intent has.",
                        hint="In the macro average every intent counts the same, however rare it is.")
        return fail("1.2", f"{shown} returned {value:.3f}, which is not the mean of the per-intent F1 scores.",
                    hint="For each intent: precision = right among predicted as it, recall = right among truly it.")
    return ok("1.2", "macro_f1 averages the per-intent F1 scores, rare intents counting as much as common ones.")


_TICKETS = [
    "Refund please\nYou charged my card twice for the Growth plan this month.",
    "Locked out\nI reset my password but the 2FA code on my phone is always rejected, cannot log in.",
    "Bank feed stopped\nMy Barclays transactions have not synced since Monday, the bank feed says disconnected.",
    "Invoice template\nHow do I add my logo to the invoices I send to my clients and change the numbering?",
    "Webhook failing\nOur API webhook endpoint gets 401 errors and the API key seems invalid.",
    "Payslips\nThe payroll run for this Friday did not email payslips to my employees.",
]


def predict_intent(fn: Callable[[str], Any]) -> Result:
    """Exercise 1.3: `fn(ticket_text)` returns one intent (a string from data.INTENTS) for one ticket."""
    require_callable(fn, "predict_intent", "predict")
    answers = []
    for text in _TICKETS:
        shown = f"predict({text[:40]!r}...)"
        try:
            got = fn(text)
        except Exception as err:  # noqa: BLE001
            return fail("1.3", f"{shown} raised {type(err).__name__}: {str(err)[:160]}",
                        hint="The pipeline's predict takes a list of texts, even for one ticket: wrap it in [ ].")
        if is_stub(got):
            return todo("1.3", "predict")
        if not isinstance(got, str):
            return fail("1.3", f"{shown} returned {got!r} (a {type(got).__name__}), not one intent string.",
                        hint="The pipeline gives one label per text it gets; return the first, as a str.")
        if got not in INTENTS:
            return fail("1.3", f"{shown} returned {got!r}, which is not a queue in data.INTENTS.",
                        hint="Return the label the router predicts, unchanged.")
        answers.append(got)
    if len(set(answers)) == 1:
        return fail("1.3", f"predict returned {answers[0]!r} for all {len(_TICKETS)} test tickets (billing, login, "
                    "bank feed, invoice template, webhook, payslips).",
                    hint="A router that never changes its answer is the majority baseline: use the trained router.")
    return ok("1.3", f"predict returns a known intent for each ticket ({len(set(answers))} different intents "
              f"for {len(_TICKETS)} different tickets).")
