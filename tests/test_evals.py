"""aieng.evals: scorers, agreement, bootstrap intervals and result files do what their docstrings say."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from aieng import data, evals

SCHEMA = {"type": "object", "properties": {"intent": {"enum": ["billing", "payroll"]}}, "required": ["intent"]}


def test_exact_match_ignores_case_and_outer_whitespace_only():
    assert evals.exact_match(" Billing\n", "billing")
    assert not evals.exact_match("billing.", "billing")
    assert not evals.exact_match("plan_change", "billing")


def test_label_in_set_accepts_only_known_labels():
    assert evals.label_in_set("payroll", data.INTENTS)
    assert not evals.label_in_set("Payroll", data.INTENTS)
    assert not evals.label_in_set("refunds", data.INTENTS)


def test_json_valid_needs_parseable_json_that_fits_the_schema():
    assert evals.json_valid('{"intent": "billing"}', SCHEMA)
    assert not evals.json_valid('{"intent": "refunds"}', SCHEMA)
    assert not evals.json_valid('{"intent": "billing"', SCHEMA)
    assert not evals.json_valid("", SCHEMA)


def test_matches_searches_anywhere_and_length_includes_both_ends():
    assert evals.matches("Your order LL-2024-00042 shipped", r"LL-\d{4}-\d{5}")
    assert not evals.matches("no order here", r"LL-\d{4}-\d{5}")
    assert evals.length_between("abc", 3, 5) and evals.length_between("abcde", 3, 5)
    assert not evals.length_between("ab", 3, 5) and not evals.length_between("abcdef", 3, 5)


def test_agreement_and_kappa_match_hand_computed_and_sklearn_values():
    gold = ["pass", "pass", "fail", "fail", "pass", "fail", "pass", "pass"]
    rater = ["pass", "fail", "fail", "fail", "pass", "pass", "pass", "pass"]
    assert evals.agreement(gold, rater) == 6 / 8
    assert evals.cohen_kappa(gold, rater) == pytest.approx(cohen_kappa_score(gold, rater))
    assert evals.cohen_kappa(gold, gold) == 1.0


def test_a_judge_that_always_says_pass_has_kappa_zero_whatever_its_raw_agreement():
    gold = ["pass"] * 46 + ["fail"] * 26
    always_pass = ["pass"] * len(gold)
    assert evals.agreement(gold, always_pass) == pytest.approx(46 / 72)
    assert evals.cohen_kappa(gold, always_pass) == pytest.approx(0.0)
    assert math.isnan(evals.cohen_kappa(always_pass, always_pass))


def test_agreement_refuses_lists_of_different_lengths():
    with pytest.raises(ValueError, match="same non-empty"):
        evals.agreement(["pass"], ["pass", "fail"])


def test_bootstrap_ci_brackets_the_mean_narrows_with_n_and_repeats_with_the_seed():
    rng = np.random.default_rng(1)
    small, large = rng.random(30) < 0.7, rng.random(600) < 0.7
    low, high = evals.bootstrap_ci(small)
    assert low <= small.mean() <= high and 0 <= low < high <= 1
    low_l, high_l = evals.bootstrap_ci(large)
    assert high_l - low_l < high - low
    assert evals.bootstrap_ci(small, seed=3) == evals.bootstrap_ci(small, seed=3)
    assert evals.bootstrap_ci([1, 1, 1]) == (1.0, 1.0)


def test_paired_bootstrap_sees_a_clear_gain_and_calls_identical_scores_unclear():
    a = [0, 1] * 20
    b = [1, 1] * 20
    gain = evals.paired_bootstrap(a, b)
    assert gain.mean_diff == pytest.approx(0.5) and gain.is_clear and gain.ci_low > 0
    assert gain.share_b_not_better == 0.0
    same = evals.paired_bootstrap(a, a)
    assert same.mean_diff == 0 and not same.is_clear
    with pytest.raises(ValueError):
        evals.paired_bootstrap([1, 0], [1])


def test_summarize_reports_mean_and_interval():
    report = evals.summarize([1, 0, 1, 1], metric="intent_correct", prompt_version="triage-v1", model="m")
    assert report.score == 0.75 and report.n == 4 and report.ci_low <= 0.75 <= report.ci_high
    assert "triage-v1" in str(report)


def test_save_results_appends_runs_with_version_model_and_time(tmp_path):
    path = tmp_path / "evals" / "triage.jsonl"
    evals.save_results([{"id": "T-1", "correct": np.bool_(True)}], path, prompt_version="v1", model="m")
    evals.save_results([{"id": "T-1", "correct": False}], path, prompt_version="v1", model="m")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["correct"] is True
    assert {"prompt_version", "model", "run_at"} <= set(lines[0])
    latest = evals.load_results(path, latest_only=True)
    assert len(latest) == 1 and not latest.loc[0, "correct"]
    with pytest.raises(FileNotFoundError, match="save_results"):
        evals.load_results(tmp_path / "none.jsonl")


def test_judge_messages_put_the_fixed_rubric_first():
    messages = evals.judge_messages(rubric="Be strict.", question="Q?", answer="A.", context="Ref.")
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("Be strict.")
    assert messages[1]["content"].endswith("A.") and "Ref." in messages[1]["content"]


def test_judge_returns_a_verdict_through_the_model(llm):
    verdict = evals.judge(llm.client, llm.model, rubric="Pass an answer that gives the refund time in days.",
                          question="How long does a refund take?", answer="5 to 10 business days.")
    assert isinstance(verdict.passed, bool)
    assert isinstance(verdict.reason, str)
    assert len(verdict.reason) <= 160 or not llm.is_local  # the local server enforces the schema's maxLength
