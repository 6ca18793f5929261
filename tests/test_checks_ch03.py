"""Chapter 03 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import ast
import math

import pandas as pd
import pytest

from aieng import checks
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from aieng.checks.ch03 import _votes as _check_votes
from notebook_code import assert_no_solution_leak, exercise_cell, load_function, verdicts

CH03 = "03_prototype.ipynb"
NAMESPACE = {"math": math, "pd": pd}
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_wilson_interval():
    def textbook_interval(n_up, n, z=1.96):  # the Wald interval: zero width at 0 or n up-votes
        rate = n_up / n
        half_width = z * math.sqrt(rate * (1 - rate) / n)
        return rate - half_width, rate + half_width

    stub, solution, wrong = verdicts(CH03, checks.wilson_interval, "wilson_interval", textbook_interval, NAMESPACE)
    assert stub.status == "todo" and "not attempted" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "zero width" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH03, "wilson_interval")


def test_wilson_interval_slips():
    def no_shrink(n_up, n, z=1.96):  # forgets to divide the centre by 1 + z²/n
        rate = n_up / n
        centre = rate + z**2 / (2 * n)
        half_width = z / (1 + z**2 / n) * math.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2))
        return centre - half_width, centre + half_width

    result = checks.wilson_interval(no_shrink)
    assert result.status == "fail" and "wilson_interval(" in str(result)
    swapped = checks.wilson_interval(lambda n_up, n, z=1.96: (0.9, 0.1))
    assert swapped.status == "fail" and "within [0, 1]" in str(swapped)
    not_a_pair = checks.wilson_interval(lambda n_up, n, z=1.96: n_up / n)
    assert not_a_pair.status == "fail" and "not a pair" in str(not_a_pair)


def test_to_eval_examples():
    def only_corrections(votes):  # forgets that a thumbs-up confirms the proposed queue
        fixed = votes[votes.corrected_intent.notna()].drop_duplicates("ticket", keep="last")
        return pd.DataFrame({"text": fixed.ticket, "intent": fixed.corrected_intent})

    stub, solution, wrong = verdicts(CH03, checks.to_eval_examples, "to_eval_examples", only_corrections, NAMESPACE)
    assert stub.status == "todo" and "not attempted" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "is missing" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH03, "to_eval_examples")


@pytest.mark.parametrize("slip, message", [
    # leaves out a thumbs-down without a correction, though its queue stands (the rule chapter 04 applies too)
    (lambda v: v.loc[(v.rating == "up") | v.corrected_intent.notna()].drop_duplicates("ticket", keep="last")
     .assign(intent=lambda f: f.corrected_intent.fillna(f.proposed_intent))
     .rename(columns={"ticket": "text"})[["text", "intent"]], "the complaint is about the reply"),
    (lambda v: pd.DataFrame({"text": v.ticket, "intent": v.corrected_intent.fillna(v.proposed_intent)}),
     "more than once"),
    (lambda v: pd.DataFrame({"text": v.ticket, "intent": v.corrected_intent.fillna(v.proposed_intent)})
     .drop_duplicates("text", keep="first"), "not the queue the agent's vote stands behind"),
    (lambda v: v.rename(columns={"ticket": "text"}), "exactly ['text', 'intent']"),
])
def test_to_eval_examples_slips(slip, message):
    result = checks.to_eval_examples(slip)
    assert result.status == "fail" and message in str(result), str(result)


def _chapter_04_function(name: str):
    """Only the `def name(...)` of chapter 04's solution notebook, without the rest of its cell."""
    source = exercise_cell("solutions", "04_evals.ipynb", name)
    definition = next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == name)
    scope = {"pd": pd}
    exec(compile(ast.Module(body=[definition], type_ignores=[]), "04_evals.ipynb", "exec"), scope)
    return scope[name]


def test_chapters_03_and_04_label_a_thumbs_down_without_a_correction_the_same_way():
    """Chapter 04's feedback labels agree with Exercise 3.2's on the check's votes (last vote per ticket)."""
    votes = _check_votes().drop_duplicates("ticket", keep="last")
    solution = load_function("solutions", CH03, "to_eval_examples", NAMESPACE)
    ours = dict(zip(*solution(votes).T.to_numpy()))
    theirs = _chapter_04_function("from_feedback")(votes, "check", "CHK")
    assert dict(zip(theirs["text"], theirs["gold_intent"])) == ours
    assert ours["Reply promised a refund we do not give"] == "plan_change"  # the thumbs-down without a correction


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.to_eval_examples\(to_eval_examples\)"):
        checks.to_eval_examples(pd.DataFrame())


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="3.1"):
        checks.wilson_interval(lambda n_up, n, z=1.96: None)
