"""Checks for chapter 04 (evals): a reply scorer, a bootstrap interval, Cohen's kappa."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["reply_follows_rules", "bootstrap_ci", "cohen_kappa"]

_GOOD = "Thanks for writing in. Our Billing team will look at the double charge today."
_REPLY_CASES = [  # (reply, follows the rules?, the rule at stake)
    (_GOOD, True, "a plain reply of 40 to 400 characters passes"),
    ("Thanks!", False, "a reply under 40 characters fails"),
    ("Our Billing team will look at it. " * 12, False, "a reply over 400 characters fails"),
    ("Hi [Customer Name], our Billing team will look at the double charge today.", False,
     "a placeholder in square brackets fails"),
    ("Hi {name}, our Billing team will look at the double charge today for you.", False,
     "a placeholder in curly brackets fails"),
    ("x" * 40, True, "exactly 40 characters passes (both ends included)"),
    ("x" * 400, True, "exactly 400 characters passes (both ends included)"),
]


def reply_follows_rules(fn: Callable[[str], bool]) -> Result:
    """Exercise 4.1: `fn(reply)` is True for 40-400 characters without [placeholders] or {placeholders}."""
    require_callable(fn, "reply_follows_rules", "reply_follows_rules")
    for reply, want, rule in _REPLY_CASES:
        got = fn(reply)
        if is_stub(got):
            return todo("4.1", "reply_follows_rules")
        if not isinstance(got, (bool, np.bool_)):
            return fail("4.1", f"reply_follows_rules({reply[:40]!r}...) returned {got!r}, not True or False.",
                        hint="A scorer answers yes or no: return a bool.")
        if bool(got) != want:
            return fail("4.1", f"reply_follows_rules({reply[:60]!r}{'...' if len(reply) > 60 else ''}) "
                               f"returned {got}, but {rule}.",
                        hint="Combine the two rules: evals.length_between for the length and evals.matches "
                             "with a regular expression for text inside [ ] or { }.")
    return ok("4.1", "reply_follows_rules enforces the length bounds and rejects placeholders.")


def _reference_ci(values: list[float], n_resamples: int, level: float) -> tuple[float, float]:
    rng = np.random.default_rng(12345)
    scores = np.asarray(values, dtype=float)
    means = scores[rng.integers(0, scores.size, size=(n_resamples, scores.size))].mean(axis=1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, 1 - (1 - level) / 2))


def bootstrap_ci(fn: Callable[..., tuple[float, float]]) -> Result:
    """Exercise 4.2: `fn(values, n_resamples=..., seed=..., level=...)` is a percentile bootstrap interval of the mean."""
    require_callable(fn, "bootstrap_ci", "bootstrap_ci")
    values = [1.0] * 21 + [0.0] * 9  # 30 items, mean 0.7
    got = fn(values, n_resamples=2000, seed=0, level=0.95)
    if is_stub(got):
        return todo("4.2", "bootstrap_ci")
    shown = "bootstrap_ci(21 ones and 9 zeros, n_resamples=2000, seed=0, level=0.95)"
    if not isinstance(got, tuple) or len(got) != 2:
        return fail("4.2", f"{shown} returned {got!r}, not a (low, high) tuple.",
                    hint="Return two numbers: the lower and the upper percentile of the resampled means.")
    low, high = (float(v) for v in got)
    if not low <= 0.7 <= high:
        return fail("4.2", f"{shown} returned ({low:.3f}, {high:.3f}), which does not contain the mean 0.7.",
                    hint="Each resample's statistic is the mean of the resampled values.")
    ref_low, ref_high = _reference_ci(values, 2000, 0.95)
    if abs(low - ref_low) > 0.04 or abs(high - ref_high) > 0.04:
        return fail("4.2", f"{shown} returned ({low:.3f}, {high:.3f}): width {high - low:.3f}, not what "
                           "resampling 30 items with replacement gives.",
                    hint="Draw len(values) indices with replacement for each resample, average them, and take "
                         "the (1 - level) / 2 and 1 - (1 - level) / 2 quantiles of those means.")
    varied = [float(v) for v in np.random.default_rng(7).random(25)]  # many distinct means: seeds show
    first = fn(varied, n_resamples=500, seed=3, level=0.9)
    if fn(varied, n_resamples=500, seed=3, level=0.9) != first:
        return fail("4.2", "bootstrap_ci(25 values between 0 and 1, n_resamples=500, seed=3, level=0.9) gave a "
                           "different interval on a second call with the same seed.",
                    hint="Make the random generator from `seed`: np.random.default_rng(seed).")
    narrow = fn(values, n_resamples=2000, seed=0, level=0.5)
    if not (isinstance(narrow, tuple) and narrow[1] - narrow[0] < high - low):
        return fail("4.2", f"With level=0.5 the interval is {narrow!r}, not narrower than at level=0.95.",
                    hint="`level` sets which quantiles you take.")
    return ok("4.2", f"bootstrap_ci gives a {high - low:.2f}-wide 95% interval around 0.7 for 30 items, "
                     "repeatable with the seed.")


_KAPPA_CASES = [  # (a, b, what the case is about)
    (["pass", "fail", "pass", "fail"], ["pass", "fail", "pass", "fail"], "two graders who always agree"),
    (["pass"] * 6 + ["fail"] * 4, ["pass"] * 10, "a judge that always says pass"),
    (["pass", "pass", "fail", "fail", "pass", "fail", "pass", "pass"],
     ["pass", "fail", "fail", "fail", "pass", "pass", "pass", "pass"], "graders who agree on 6 of 8"),
    (["pass", "fail", "pass", "fail", "pass", "fail"], ["fail", "pass", "fail", "pass", "pass", "fail"],
     "graders who disagree more often than chance"),
]


def _kappa(a: list[str], b: list[str]) -> float:
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    expected = sum(a.count(label) / n * b.count(label) / n for label in set(a) | set(b))
    return (observed - expected) / (1 - expected)


def cohen_kappa(fn: Callable[[list[str], list[str]], float]) -> Result:
    """Exercise 4.3: `fn(a, b)` is Cohen's kappa of two graders' labels over the same items."""
    require_callable(fn, "cohen_kappa", "cohen_kappa")
    for a, b, about in _KAPPA_CASES:
        got = fn(list(a), list(b))
        if is_stub(got):
            return todo("4.3", "cohen_kappa")
        try:
            value = float(got)
        except (TypeError, ValueError):
            return fail("4.3", f"cohen_kappa returned {got!r} for {about}, not a number.",
                        hint="Return one float: (p_o - p_e) / (1 - p_e).")
        want = _kappa(a, b)
        if math.isnan(value) or abs(value - want) > 1e-6:
            hint = ("Kappa subtracts the agreement chance alone gives: p_e sums, over the labels, the share of "
                    "items each grader gives that label, multiplied together.")
            if abs(value - sum(x == y for x, y in zip(a, b)) / len(a)) < 1e-9 and len(set(a) | set(b)) > 1:
                hint = "That is the raw agreement p_o. " + hint
            return fail("4.3", f"For {about} ({a} vs {b}), cohen_kappa returned {value:.3f}.", hint=hint)
    return ok("4.3", "cohen_kappa is 1 for full agreement, 0 for the always-pass judge and below 0 for worse than chance.")
