"""Triage one support ticket: a router picks the queue, the chat model drafts the reply.

    from aieng import backend, routers, triage
    llm = backend.connect()
    router = triage.shipped_router()                      # the router the evals picked (chapter 02)
    result = triage.triage_ticket(llm.client, llm.model, "I was charged twice for March", router=router)
    result.intent, result.priority, result.draft_reply, result.pipeline_id, result.latency_s

A triage pipeline is a router (`aieng.routers`) and a drafter (the chat model with a versioned
prompt from `prompts/`); its id names both, e.g. `embedding-lr:train-first-50 + triage-v2`. With
`router=None` the chat model also picks the queue, in the same call (`prompted:triage-v2`): chapter
02 measures that it cannot on the bundled model, and swaps the router.

The drafter's call puts the fixed prompt first (the server reuses its cached prefix), the ticket
last, and a JSON schema that constrains the reply (the draft first, with a maximum length; intent
and priority are enums, the intent fixed to the router's queue when there is a router). Every
reply is validated; a reply cut at `max_tokens` or breaking the schema raises `ModelOutputError`
instead of reaching a customer, and a draft that loops ("Sorry. Sorry. Sorry.") has its repeats
removed and is flagged (`draft_looped`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

import openai
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aieng import data, prompts, replies, routers
from aieng.errors import ModelOutputError

__all__ = [
    "DEFAULT_PROMPT_VERSION", "SHIPPED", "DRAFT_REPLY_MIN_CHARS", "DRAFT_REPLY_MAX_CHARS", "MAX_TICKET_CHARS", "MAX_TOKENS", "FREQUENCY_PENALTY",
    "Triage", "TriageReply", "response_format", "triage_messages", "triage_ticket", "pipeline_id",
    "shipped_router",
]

DEFAULT_PROMPT_VERSION = "v3"  # the drafting prompt the product ships once a router picks the queue (chapter 02)
SHIPPED = "shipped"            # router="shipped": the router the evals picked (prompts/router-choice.json)
DRAFT_REPLY_MIN_CHARS = 40     # a reply that says something: the regression gate's lower bound, enforced while decoding
DRAFT_REPLY_MAX_CHARS = 300    # two or three sentences; bounds decode time and the reply a customer sees
MAX_TICKET_CHARS = 8000        # about 2,000 tokens: well inside the local model's context
MAX_TOKENS = 400               # > the JSON around a full draft even at one token per character (digits)
FREQUENCY_PENALTY = 0.3        # discourages a small model's loops ("Sorry. Sorry. ...") without changing the schema


class TriageReply(BaseModel):
    """The reply's schema: a short draft reply, one queue, one priority (validated, bounded).

    The draft comes first because a model writes the fields in this order: it puts the ticket into
    words before it picks a queue. With the queue first, the 135M model answered most drafts with
    "no"; draft first, 15 of 21 gate tickets got a draft that follows the reply rules instead of 5,
    at the same queue accuracy."""

    model_config = ConfigDict(str_strip_whitespace=True)  # a reply of only spaces counts as empty

    draft_reply: str = Field(min_length=DRAFT_REPLY_MIN_CHARS, max_length=DRAFT_REPLY_MAX_CHARS,
                             description="A short, polite first reply to the customer.")
    intent: Literal[data.INTENTS]  # type: ignore[valid-type]
    priority: Literal[data.PRIORITIES]  # type: ignore[valid-type]


@dataclass(frozen=True)
class Triage:
    """One triaged ticket: the queue, priority and draft reply, and what produced them how fast.

    `router_id` is the router that picked the queue (`prompted:triage-<v>` when the chat model did),
    `route_score` its score (NaN when it has none), `latency_s` the whole pipeline's time."""

    intent: str
    priority: str
    draft_reply: str
    prompt_version: str
    model: str
    latency_s: float
    router_id: str = ""
    route_score: float = float("nan")
    draft_looped: bool = False

    @property
    def pipeline_id(self) -> str:
        """The router and the drafter's prompt, e.g. `embedding-zero:queues-v1 + triage-v2`."""
        return pipeline_id(self.router_id, self.prompt_version)


def pipeline_id(router_id: str, prompt_version: str) -> str:
    """`<router id> + triage-<version>`; just `prompted:triage-<v>` when the chat model routes with the same prompt."""
    if router_id in ("", f"prompted:triage-{prompt_version}"):
        return f"prompted:triage-{prompt_version}"
    return f"{router_id} + triage-{prompt_version}"


def shipped_router() -> routers.Router:
    """The router the product ships: the one chapter 02's evals picked (prompts/router-choice.json)."""
    return routers.from_spec(routers.load_choice()["chosen"])


_SHIPPED_ROUTER: list[routers.Router] = []
_tracer = trace.get_tracer("aieng.triage")  # a no-op until aieng.tracing.setup() registers a provider


def _shipped_router_cached() -> routers.Router:
    """The shipped router, built once per process (an embedding router embeds its descriptions once)."""
    if not _SHIPPED_ROUTER:
        router = shipped_router()
        router.route(["warm-up"])  # loads the embedding model now, so the first ticket's latency is the ticket's
        _SHIPPED_ROUTER.append(router)
    return _SHIPPED_ROUTER[0]


