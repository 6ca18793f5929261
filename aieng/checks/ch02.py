"""Checks for chapter 02 (product first: prompting a foundation model)."""

from __future__ import annotations

import math
from typing import Any, Callable

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["few_shot_messages", "parse_reply", "cost_per_1000_tickets", "queue_descriptions"]

_INSTRUCTIONS = "Route the Ledgerloop ticket to one queue."
_EXAMPLES = [("I was charged twice this month", '{"intent": "billing"}'),
             ("cant log in, code never arrives", '{"intent": "account_access"}'),
             ("please add a dark mode", '{"intent": "feature_request"}')]
_TICKETS = ("My bank feed stopped syncing on Monday.", "How do I add my logo to invoices?")


def _role_list(messages: list[dict[str, str]]) -> list[str]:
    return [m.get("role", "?") for m in messages]


def few_shot_messages(fn: Callable[[str, list[tuple[str, str]], str], list[dict[str, str]]]) -> Result:
    """Exercise 2.1: instructions first, then each example as a user and an assistant turn, the ticket last."""
    require_callable(fn, "few_shot_messages", "few_shot_messages")
    got = fn(_INSTRUCTIONS, list(_EXAMPLES), _TICKETS[0])
    if is_stub(got):
        return todo("2.1", "few_shot_messages")
    shown = f"few_shot_messages(instructions, {len(_EXAMPLES)} examples, ticket)"
    if not isinstance(got, list) or not all(isinstance(m, dict) for m in got):
        return fail("2.1", f"{shown} returned a {type(got).__name__}, not a list of dicts.",
                    hint="Return chat turns: [{'role': ..., 'content': ...}, ...].")
    want_roles = ["system"] + ["user", "assistant"] * len(_EXAMPLES) + ["user"]
    roles = _role_list(got)
    contents = [m.get("content") for m in got]
    if _TICKETS[0] in contents and contents.index(_TICKETS[0]) != len(got) - 1:
        return fail("2.1", f"{shown} puts the ticket in turn {contents.index(_TICKETS[0])} of {len(got)}, "
                    "before fixed text.",
                    hint="Everything that is the same for every ticket comes first; the ticket is the very last "
                         "turn, so the server can reuse the cached prefix.")
    if len(got) != len(want_roles):
        return fail("2.1", f"{shown} returned {len(got)} turns; with {len(_EXAMPLES)} examples there should be "
                    f"{len(want_roles)}.",
                    hint="One system turn, then two turns per example (the ticket, the answer), then the new ticket.")
    if roles != want_roles:
        return fail("2.1", f"{shown} returned roles {roles}.",
                    hint="An example is a user turn (its ticket) followed by an assistant turn (its answer), "
                         "so the model sees what a good answer looks like.")
    want_contents = [_INSTRUCTIONS] + [part for pair in _EXAMPLES for part in pair] + [_TICKETS[0]]
    wrong = [i for i, (have, want) in enumerate(zip(contents, want_contents)) if have != want]
    if wrong:
        i = wrong[0]
        return fail("2.1", f"{shown}: turn {i} ({roles[i]}) holds {str(contents[i])[:40]!r}, which is not the "
                    "text passed in for that turn, in that order.",
                    hint="Keep every text unchanged and the examples in the order given: a stable prefix is a "
                         "cacheable prefix.")
    other = fn(_INSTRUCTIONS, list(_EXAMPLES), _TICKETS[1])
    if not isinstance(other, list) or other[:-1] != got[:-1]:
        return fail("2.1", "Two different tickets gave messages that differ before the last turn.",
                    hint="Only the last turn may depend on the ticket.")
    return ok("2.1", "few_shot_messages puts the fixed instructions and examples first and the ticket last.")


def _reply(intent: str = "billing", priority: str = "normal", draft: str = "Hello, our Billing team will look at the double charge today.") -> str:
    import json

    return json.dumps({"intent": intent, "priority": priority, "draft_reply": draft})


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def parse_reply(fn: Callable[[str], Any]) -> Result:
    """Exercise 2.2: `fn(text)` returns the validated reply, or None for anything that breaks the schema."""
    from aieng.triage import DRAFT_REPLY_MAX_CHARS

    require_callable(fn, "parse_reply", "parse_reply")
    good = _reply()
    try:
        got = fn(good)
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        return fail("2.2", f"parse_reply raised {type(err).__name__} on a valid reply: {good!r}.",
                    hint="A valid reply should come back as the validated object.")
    if is_stub(got):
        return todo("2.2", "parse_reply")
    if _field(got, "intent") != "billing" or _field(got, "draft_reply") != "Hello, our Billing team will look at the double charge today.":
        return fail("2.2", f"parse_reply({good!r}) returned {got!r}, not the reply's fields.",
                    hint="Validate the text into TriageReply and return that object.")
    bad_cases = [
        ("an unknown queue", _reply(intent="refunds")),
        ("an unknown priority", _reply(priority="asap")),
        ("an empty draft reply", _reply(draft="")),
        (f"a draft reply longer than {DRAFT_REPLY_MAX_CHARS} characters", _reply(draft="x" * (DRAFT_REPLY_MAX_CHARS + 1))),
        ("a missing field", '{"intent": "billing", "priority": "normal"}'),
        ("JSON cut off at max_tokens", good[:30]),
        ("prose instead of JSON", "The queue is billing."),
    ]
    for what, text in bad_cases:
        try:
            flagged = fn(text)
        except Exception as err:  # noqa: BLE001
            return fail("2.2", f"On a reply with {what} ({text[:40]!r}), parse_reply raised {type(err).__name__} "
                        "instead of returning None.",
                        hint="Catch the validation error (pydantic.ValidationError covers bad JSON too) and "
                             "return None, so one bad reply flags a ticket instead of stopping the batch.")
        if flagged is not None:
            return fail("2.2", f"parse_reply accepted a reply with {what}: {text[:50]!r}.",
                        hint="Checking that the text parses as JSON is not enough: validate it against the "
                             "schema (TriageReply), which knows the queues, priorities and lengths.")
    return ok("2.2", "parse_reply returns valid replies and flags every broken one with None.")


