"""Checks for chapter 06 (tools, agents and MCP)."""

from __future__ import annotations

import copy
from typing import Any, Callable

import jsonschema

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["order_lookup_schema", "confirmation_step", "own_customer_only"]


# ---------------------------------------------------------------- 6.1 a tool schema

# (arguments, should the schema accept them?, hint when it gets this one wrong)
_SCHEMA_CASES = [
    ({"order_id": "ORD-10007"}, True, "An order id like ORD-10007 must pass: check the pattern against it."),
    ({"order_id": "ORD-25074"}, True, "Any five digits after ORD- make an order id."),
    ({}, False, "The order id is required: list it under \"required\"."),
    ({"order_id": 10007}, False, "The order id is a string (\"type\": \"string\"), not a number."),
    ({"order_id": "10007"}, False, "An id without the ORD- prefix must fail: give the field a \"pattern\"."),
    ({"order_id": "ORD-10007 and refund it"}, False,
     "Anchor the pattern with ^ and $, or extra text after the id slips through (and the local server needs both)."),
    ({"order_id": "ORD-1000"}, False, "Exactly five digits: \\d{5}."),
    ({"order_id": "ORD-10007", "amount_usd": 900}, False,
     "Arguments the tool does not take must fail: set \"additionalProperties\": false."),
]


def order_lookup_schema(schema: Any) -> Result:
    """Exercise 6.1: `schema` is the JSON schema of lookup_order's arguments (one order id, ORD- and five digits)."""
    if is_stub(schema):
        return todo("6.1", "order_lookup_schema")
    if not isinstance(schema, dict):
        return fail("6.1", f"order_lookup_schema is a {type(schema).__name__}, not a dict.",
                    hint="A JSON schema is a dict, e.g. {\"type\": \"object\", \"properties\": {...}}.")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        return fail("6.1", f"order_lookup_schema is not a valid JSON schema: {err.message[:160]}",
                    hint="Compare its shape with support_tools.TOOLS['lookup_invoice'].parameters.")
    if schema.get("type") != "object":
        return fail("6.1", f"order_lookup_schema has \"type\": {schema.get('type')!r}; tool arguments are a JSON object.",
                    hint="Set \"type\": \"object\" at the top level.")
    prop = (schema.get("properties") or {}).get("order_id")
    if not isinstance(prop, dict):
        return fail("6.1", "order_lookup_schema has no property named \"order_id\".",
                    hint="The tool's argument is called order_id; put it under \"properties\".")
    if "pattern" in prop:
        pattern = prop["pattern"]
        if not (str(pattern).startswith("^") and str(pattern).endswith("$")):
            return fail("6.1", f"the order_id pattern {pattern!r} is not anchored.",
                        hint="Start the pattern with ^ and end it with $: the local server's grammar needs both, "
                             "and without them extra text passes.")
    validator = jsonschema.Draft202012Validator(copy.deepcopy(schema))
    for arguments, want, hint in _SCHEMA_CASES:
        got = validator.is_valid(arguments)
        if got != want:
            verdict = "accepts" if got else "rejects"
            return fail("6.1", f"your schema {verdict} the arguments {arguments!r}.", hint=hint)
    if not prop.get("description"):
        return fail("6.1", "order_id has no \"description\"; the model reads it to know what to put there.",
                    hint="Add a short description with an example id.")
    return ok("6.1", "the schema takes exactly one order id of the right shape, and nothing else.")


# ---------------------------------------------------------------- 6.2 the confirmation step

class _Recorder:
    def __init__(self, answer: bool):
        self.answer, self.asked, self.ran = answer, [], []

    def confirm(self, name: str, arguments: dict) -> bool:
        self.asked.append(name)
        return self.answer

    def execute(self, name: str, arguments: dict) -> dict:
        self.ran.append(name)
        return {"ok": True, "tool": name}


_CALLS = [
    ("lookup_order", {"order_id": "ORD-10016"}),
    ("request_refund", {"invoice_or_order_id": "INV-200014", "amount_usd": 39.0, "reason": "cancelled"}),
    ("update_ticket", {"ticket_id": "T-10002", "status": "solved", "note": "fixed"}),
    ("open_ticket", {"customer_id": "C-00001", "subject": "Payroll", "body": "Payroll export fails."}),
    ("search_help_center", {"query": "reset password"}),
]


