"""Chapter 04 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import numpy as np
import pytest

from aieng import checks, evals
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, verdicts

CH04 = "04_evals.ipynb"
NAMESPACE = {"np": np, "evals": evals}
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_reply_follows_rules():
    def length_only(reply):
        return 40 <= len(reply) <= 400

    stub, solution, wrong = verdicts(CH04, checks.reply_follows_rules, "reply_follows_rules", length_only, NAMESPACE)
    assert stub.status == "todo" and "not attempted" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "placeholder" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH04, "reply_follows_rules")


def test_reply_follows_rules_catches_an_exclusive_bound():
    result = checks.reply_follows_rules(lambda reply: 40 < len(reply) < 400 and "[" not in reply and "{" not in reply)
    assert result.status == "fail" and "both ends included" in str(result)


def test_bootstrap_ci():
    def min_and_max(values, n_resamples=1000, seed=0, level=0.95):
        return float(min(values)), float(max(values))

    stub, solution, wrong = verdicts(CH04, checks.bootstrap_ci, "bootstrap_ci", min_and_max, NAMESPACE)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "width 1.000" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH04, "bootstrap_ci")


def test_bootstrap_ci_without_the_seed_is_caught():
    def unseeded(values, n_resamples=1000, seed=0, level=0.95):
        return evals.bootstrap_ci(values, n_resamples=n_resamples, seed=np.random.randint(1_000_000), level=level)

    result = checks.bootstrap_ci(unseeded)
    assert result.status == "fail" and "same seed" in str(result)


def test_cohen_kappa():
    def raw_agreement(a, b):
        return sum(x == y for x, y in zip(a, b)) / len(a)

    stub, solution, wrong = verdicts(CH04, checks.cohen_kappa, "cohen_kappa", raw_agreement, NAMESPACE)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "always says pass" in str(wrong) and "raw agreement" in str(wrong)
    assert_no_solution_leak(wrong, CH04, "cohen_kappa")


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.cohen_kappa\(cohen_kappa\)"):
        checks.cohen_kappa(0.4)


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="4.3"):
        checks.cohen_kappa(lambda a, b: None)
