"""Chapter 07 checks: "not attempted" for the stub, a pass for the solution, a specific hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import numpy as np
import pandas as pd
import pytest

from aieng import checks
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, verdicts

CH07 = "07_observability.ipynb"
NAMESPACE = {"np": np, "pd": pd}
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_tag_span():
    def tier_from_the_wrong_field(span, ticket):
        span.set_attribute("aieng.ticket_id", ticket["id"])
        span.set_attribute("customer.tier", ticket["channel"])

    stub, solution, wrong = verdicts(CH07, checks.tag_span, "tag_span", tier_from_the_wrong_field, NAMESPACE)
    assert stub.status == "todo" and "7.1" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "`customer.tier` is 'email'" in str(wrong)
    assert_no_solution_leak(wrong, CH07, "tag_span")


def test_tag_span_with_a_misspelt_name_or_a_new_span():
    result = checks.tag_span(lambda span, ticket: span.set_attribute("ticket_id", ticket["id"]))
    assert result.status == "fail" and "`aieng.ticket_id` is missing" in str(result)

    def new_span(span, ticket):
        from opentelemetry import trace
        with trace.get_tracer("x").start_as_current_span("other") as other:
            other.set_attribute("aieng.ticket_id", ticket["id"])
        return True

    result = checks.tag_span(new_span)
    assert result.status == "fail" and "no attributes" in str(result)


def test_slowest_step():
    def includes_the_root(spans):
        return spans.sort_values("duration_s")["name"].iloc[-1]

    stub, solution, wrong = verdicts(CH07, checks.slowest_step, "slowest_step", includes_the_root, NAMESPACE)
    assert stub.status == "todo" and "7.2" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "returned 'agent.run'" in str(wrong)
    assert "root span lasts as long as the whole request" in str(wrong)
    assert_no_solution_leak(wrong, CH07, "slowest_step")


def test_slowest_step_that_takes_the_last_to_start():
    result = checks.slowest_step(lambda spans: spans[spans["parent_id"].notna()].sort_values("start")["name"].iloc[-1])
    assert result.status == "fail" and "compare durations" in str(result)


def test_latency_alarm():
    def watches_the_slowest(latencies_s, threshold_s):
        return max(latencies_s) > threshold_s

    stub, solution, wrong = verdicts(CH07, checks.latency_alarm, "latency_alarm", watches_the_slowest, NAMESPACE)
    assert stub.status == "todo" and "7.3" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "One outlier in a hundred" in str(wrong)
    assert_no_solution_leak(wrong, CH07, "latency_alarm")


def test_latency_alarm_on_the_mean_or_at_the_threshold():
    result = checks.latency_alarm(lambda latencies_s, threshold_s: float(np.mean(latencies_s)) > threshold_s)
    assert result.status == "fail" and "the mean hides it" in str(result)
    result = checks.latency_alarm(lambda latencies_s, threshold_s: float(np.percentile(latencies_s, 95)) >= threshold_s)
    assert result.status == "fail" and "exactly the threshold" in str(result)
    with pytest.raises(TypeError, match=r"checks.latency_alarm\(latency_alarm\)"):
        checks.latency_alarm(True)


def test_a_failing_check_raises_under_the_test_run(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="7.3"):
        checks.latency_alarm(lambda latencies_s, threshold_s: True)
