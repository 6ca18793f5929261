"""Triage one support ticket with a prompted model: queue, priority and a draft reply, in one call.

    from aieng import backend, triage
    llm = backend.connect()
    result = triage.triage_ticket(llm.client, llm.model, "I was charged twice for March")
    result.intent, result.priority, result.draft_reply, result.latency_s

This is what chapter 02 builds in the open, packaged for the chapter 03 prototype: a versioned
prompt from `prompts/` as the system message (fixed text first, so the server reuses its cached
prefix), the ticket last, and a JSON schema that constrains the reply (the draft reply first, with
a maximum length; intent and priority are enums). Every reply is validated; a reply cut at
`max_tokens` or breaking the schema raises `ModelOutputError` instead of reaching a customer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aieng import data, prompts
from aieng.errors import ModelOutputError

__all__ = [
    "DEFAULT_PROMPT_VERSION", "DRAFT_REPLY_MAX_CHARS", "MAX_TICKET_CHARS", "MAX_TOKENS",
    "Triage", "TriageReply", "response_format", "triage_messages", "triage_ticket",
]

DEFAULT_PROMPT_VERSION = "v2"  # the version chapter 02 settles on (label descriptions + few-shot)
DRAFT_REPLY_MAX_CHARS = 300    # two or three sentences; bounds decode time and the reply a customer sees
MAX_TICKET_CHARS = 8000        # about 2,000 tokens: well inside the local model's context
MAX_TOKENS = 400               # > the JSON around a full draft even at one token per character (digits)


class TriageReply(BaseModel):
    """The reply's schema: a short draft reply, one queue, one priority (validated, bounded).

    The draft comes first because a model writes the fields in this order: it puts the ticket into
    words before it picks a queue. With the queue first, the 135M model answered most drafts with
    "no"; draft first, 15 of 21 gate tickets got a draft that follows the reply rules instead of 5,
    at the same queue accuracy."""

    model_config = ConfigDict(str_strip_whitespace=True)  # a reply of only spaces counts as empty

    draft_reply: str = Field(min_length=1, max_length=DRAFT_REPLY_MAX_CHARS,
                             description="A short, polite first reply to the customer.")
    intent: Literal[data.INTENTS]  # type: ignore[valid-type]
    priority: Literal[data.PRIORITIES]  # type: ignore[valid-type]


@dataclass(frozen=True)
class Triage:
    """One triaged ticket: the queue, priority and draft reply, and what produced them how fast."""

    intent: str
    priority: str
    draft_reply: str
    prompt_version: str
    model: str
    latency_s: float


def response_format() -> dict[str, Any]:
    """The `response_format` that constrains a reply to `TriageReply`'s JSON schema.

    `strict` stays off: some endpoints refuse keywords such as `maxLength` in strict mode. The
    local server constrains decoding to the schema either way, and every reply is validated here."""
    return {"type": "json_schema",
            "json_schema": {"name": "triage", "schema": TriageReply.model_json_schema(), "strict": False}}


def triage_messages(prompt_text: str, text: str) -> list[dict[str, str]]:
    """The chat turns: the fixed prompt first (system), the ticket last (user)."""
    return [{"role": "system", "content": prompt_text},
            {"role": "user", "content": f"Ticket: {text.strip()}"}]


def _validated(content: str) -> TriageReply:
    try:
        return TriageReply.model_validate_json(content)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in err.errors()[:3])
        raise ModelOutputError(
            f"The model's triage reply breaks the schema ({problems}): {content[:160]!r}. "
            "Retry, or use a larger model (set OPENAI_BASE_URL)."
        ) from err


def triage_ticket(client: openai.OpenAI, model: str, text: str, *,
                  prompt_version: str = DEFAULT_PROMPT_VERSION) -> Triage:
    """The queue, priority and a draft reply for one ticket, from one schema-constrained call.

    Temperature 0 and a fixed seed. Raises ValueError for an empty or over-long ticket and
    `ModelOutputError` when the reply was cut at max_tokens or breaks the schema."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The ticket is empty: paste the customer's message (subject and body).")
    if len(text) > MAX_TICKET_CHARS:
        raise ValueError(f"The ticket has {len(text)} characters; triage reads at most {MAX_TICKET_CHARS}. "
                         "Shorten it (quoted replies and signatures can go).")
    prompt = prompts.load("triage", prompt_version)
    started = time.perf_counter()
    completion = client.chat.completions.create(
        model=model, messages=triage_messages(prompt.text, text), response_format=response_format(),
        temperature=0, seed=0, max_tokens=MAX_TOKENS)
    latency_s = time.perf_counter() - started
    choice = completion.choices[0]
    content = choice.message.content or ""
    if choice.finish_reason == "length":
        raise ModelOutputError(
            f"The triage reply was cut off at max_tokens={MAX_TOKENS} ({len(content)} characters written), "
            f"so its JSON is incomplete: {content[:80]!r}... Retry, or use a larger model.")
    try:
        json.loads(content)
    except ValueError as err:
        raise ModelOutputError(f"The triage reply is not valid JSON ({err}): {content[:160]!r}.") from err
    reply = _validated(content)
    return Triage(intent=reply.intent, priority=reply.priority, draft_reply=reply.draft_reply,
                  prompt_version=prompt.version, model=completion.model or model, latency_s=latency_s)