def response_format(queue: str | None = None) -> dict[str, Any]:
    """The `response_format` that constrains a reply to `TriageReply`'s JSON schema.

    With `queue`, the intent can only be that queue: the router decided, the model drafts for it.
    `strict` stays off: some endpoints refuse keywords such as `maxLength` in strict mode. The
    local server constrains decoding to the schema either way, and every reply is validated here."""
    schema = TriageReply.model_json_schema()
    if queue is not None:
        if queue not in data.INTENTS:
            raise ValueError(f"Unknown queue {queue!r}; the queues are: {', '.join(data.INTENTS)}.")
        schema["properties"]["intent"] = {"type": "string", "enum": [queue]}
    return {"type": "json_schema", "json_schema": {"name": "triage", "schema": schema, "strict": False}}


_EXAMPLE = re.compile(r"Ticket: (?P<ticket>.+)\nQueue: (?P<queue>\w+)\nPriority: (?P<priority>\w+)\nReply: (?P<reply>.+)")


def _example_turns(prompt_text: str) -> tuple[str, list[dict[str, str]]]:
    """Split a drafting prompt into its instructions and its examples as user/assistant turns.

    A small model copies the form of an assistant turn far more faithfully than an example
    described in the system text, so a prompt's `Ticket/Queue/Priority/Reply` examples become turns."""
    instructions, _, examples = prompt_text.partition("\nExamples:\n")
    turns: list[dict[str, str]] = []
    for match in _EXAMPLE.finditer(examples):
        turns.append({"role": "user", "content": f"Ticket: {match['ticket']}\nQueue: {match['queue']}"})
        answer = {"draft_reply": match["reply"], "intent": match["queue"], "priority": match["priority"]}
        turns.append({"role": "assistant", "content": json.dumps(answer)})
    return (instructions.strip() if turns else prompt_text), turns


def triage_messages(prompt_text: str, text: str, queue: str | None = None) -> list[dict[str, str]]:
    """The chat turns: the fixed prompt first (system, then its examples as turns), the ticket last
    (user), followed by the queue when a router chose it."""
    routed = f"\nQueue: {queue}" if queue else ""  # the router's decision, after the ticket: the fixed prefix stays cached
    instructions, examples = _example_turns(prompt_text)
    return [{"role": "system", "content": instructions}, *examples,
            {"role": "user", "content": f"Ticket: {text.strip()}{routed}"}]


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
                  prompt_version: str = DEFAULT_PROMPT_VERSION,
                  router: routers.Router | str | None = SHIPPED, ticket_id: str | None = None) -> Triage:
    """The queue, priority and a draft reply for one ticket: `router` picks the queue, one
    schema-constrained call drafts the reply (and picks the queue too when `router` is None).

    The default is the product: the router the evals picked and the shipped drafting prompt.
    `router=None` with a routing prompt (`prompt_version="v2"`) is chapter 02's prompted triage.

    Temperature 0 and a fixed seed. Raises ValueError for an empty or over-long ticket and
    `ModelOutputError` when the reply was cut at max_tokens or breaks the schema.

    Traced (chapter 07): one `triage.ticket` span with `ticket_id`, the pipeline and the outcome,
    holding a `router.route` span and the model call's span. Without `tracing.setup()` spans cost nothing."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The ticket is empty: paste the customer's message (subject and body).")
    if len(text) > MAX_TICKET_CHARS:
        raise ValueError(f"The ticket has {len(text)} characters; triage reads at most {MAX_TICKET_CHARS}. "
                         "Shorten it (quoted replies and signatures can go).")
    prompt = prompts.load("triage", prompt_version)
    if router == SHIPPED:
        router = _shipped_router_cached()
    elif isinstance(router, str):
        raise ValueError(f"router={router!r}: pass a router from aieng.routers, {SHIPPED!r} or None.")
    router_id = router.id if router is not None else f"prompted:triage-{prompt.version}"
    attributes = {"aieng.ticket_id": ticket_id or "", "aieng.prompt_version": f"triage-{prompt.version}",
                  "aieng.router_id": router_id, "aieng.pipeline_id": pipeline_id(router_id, prompt.version)}
    with _tracer.start_as_current_span("triage.ticket", attributes=attributes) as span:
        try:
            result = _triage(client, model, text, prompt, router)
        except ModelOutputError:
            span.set_attribute("aieng.outcome", "error")
            raise
        span.set_attributes({"aieng.outcome": "looped" if result.draft_looped else "ok", "aieng.intent": result.intent,
                             "aieng.priority": result.priority})
        return result


def _triage(client: openai.OpenAI, model: str, text: str, prompt: prompts.Prompt,
            router: routers.Router | None) -> Triage:
    started = time.perf_counter()
    route = None
    if router is not None:
        with _tracer.start_as_current_span("router.route") as span:
            route = router.route([text])[0]
            span.set_attributes({"route.queue": route.queue, "route.score": float(route.score)})
    queue = route.queue if route is not None else None
    completion = client.chat.completions.create(
        model=model, messages=triage_messages(prompt.text, text, queue), response_format=response_format(queue),
        temperature=0, seed=0, max_tokens=MAX_TOKENS, frequency_penalty=FREQUENCY_PENALTY)
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
    looped = replies.loops(reply.draft_reply)
    draft = replies.without_repeats(reply.draft_reply) if looped else reply.draft_reply
    if len(reply.draft_reply) >= DRAFT_REPLY_MAX_CHARS:  # stopped by the length limit, mid-sentence
        draft = replies.last_full_sentence(draft, min_chars=DRAFT_REPLY_MIN_CHARS)
    return Triage(intent=queue or reply.intent, priority=reply.priority, draft_reply=draft,  # the router decided
                  prompt_version=prompt.version, model=completion.model or model, latency_s=latency_s,
                  router_id=router.id if router is not None else f"prompted:triage-{prompt.version}",
                  route_score=route.score if route is not None else float("nan"), draft_looped=looped)
