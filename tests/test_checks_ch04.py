"""Chapter 04 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import numpy as np
import pytest

from aieng import checks, evals
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import exercise_cell, load_function

CH04 = "04_evals.ipynb"
NAMESPACE = {"np": np, "evals": evals}


@pytest.fixture(autouse=True)
def learner_mode(monkeypatch):
    """Checks return their verdict instead of raising, as for a learner."""
    monkeypatch.delenv(STRICT_ENV, raising=False)


def _verdicts(check, name, wrong):
    stub = load_function("notebooks", CH04, name, NAMESPACE)
    solution = load_function("solutions", CH04, name, NAMESPACE)
    return check(stub), check(solution), check(wrong)


def _no_solution_leaks(result, name):
    solution_lines = [l.strip() for l in exercise_cell("solutions", CH04, name).splitlines()
                      if l.strip() and not l.strip().startswith(("#", "def ", "return", ")", "]", "}"))]
    for line in solution_lines:
        assert line not in str(result), f"feedback reveals the solution line {line!r}"


def test_reply_follows_rules():
    def length_only(reply):
        return 40 <= len(reply) <= 400

    stub, solution, wrong = _verdicts(checks.reply_follows_rules, "reply_follows_rules", length_only)
    assert stub.status == "todo" and "not attempted" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "placeholder" in str(wrong) and "Hint:" in str(wrong)
    _no_solution_leaks(wrong, "reply_follows_rules")


def test_reply_follows_rules_catches_an_exclusive_bound():
    result = checks.reply_follows_rules(lambda reply: 40 < len(reply) < 400 and "[" not in reply and "{" not in reply)
    assert result.status == "fail" and "both ends included" in str(result)


def test_bootstrap_ci():
    def min_and_max(values, n_resamples=1000, seed=0, level=0.95):
        return float(min(values)), float(max(values))

    stub, solution, wrong = _verdicts(checks.bootstrap_ci, "bootstrap_ci", min_and_max)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "width 1.000" in str(wrong) and "Hint:" in str(wrong)
    _no_solution_leaks(wrong, "bootstrap_ci")


def test_bootstrap_ci_without_the_seed_is_caught():
    def unseeded(values, n_resamples=1000, seed=0, level=0.95):
        return evals.bootstrap_ci(values, n_resamples=n_resamples, seed=np.random.randint(1_000_000), level=level)

    result = checks.bootstrap_ci(unseeded)
    assert result.status == "fail" and "same seed" in str(result)


def test_cohen_kappa():
    def raw_agreement(a, b):
        return sum(x == y for x, y in zip(a, b)) / len(a)

    stub, solution, wrong = _verdicts(checks.cohen_kappa, "cohen_kappa", raw_agreement)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "always says pass" in str(wrong) and "raw agreement" in str(wrong)
    _no_solution_leaks(wrong, "cohen_kappa")


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.cohen_kappa\(cohen_kappa\)"):
        checks.cohen_kappa(0.4)


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="4.3"):
        checks.cohen_kappa(lambda a, b: None)
