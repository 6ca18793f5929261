"""Chapter 01 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import numpy as np
import pytest

from aieng import checks, classic, data
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, load_function, verdicts

CH01 = "01_ml_workflow.ipynb"
pytestmark = pytest.mark.usefixtures("learner_mode")


@pytest.fixture(scope="module")
def router():
    """A small router like the chapter's (a stratified slice of train keeps the test fast)."""
    return classic.train_text_classifier(data.stratified_sample(data.load_tickets("train"), 250), C=1.0)


def test_labeling_cost():
    def in_minutes(n_labels, minutes_per_label, hourly_rate_usd, review_share=0.0):
        minutes = n_labels * minutes_per_label * (1 + review_share)
        return minutes, minutes * hourly_rate_usd

    stub, solution, wrong = verdicts(CH01, checks.labeling_cost, "labeling_cost", in_minutes)
    assert stub.status == "todo" and "not attempted" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "count of minutes" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH01, "labeling_cost")


def test_labeling_cost_forgetting_the_review():
    def no_review(n_labels, minutes_per_label, hourly_rate_usd, review_share=0.0):
        hours = n_labels * minutes_per_label / 60
        return hours, hours * hourly_rate_usd

    result = checks.labeling_cost(no_review)
    assert result.status == "fail" and "review_share=0.2" in str(result) and "same hours" in str(result)


def test_labeling_cost_wrong_shape_and_wrong_cost():
    assert "not a pair" in str(checks.labeling_cost(lambda n, m, r, review_share=0.0: n * m / 60))
    wrong_cost = checks.labeling_cost(lambda n, m, r, review_share=0.0: (n * m * (1 + review_share) / 60, n * r))
    assert wrong_cost.status == "fail" and "hourly rate" in str(wrong_cost)


def test_macro_f1():
    def accuracy(gold, predicted):
        return sum(g == p for g, p in zip(gold, predicted)) / len(gold)

    stub, solution, wrong = verdicts(CH01, checks.macro_f1, "macro_f1", accuracy)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "(accuracy)" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH01, "macro_f1")


def test_macro_f1_weighted_mean_and_division_by_zero():
    from sklearn.metrics import f1_score

    weighted = checks.macro_f1(lambda gold, predicted: f1_score(gold, predicted, average="weighted"))
    assert weighted.status == "fail" and "weighted" in str(weighted)

    def unguarded(gold, predicted):
        scores = []
        for intent in set(gold):
            right = sum(g == p == intent for g, p in zip(gold, predicted))
            precision, recall = right / predicted.count(intent), right / gold.count(intent)
            scores.append(2 * precision * recall / (precision + recall) if right else 0.0)
        return sum(scores) / len(scores)

    crashed = checks.macro_f1(unguarded)
    assert crashed.status == "fail" and "ZeroDivisionError" in str(crashed) and "never predicted" in str(crashed)
    assert checks.macro_f1(lambda g, p: f1_score(g, p, average="macro", zero_division=0)).passed


def test_macro_f1_agrees_with_scikit_learn_on_real_labels():
    from sklearn.metrics import f1_score

    solution = load_function("solutions", CH01, "macro_f1")
    gold = data.load_tickets("validation")["intent"].tolist()
    predicted = list(np.random.default_rng(0).choice(data.INTENTS, size=len(gold)))
    assert solution(gold, predicted) == pytest.approx(f1_score(gold, predicted, average="macro", zero_division=0))


def test_predict_intent(router):
    def returns_the_array(ticket_text):
        return router.predict([ticket_text])

    stub, solution, wrong = verdicts(CH01, checks.predict_intent, "predict", returns_the_array, {"router": router})
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "ndarray" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH01, "predict")


def test_predict_intent_bare_string_constant_and_unknown_label(router):
    bare = checks.predict_intent(lambda ticket_text: router.predict(ticket_text)[0])
    assert bare.status == "fail" and "raised ValueError" in str(bare) and "wrap it in [ ]" in str(bare)
    constant = checks.predict_intent(lambda ticket_text: "billing")
    assert constant.status == "fail" and "majority baseline" in str(constant)
    unknown = checks.predict_intent(lambda ticket_text: "Billing")
    assert unknown.status == "fail" and "not a queue" in str(unknown)


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.predict_intent\(predict\)"):
        checks.predict_intent("billing")
    with pytest.raises(TypeError, match=r"checks.labeling_cost\(labeling_cost\)"):
        checks.labeling_cost((1.0, 2.0))


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="1.2"):
        checks.macro_f1(lambda gold, predicted: None)