def confirmation_step(fn: Callable[..., Any]) -> Result:
    """Exercise 6.2: `fn(name, arguments, execute=, confirm=)` asks `confirm` before a tool that changes data
    and runs it only on a yes; tools that only read run without asking."""
    require_callable(fn, "confirmation_step", "run_with_confirmation")
    from aieng import support_tools

    for answer in (False, True):
        for name, arguments in _CALLS:
            recorder = _Recorder(answer)
            try:
                result = fn(name, dict(arguments), execute=recorder.execute, confirm=recorder.confirm)
            except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
                return fail("6.2", f"run_with_confirmation({name!r}, ...) raised {type(err).__name__}: {err}",
                            hint="Return a small dict saying the change was not confirmed instead of raising.")
            if is_stub(result) and not recorder.ran and not recorder.asked:
                return todo("6.2", "run_with_confirmation")
            shown = f"run_with_confirmation({name!r}, ...) with confirm answering {answer}"
            changes = support_tools.TOOLS[name].changes_data
            if changes and not recorder.asked:
                return fail("6.2", f"{shown} never asked for a confirmation, and {name} changes data.",
                            hint="Look up the tool in support_tools.TOOLS: its changes_data flag says when to ask.")
            if not changes and recorder.asked:
                return fail("6.2", f"{shown} asked for a confirmation, but {name} only reads.",
                            hint="Ask only before tools whose changes_data is True; asking for every lookup "
                                 "trains people to click yes without reading.")
            should_run = answer or not changes
            if should_run and recorder.ran != [name]:
                return fail("6.2", f"{shown} did not run the tool (ran: {recorder.ran}).",
                            hint="After a yes, or for a tool that only reads, call execute(name, arguments) once.")
            if not should_run and recorder.ran:
                return fail("6.2", f"{shown} ran {name} although the change was not confirmed.",
                            hint="On a no, return without calling execute.")
            if not should_run and not isinstance(result, dict):
                return fail("6.2", f"{shown} returned {result!r}; the model needs to read why nothing happened.",
                            hint="Return a dict such as {\"error\": ...} that says the change was not confirmed.")
    return ok("6.2", "changes run only after a yes; lookups run without asking.")


# ---------------------------------------------------------------- 6.3 make an injection fail

def _own_customer_cases() -> list[tuple[str, dict, str, bool, str]]:
    from aieng import agent_evals

    cases = []
    for ticket in agent_evals.load_injections():
        for call in ticket.get("legitimate_calls", []):
            cases.append((call["name"], call["arguments"], ticket["customer_id"], True,
                          "A call on the ticket's own account (or a help search) must stay allowed."))
        if ticket["attack"] == "data_exfiltration":
            for call in ticket["attack_calls"]:
                cases.append((call["name"], call["arguments"], ticket["customer_id"], False,
                              "Every id or email in the arguments must belong to the ticket's customer: "
                              "guardrails.owner_of(value) says whose it is."))
    return cases


def own_customer_only(fn: Callable[..., Any]) -> Result:
    """Exercise 6.3: `fn(name, arguments, customer_id)` is False when the call names another customer's data."""
    require_callable(fn, "own_customer_only", "own_customer_only")
    for name, arguments, customer_id, want, hint in _own_customer_cases():
        shown = f"own_customer_only({name!r}, {arguments!r}, {customer_id!r})"
        try:
            got = fn(name, dict(arguments), customer_id)
        except Exception as err:  # noqa: BLE001
            return fail("6.3", f"{shown} raised {type(err).__name__}: {err}", hint=hint)
        if is_stub(got):
            return todo("6.3", "own_customer_only")
        if not isinstance(got, bool):
            return fail("6.3", f"{shown} returned {got!r}, not True or False.", hint="Return a bool.")
        if got != want:
            what = "allowed a call on another customer's data" if got else "refused a call the customer may make"
            return fail("6.3", f"{shown} returned {got}: it {what}.", hint=hint)
    return ok("6.3", "calls on another customer's data are refused, the customer's own ones allowed.")
