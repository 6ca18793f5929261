"""Checks for chapter 00 (setup and first call)."""

from __future__ import annotations

from typing import Any, Callable

from openai.types.chat import ChatCompletion

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["build_messages", "reply_text"]

_SYSTEM = "You are a support assistant for Ledgerloop. Answer in one sentence."
_TICKET = "I was charged twice for March, can you help?"


def build_messages(fn: Callable[[str, str], list[dict[str, str]]]) -> Result:
    """Exercise 0.1: `fn(system_prompt, ticket)` returns the system turn, then the user turn."""
    require_callable(fn, "build_messages", "build_messages")
    got = fn(_SYSTEM, _TICKET)
    if is_stub(got):
        return todo("0.1", "build_messages")
    shown = f"build_messages({_SYSTEM[:24]!r}..., {_TICKET[:20]!r}...)"
    if not isinstance(got, list) or not all(isinstance(m, dict) for m in got):
        return fail("0.1", f"{shown} returned a {type(got).__name__}, not a list of dicts.",
                    hint="The chat API takes a list like [{'role': ..., 'content': ...}, ...].")
    if len(got) != 2:
        return fail("0.1", f"{shown} returned {len(got)} messages; the request needs exactly two turns.",
                    hint="One system turn with the instructions, one user turn with the ticket.")
    roles = [m.get("role") for m in got]
    if roles != ["system", "user"]:
        return fail("0.1", f"{shown} returned roles {roles}.",
                    hint="The instructions go in a 'system' turn first; the ticket is what the 'user' says.")
    if got[0].get("content") != _SYSTEM or got[1].get("content") != _TICKET:
        return fail("0.1", f"{shown} put the wrong text in a turn: {[m.get('content', '')[:30] for m in got]}.",
                    hint="Each turn's 'content' is the argument passed in, unchanged.")
    return ok("0.1", "build_messages puts the instructions in the system turn and the ticket in the user turn.")


def _completion(content: str, finish_reason: str) -> ChatCompletion:
    return ChatCompletion.model_validate({
        "id": "chatcmpl-check", "object": "chat.completion", "created": 0, "model": "check",
        "choices": [{"index": 0, "finish_reason": finish_reason,
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    })


def reply_text(fn: Callable[[Any], str]) -> Result:
    """Exercise 0.2: `fn(completion)` returns the reply text, and raises ValueError when it was cut off."""
    require_callable(fn, "reply_text", "reply_text")
    whole = _completion("Sorry about the double charge: we will refund it.", "stop")
    got = fn(whole)
    if is_stub(got):
        return todo("0.2", "reply_text")
    if not isinstance(got, str):
        return fail("0.2", f"reply_text(completion) returned a {type(got).__name__}, not the text.",
                    hint="The text is inside the first choice's message: completion.choices[0]...")
    if got != whole.choices[0].message.content:
        return fail("0.2", f"reply_text(completion) returned {got[:60]!r}, not the reply's text.",
                    hint="Return the message content itself, not a description of the completion.")
    cut = _completion("Sorry about the double charge: we will", "length")
    try:
        returned = fn(cut)
    except ValueError:
        return ok("0.2", "reply_text returns the text and refuses a reply cut off at max_tokens.")
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        return fail("0.2", f"For a reply cut off at max_tokens, reply_text raised {type(err).__name__}, not ValueError.",
                    hint="raise ValueError('...') with a message that says the reply was cut off.")
    return fail("0.2", f"A reply with finish_reason='length' came back as {returned!r} instead of raising.",
                hint="Look at completion.choices[0].finish_reason before returning the text.")
