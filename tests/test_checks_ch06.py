"""Chapter 06 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import pytest

from aieng import checks, guardrails, support_tools
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, load_function, verdicts

CH06 = "06_agents.ipynb"
NAMESPACE = {"support_tools": support_tools, "guardrails": guardrails}
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_order_lookup_schema():
    stub = load_function("notebooks", CH06, "order_lookup_schema", NAMESPACE)
    solution = load_function("solutions", CH06, "order_lookup_schema", NAMESPACE)
    unanchored = {"type": "object", "properties": {"order_id": {"type": "string", "pattern": r"ORD-\d{5}",
                                                                "description": "An order id."}},
                  "required": ["order_id"], "additionalProperties": False}
    assert checks.order_lookup_schema(stub).status == "todo" and "6.1" in str(checks.order_lookup_schema(stub))
    assert checks.order_lookup_schema(solution).passed
    wrong = checks.order_lookup_schema(unanchored)
    assert wrong.status == "fail" and "not anchored" in str(wrong) and "^" in wrong.hint
    assert_no_solution_leak(wrong, CH06, "order_lookup_schema")


@pytest.mark.parametrize("slip, says", [
    ({"type": "object", "properties": {"order_id": {"type": "string", "description": "x"}}, "required": ["order_id"],
      "additionalProperties": False}, "give the field a \"pattern\""),
    ({"type": "object", "properties": {"order_id": {"type": "string", "pattern": r"^ORD-\d{5}$", "description": "x"}},
      "additionalProperties": False}, "list it under \"required\""),
    ({"type": "object", "properties": {"order_id": {"type": "string", "pattern": r"^ORD-\d{5}$", "description": "x"}},
      "required": ["order_id"]}, "additionalProperties"),
    ({"type": "object", "properties": {"order_id": {"type": "string", "pattern": r"^ORD-\d+$", "description": "x"}},
      "required": ["order_id"], "additionalProperties": False}, "Exactly five digits"),
    ("ORD-10007", "not a dict"),
])
def test_order_lookup_schema_slips_get_their_own_hint(slip, says):
    result = checks.order_lookup_schema(slip)
    assert result.status == "fail" and says in str(result)


def test_confirmation_step():
    def asks_for_everything(name, arguments, *, execute, confirm):
        if not confirm(name, arguments):
            return {"error": "not confirmed"}
        return execute(name, arguments)

    stub, solution, wrong = verdicts(CH06, checks.confirmation_step, "run_with_confirmation", asks_for_everything,
                                     NAMESPACE)
    assert stub.status == "todo" and "6.2" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "only reads" in str(wrong) and "changes_data" in wrong.hint
    assert_no_solution_leak(wrong, CH06, "run_with_confirmation")


def test_confirmation_step_that_never_asks_or_ignores_a_no():
    never_asks = checks.confirmation_step(lambda name, arguments, *, execute, confirm: execute(name, arguments))
    assert never_asks.status == "fail" and "never asked" in str(never_asks)

    def ignores_no(name, arguments, *, execute, confirm):
        if support_tools.TOOLS[name].changes_data:
            confirm(name, arguments)
        return execute(name, arguments)

    result = checks.confirmation_step(ignores_no)
    assert result.status == "fail" and "although the change was not confirmed" in str(result)


def test_own_customer_only():
    def ids_only(name, arguments, customer_id):  # forgets that an email names an account too
        values = [v for k, v in arguments.items() if k.endswith("_id")]
        return all(guardrails.owner_of(v) == customer_id for v in values)

    stub, solution, wrong = verdicts(CH06, checks.own_customer_only, "own_customer_only", ids_only, NAMESPACE)
    assert stub.status == "todo" and "6.3" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "returned True" in str(wrong) and "owner_of" in wrong.hint
    assert_no_solution_leak(wrong, CH06, "own_customer_only")


def test_own_customer_only_that_refuses_everything():
    result = checks.own_customer_only(lambda name, arguments, customer_id: False)
    assert result.status == "fail" and "refused a call the customer may make" in str(result)


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.own_customer_only\(own_customer_only\)"):
        checks.own_customer_only(True)


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="6.1"):
        checks.order_lookup_schema(None)
