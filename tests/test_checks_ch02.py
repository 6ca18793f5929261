"""Chapter 02's checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import json

import pytest
from pydantic import ValidationError

from aieng import checks, data, triage
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, verdicts

CH02 = "02_prompting.ipynb"
NAMESPACE = {"TriageReply": triage.TriageReply, "ValidationError": ValidationError}
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_few_shot_messages():
    def ticket_first(instructions, examples, ticket):
        messages = [{"role": "system", "content": instructions}, {"role": "user", "content": ticket}]
        for example_ticket, answer in examples:
            messages += [{"role": "user", "content": example_ticket}, {"role": "assistant", "content": answer}]
        return messages

    stub, solution, wrong = verdicts(CH02, checks.few_shot_messages, "few_shot_messages", ticket_first, NAMESPACE)
    assert stub.status == "todo" and "not attempted" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "turn 1 of 8" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH02, "few_shot_messages")


def test_few_shot_messages_wants_answers_as_assistant_turns():
    def answers_as_user(instructions, examples, ticket):
        turns = [{"role": "user", "content": part} for pair in examples for part in pair]
        return [{"role": "system", "content": instructions}, *turns, {"role": "user", "content": ticket}]

    result = checks.few_shot_messages(answers_as_user)
    assert result.status == "fail" and "roles" in str(result) and "assistant turn" in str(result)


def test_parse_reply():
    stub, solution, wrong = verdicts(CH02, checks.parse_reply, "parse_reply", json.loads, NAMESPACE)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "accepted a reply with an unknown queue" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH02, "parse_reply")


def test_parse_reply_must_flag_rather_than_raise():
    result = checks.parse_reply(triage.TriageReply.model_validate_json)
    assert result.status == "fail" and "raised ValidationError instead of returning None" in str(result)


def test_cost_per_1000_tickets():
    def per_ticket(prompt_tokens, completion_tokens, usd_in, usd_out):
        return (prompt_tokens * usd_in + completion_tokens * usd_out) / 1_000_000

    stub, solution, wrong = verdicts(CH02, checks.cost_per_1000_tickets, "cost_per_1000_tickets", per_ticket, NAMESPACE)
    assert stub.status == "todo"
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "a thousand times too little" in str(wrong) and "Hint:" in str(wrong)
    assert_no_solution_leak(wrong, CH02, "cost_per_1000_tickets")


@pytest.mark.parametrize("wrong, message", [
    (lambda p, c, i, o: 1000 * (p * o + c * i) / 1e6, "prices seem swapped"),
    (lambda p, c, i, o: 1000 * (p * i + c * o), "a million times too much"),
    (lambda p, c, i, o: 1000 * (p + c) * i / 1e6, "does not match"),
    (lambda p, c, i, o: "0.08", "not a number"),
])
def test_cost_per_1000_tickets_names_the_slip(wrong, message):
    result = checks.cost_per_1000_tickets(wrong)
    assert result.status == "fail" and message in str(result)


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.parse_reply\(parse_reply\)"):
        checks.parse_reply(None)


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="2.3"):
        checks.cost_per_1000_tickets(lambda *args: None)


@pytest.mark.slow
def test_queue_descriptions(tmp_path, one_torch_thread):
    from aieng import prompts

    shipped = prompts.load("queues", "v1").path
    assert checks.queue_descriptions(...).status == "todo"
    untouched = tmp_path / "queues-mine.md"
    untouched.write_text(shipped.read_text(), encoding="utf-8")
    assert checks.queue_descriptions(untouched).status == "todo"  # copying the shipped text back is no attempt
    reordered = tmp_path / "queues-reordered.md"
    lines = shipped.read_text().splitlines()
    reordered.write_text("\n".join(lines[:5] + lines[5:][::-1]) + "\n", encoding="utf-8")
    assert checks.queue_descriptions(reordered).status == "todo"  # same descriptions, another order
    worse = tmp_path / "queues-worse.md"
    worse.write_text("\n".join(lines[:5] + [f"- {q}: {q}" for q in data.INTENTS]) + "\n", encoding="utf-8")
    result = checks.queue_descriptions(worse)
    assert result.status == "fail" and "No gain yet" in str(result) and "Hint:" in str(result)
    broken = tmp_path / "queues-broken.md"
    broken.write_text(shipped.read_text().replace("- payroll:", "- wages:"), encoding="utf-8")
    assert "does not parse" in str(checks.queue_descriptions(broken))
    solution = checks.queue_descriptions(prompts.load("queues", "v2").path)
    assert solution.passed, str(solution)


@pytest.mark.slow
def test_queue_descriptions_rejects_text_copied_from_held_out_tickets(tmp_path):
    from aieng import classic, prompts

    shipped = prompts.load("queues", "v1").path.read_text()
    ticket = classic.ticket_text(data.load_tickets("validation")).iloc[0]
    leaked = tmp_path / "queues-leaked.md"
    leaked.write_text(shipped.rstrip() + f"\n- billing: {ticket.splitlines()[-1][:60]}\n", encoding="utf-8")
    result = checks.queue_descriptions(leaked)
    assert result.status == "fail" and "copied from a validation or test ticket" in str(result)
