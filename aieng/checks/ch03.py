"""Checks for chapter 03 (ship a prototype, turn its feedback into data)."""

from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["wilson_interval", "to_eval_examples"]


def _reference_wilson(n_up: int, n: int, z: float = 1.96) -> tuple[float, float]:
    rate = n_up / n
    center = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return center - half, center + half


_WILSON_CASES = [(0, 10), (9, 20), (10, 10), (3, 7), (120, 400)]


def wilson_interval(fn: Callable[..., tuple[float, float]]) -> Result:
    """Exercise 3.1: `fn(n_up, n)` returns the 95% Wilson score interval (low, high) of the up-vote rate."""
    require_callable(fn, "wilson_interval", "wilson_interval")
    for n_up, n in _WILSON_CASES:
        shown = f"wilson_interval({n_up}, {n})"
        got = fn(n_up, n)
        if is_stub(got):
            return todo("3.1", "wilson_interval")
        try:
            low, high = (float(v) for v in got)
        except (TypeError, ValueError):
            return fail("3.1", f"{shown} returned {got!r}, not a pair of numbers (low, high).",
                        hint="End with `return low, high`.")
        rate = n_up / n
        if not (-1e-9 <= low <= rate + 1e-9 and rate - 1e-9 <= high <= 1 + 1e-9):
            return fail("3.1", f"{shown} returned ({low:.3f}, {high:.3f}); an interval for the rate must contain "
                               f"the observed rate {rate:.2f} and lie within [0, 1].",
                        hint="low = centre - half_width, high = centre + half_width, and the centre is divided by "
                             "1 + z²/n; check each term against the formula.")
        if high - low < 1e-9:
            return fail("3.1", f"{shown} returned an interval of zero width ({low:.2f}, {high:.2f}): "
                               f"{n} votes cannot make you certain.",
                        hint="That is what the simple rate ± z·sqrt(p(1-p)/n) gives at 0 or n up-votes; "
                             "the Wilson formula adds z²/(4n²) under the square root.")
        want_low, want_high = _reference_wilson(n_up, n)
        if abs(low - want_low) > 1e-6 or abs(high - want_high) > 1e-6:
            return fail("3.1", f"{shown} returned ({low:.4f}, {high:.4f}), which is not the Wilson score interval "
                               "at z = 1.96.",
                        hint="Compare each term with the formula above: the centre moves towards 1/2 by z²/(2n), "
                             "and both centre and half-width are divided by 1 + z²/n.")
    return ok("3.1", "wilson_interval gives the Wilson score interval, also at 0 and at n up-votes.")


def _votes() -> pd.DataFrame:
    rows = [
        # ticket, proposed, rating, corrected
        ("Charged twice this month", "billing", "up", None),                    # accepted: the proposal is the label
        ("Barclays feed stopped syncing", "bug_report", "down", "bank_feeds"),  # corrected: the correction is
        ("Reply promised a refund we do not give", "plan_change", "down", None),  # reply complaint: the queue stands
        ("Shopify says connection error", "bug_report", "up", "integrations"),  # liked the reply, fixed the queue
        ("Cannot log in after 6 tries", "bug_report", "up", None),              # voted twice: the last vote counts
        ("Cannot log in after 6 tries", "bug_report", "down", "account_access"),
    ]
    return pd.DataFrame([{
        "created_at": f"2026-10-05T0{i}:00:00Z", "ticket": ticket, "proposed_intent": proposed,
        "draft_reply": "Thanks, we are looking into it.", "rating": rating, "comment": "",
        "corrected_intent": corrected, "prompt_version": "triage-v2", "model": "check",
    } for i, (ticket, proposed, rating, corrected) in enumerate(rows)])


_WANT = {
    "Charged twice this month": "billing",
    "Barclays feed stopped syncing": "bank_feeds",
    "Reply promised a refund we do not give": "plan_change",
    "Shopify says connection error": "integrations",
    "Cannot log in after 6 tries": "account_access",
}
_MISSING_HINTS = {
    "Reply promised a refund we do not give": "A thumbs-down without a correction keeps the proposed queue: the agent "
                                              "left the queue as it was, so the complaint is about the reply.",
}
_MISSING_HINT = "A vote without a corrected queue confirms the proposed queue, and any vote with a corrected queue " \
                "names the right one: both are labels."


def to_eval_examples(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Result:
    """Exercise 3.2: `fn(votes)` returns labelled examples (text, intent), one per ticket.

    The label is the queue the agent's vote stands behind: the corrected queue when there is one,
    else the proposed queue (a thumbs-down without a correction is about the reply, as in chapter 04)."""
    require_callable(fn, "to_eval_examples", "to_eval_examples")
    votes = _votes()
    got = fn(votes.copy())
    if is_stub(got):
        return todo("3.2", "to_eval_examples")
    shown = "to_eval_examples(votes)"
    if not isinstance(got, pd.DataFrame):
        return fail("3.2", f"{shown} returned a {type(got).__name__}, not a DataFrame.",
                    hint="Build the rows as dicts with 'text' and 'intent', then pd.DataFrame(rows, columns=[...]).")
    if list(got.columns) != ["text", "intent"]:
        return fail("3.2", f"{shown} has columns {list(got.columns)}; an eval example has exactly ['text', 'intent'].",
                    hint="Keep only the ticket (as 'text') and its label (as 'intent').")
    pairs = list(zip(got["text"], got["intent"]))
    labels = dict(pairs)
    if len(pairs) != len(labels):
        repeated = sorted({t for t, _ in pairs if sum(1 for u, _ in pairs if u == t) > 1})
        return fail("3.2", f"{shown} holds the same ticket more than once: {repeated}.",
                    hint="When a ticket was voted on twice, keep only its last vote (drop_duplicates has a `keep`).")
    for text, want in _WANT.items():
        if text not in labels:
            return fail("3.2", f"The vote on {text!r} is missing from the examples.",
                        hint=_MISSING_HINTS.get(text, _MISSING_HINT))
        if labels[text] != want:
            return fail("3.2", f"{text!r} is labelled {labels[text]!r}, not the queue the agent's vote stands behind.",
                        hint="The corrected queue wins when there is one; otherwise the proposed queue stands, "
                             "thumbs up or down. For a ticket voted twice, the last vote counts.")
    if len(labels) != len(_WANT):
        return fail("3.2", f"{shown} returned {len(labels)} examples, with extra texts "
                           f"{sorted(set(labels) - set(_WANT))}.",
                    hint="Each example's text is a ticket from the votes, unchanged.")
    return ok("3.2", "to_eval_examples keeps the queue each agent stands behind, once per ticket.")
