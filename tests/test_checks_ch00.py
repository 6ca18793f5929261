"""Every check: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import pytest

from aieng import checks
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, verdicts

CH00 = "00_setup.ipynb"
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_build_messages():
    def user_first(system_prompt, ticket):
        return [{"role": "user", "content": ticket}, {"role": "system", "content": system_prompt}]

    stub, solution, wrong = verdicts(CH00, checks.build_messages, "build_messages", user_first)
    assert stub.status == "todo" and "not attempted" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "roles ['user', 'system']" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH00, "build_messages")


def test_reply_text():
    def ignores_finish_reason(completion):
        return completion.choices[0].message.content

    stub, solution, wrong = verdicts(CH00, checks.reply_text, "reply_text", ignores_finish_reason)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "finish_reason='length'" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH00, "reply_text")


def test_reply_text_rejects_returning_the_whole_object():
    result = checks.reply_text(lambda completion: completion)
    assert result.status == "fail" and "not the text" in str(result)


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.build_messages\(build_messages\)"):
        checks.build_messages([{"role": "user", "content": "x"}])


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="0.1"):
        checks.build_messages(lambda system_prompt, ticket: None)