_COST_CASES = [(480.0, 12.0, 0.15, 0.60), (1200.0, 40.0, 2.50, 10.00), (300.0, 8.0, 0.0, 0.0)]


def _cost(prompt_tokens: float, completion_tokens: float, usd_in: float, usd_out: float) -> float:
    return 1000 * (prompt_tokens * usd_in + completion_tokens * usd_out) / 1_000_000


def cost_per_1000_tickets(fn: Callable[[float, float, float, float], float]) -> Result:
    """Exercise 2.3: `fn(prompt_tokens, completion_tokens, usd_per_million_input, usd_per_million_output)`."""
    require_callable(fn, "cost_per_1000_tickets", "cost_per_1000_tickets")
    for prompt_tokens, completion_tokens, usd_in, usd_out in _COST_CASES:
        shown = f"cost_per_1000_tickets({prompt_tokens:g}, {completion_tokens:g}, {usd_in:g}, {usd_out:g})"
        got = fn(prompt_tokens, completion_tokens, usd_in, usd_out)
        if is_stub(got):
            return todo("2.3", "cost_per_1000_tickets")
        if not isinstance(got, (int, float)) or isinstance(got, bool) or not math.isfinite(got):
            return fail("2.3", f"{shown} returned {got!r}, not a number of dollars.",
                        hint="Return one float: the dollars for 1,000 tickets.")
        want = _cost(prompt_tokens, completion_tokens, usd_in, usd_out)
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12):
            continue
        if want and math.isclose(got, want / 1000, rel_tol=1e-6):
            return fail("2.3", f"{shown} returned {got:.6g}, a thousand times too little.",
                        hint="The token counts are per ticket; the question is about 1,000 tickets.")
        if want and math.isclose(got, want * 1_000_000, rel_tol=1e-6):
            return fail("2.3", f"{shown} returned {got:.6g}, a million times too much.",
                        hint="Prices are in dollars per million tokens.")
        if want and math.isclose(got, _cost(prompt_tokens, completion_tokens, usd_out, usd_in), rel_tol=1e-6):
            return fail("2.3", f"{shown} returned {got:.6g}: the input and output prices seem swapped.",
                        hint="Prompt tokens are billed at the input price, completion tokens at the output price.")
        return fail("2.3", f"{shown} returned {got:.6g} dollars, which does not match the token counts and prices.",
                    hint="Each ticket costs its prompt tokens times the input price plus its completion tokens "
                         "times the output price; mind the units.")
    return ok("2.3", "cost_per_1000_tickets prices prompt and completion tokens for 1,000 tickets.")


_LEAK_MIN_CHARS = 30  # a description line this long that appears verbatim in a held-out ticket was copied from it


def _held_out_texts() -> list[str]:
    from aieng import classic, data

    return [t.casefold() for split in ("validation", "test") for t in classic.ticket_text(data.load_tickets(split))]


def queue_descriptions(path: Any, *, shipped_version: str = "v1") -> Result:
    """Exercise 2.4: your queue descriptions route the validation split better than the shipped ones.

    Scores both with the zero-label embedding router on the validation split and reports the two
    accuracies. Not attempted while your file still holds the shipped descriptions."""
    from pathlib import Path

    from aieng import data, prompts, routers

    if is_stub(path):
        return todo("2.4", "MY_QUEUES")
    if not isinstance(path, (str, Path)):
        raise TypeError("Pass the path of your description file: checks.queue_descriptions(MY_QUEUES).")
    path = Path(path)
    if not path.exists():
        return fail("2.4", f"There is no file at {path}.", hint="Rerun the cell above: it copies the shipped "
                    "descriptions there for you to edit.")
    shipped = routers.DescriptionRouter.from_version(shipped_version)
    try:
        mine = routers.DescriptionRouter.from_file(path)
    except ValueError as err:
        return fail("2.4", f"Your file does not parse: {err}",
                    hint="Keep the front matter and write one or more '- queue: description' lines per queue, "
                         "with the queue names exactly as they are.")
    if mine.descriptions == shipped.descriptions:
        return todo("2.4", f"the descriptions in {path.name} (still the shipped ones)")
    held_out = _held_out_texts()
    for queue, lines in mine.descriptions.items():
        for line in lines:
            if len(line) >= _LEAK_MIN_CHARS and any(line.casefold() in text for text in held_out):
                return fail("2.4", f"The {queue} line {line[:50]!r}... is copied from a validation or test ticket.",
                            hint="Write from the train split only: a description copied from the tickets you "
                                 "measure on scores what it has seen, not what it will meet.")
    validation = data.load_tickets("validation")
    theirs, ours = routers.evaluate(mine, validation), routers.evaluate(shipped, validation)
    scores = (f"your descriptions route {theirs.accuracy:.3f} of the {len(validation)} validation tickets to the "
              f"right queue; the shipped {shipped.id} {ours.accuracy:.3f}")
    if theirs.accuracy <= ours.accuracy:
        return fail("2.4", f"No gain yet: {scores}.",
                    hint="Read the confusion between queues above and some train tickets of the queues that are "
                         "confused: describe each queue the way customers write about it, in more than one line "
                         "if it covers several problems.")
    return ok("2.4", f"{scores} ({theirs.accuracy - ours.accuracy:+.3f}).")
