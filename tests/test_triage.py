"""triage_ticket: a router picks the queue, the model drafts; a known queue, a bounded draft that does not
loop, clear errors on bad replies."""

from types import SimpleNamespace

import pytest

from aieng import data, prompts, replies, routers, triage
from aieng.errors import ModelOutputError

TICKET = "Hi, I was charged twice for my Growth plan this month. Can you refund one of them?"
DRAFT = "Thanks for writing in. Our billing team will look at the double charge and reply soon."


class _FixedRouter:
    """Routes every ticket to one queue (a test double for the router side of a pipeline)."""

    id, labels_used = "fixed:payroll", 0

    def route(self, texts):
        return [routers.Route("payroll", 0.9) for _ in texts]


@pytest.mark.model
def test_the_shipped_pipeline_gives_a_known_queue_priority_and_a_bounded_draft(llm):
    result = triage.triage_ticket(llm.client, llm.model, TICKET)
    assert isinstance(result, triage.Triage)
    assert result.intent in data.INTENTS
    assert result.priority in data.PRIORITIES
    assert triage.DRAFT_REPLY_MIN_CHARS <= len(result.draft_reply) <= triage.DRAFT_REPLY_MAX_CHARS
    assert not replies.repeats(result.draft_reply)
    assert result.prompt_version == triage.DEFAULT_PROMPT_VERSION
    assert result.router_id == routers.load_choice()["chosen_id"]
    assert result.pipeline_id == f"{result.router_id} + triage-{triage.DEFAULT_PROMPT_VERSION}"
    assert result.model and result.latency_s > 0


@pytest.mark.model
def test_the_router_decides_and_the_model_drafts_for_that_queue(llm):
    result = triage.triage_ticket(llm.client, llm.model, TICKET, router=_FixedRouter())
    assert result.intent == "payroll" and result.route_score == 0.9  # the router's decision, whatever the text says
    assert len(result.draft_reply) >= triage.DRAFT_REPLY_MIN_CHARS


@pytest.mark.model
def test_the_prompted_pipeline_records_its_version(llm):
    result = triage.triage_ticket(llm.client, llm.model, "cant log in again??", prompt_version="v1", router=None)
    assert result.prompt_version == "v1" and result.intent in data.INTENTS
    assert result.pipeline_id == "prompted:triage-v1"


def test_the_default_version_exists_and_the_fixed_prompt_comes_first():
    assert triage.DEFAULT_PROMPT_VERSION in prompts.versions("triage")
    messages = triage.triage_messages("FIXED", "the ticket")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == "FIXED" and messages[-1]["content"].endswith("the ticket")


def test_the_schema_bounds_every_free_string_and_lists_the_queues():
    schema = triage.response_format()["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"] == list(data.INTENTS)
    assert schema["properties"]["priority"]["enum"] == list(data.PRIORITIES)
    assert schema["properties"]["draft_reply"]["maxLength"] == triage.DRAFT_REPLY_MAX_CHARS
    assert list(schema["properties"]) == ["draft_reply", "intent", "priority"]  # write first, then decide
    assert triage.MAX_TOKENS > triage.DRAFT_REPLY_MAX_CHARS  # a full draft fits even at one token per character


class _FakeClient:
    """Answers every request with one fixed completion, to test the error paths without a model."""

    def __init__(self, content, finish_reason="stop"):
        message = SimpleNamespace(content=content)
        self.completion = SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason=finish_reason)],
                                          model="fake")
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))
        self.requests = []

    def create(self, **request):
        self.requests.append(request)
        return self.completion


def _reply(intent="billing", draft=DRAFT, priority="normal"):
    return f'{{"draft_reply": "{draft}", "intent": "{intent}", "priority": "{priority}"}}'


def test_the_request_is_schema_constrained_at_temperature_zero():
    client = _FakeClient(_reply())
    result = triage.triage_ticket(client, "fake", TICKET, prompt_version="v2", router=None)
    request = client.requests[0]
    assert request["temperature"] == 0 and request["response_format"]["type"] == "json_schema"
    assert request["messages"][0]["content"] == prompts.load("triage", "v2").text
    assert TICKET in request["messages"][-1]["content"]
    assert (result.intent, result.draft_reply, result.model) == ("billing", DRAFT, "fake")


def test_a_routed_request_fixes_the_queue_and_keeps_the_fixed_text_first():
    client = _FakeClient(_reply(intent="billing"))  # an endpoint that ignores the schema names another queue
    result = triage.triage_ticket(client, "fake", TICKET, router=_FixedRouter())
    request = client.requests[0]
    assert request["response_format"]["json_schema"]["schema"]["properties"]["intent"]["enum"] == ["payroll"]
    assert request["messages"][-1]["content"].endswith("Queue: payroll")
    fixed = triage.triage_messages(prompts.load("triage", "v3").text, "another ticket", "billing")[:-1]
    assert request["messages"][:-1] == fixed  # everything before the ticket is the same for every ticket
    assert [m["role"] for m in fixed[1:3]] == ["user", "assistant"]  # the prompt's examples became turns
    assert result.intent == "payroll" and result.pipeline_id == "fixed:payroll + triage-v3"


def test_a_looping_draft_is_cut_back_and_flagged():
    loop = "Sorry about that. " * 8 + "Sorry ab"
    result = triage.triage_ticket(_FakeClient(_reply(draft=loop.strip())), "fake", TICKET, router=_FixedRouter())
    assert result.draft_looped and result.draft_reply == "Sorry about that."
    clean = triage.triage_ticket(_FakeClient(_reply()), "fake", TICKET, router=_FixedRouter())
    assert not clean.draft_looped and clean.draft_reply == DRAFT


def test_loops_are_found_with_and_without_full_stops():
    assert replies.loops("We will help. We will help. We will help.")
    assert replies.loops("sorry about that sorry about that sorry about that sorry about that")
    assert not replies.loops(DRAFT)


def test_a_reply_cut_at_max_tokens_is_a_clear_error():
    client = _FakeClient('{"intent": "billing", "priority": "normal", "draft_reply": "Hello, we are so', "length")
    with pytest.raises(ModelOutputError, match="cut off at max_tokens"):
        triage.triage_ticket(client, "fake", TICKET, router=None)


@pytest.mark.parametrize("content, problem", [
    ('{"intent": "refunds", "priority": "normal", "draft_reply": "Hi"}', "intent"),
    ('{"intent": "billing", "priority": "normal", "draft_reply": "   "}', "draft_reply"),
    ('{"intent": "billing", "priority": "normal", "draft_reply": "Hello"}', "draft_reply"),  # under 40 characters
    ('{"intent": "billing", "priority": "normal", "draft_reply": "' + "x" * 301 + '"}', "draft_reply"),
    ('{"intent": "billing", "priority": "normal"}', "draft_reply"),
    ("Sure! The queue is billing.", "not valid JSON"),
])
def test_a_reply_that_breaks_the_schema_is_a_clear_error(content, problem):
    with pytest.raises(ModelOutputError, match=problem):
        triage.triage_ticket(_FakeClient(content), "fake", TICKET, prompt_version="v2", router=None)


@pytest.mark.parametrize("text, message", [("", "empty"), ("   ", "empty"), ("x" * 8001, "at most 8000")])
def test_bad_tickets_are_refused_before_any_call(text, message):
    client = _FakeClient("{}")
    with pytest.raises(ValueError, match=message):
        triage.triage_ticket(client, "fake", text)
    assert client.requests == []


def test_an_unknown_prompt_version_names_the_versions():
    with pytest.raises(ValueError, match="Versions: .*v1"):
        triage.triage_ticket(_FakeClient("{}"), "fake", TICKET, prompt_version="v9")


def test_a_loop_of_phrases_is_cut_at_its_second_start_and_a_cut_sentence_dropped():
    loop = "Thanks for the help. If you are unable to log in, if you are unable to log in, if you are unable to lo"
    assert replies.loops(loop)
    assert replies.without_repeats(loop) == "Thanks for the help."


def test_a_draft_stopped_by_the_length_limit_ends_at_its_last_full_sentence():
    long_draft = ("Thanks for writing in about the double charge on your account this month. " * 3
                  + "Our billing team will check it and send you a link to the new")[:triage.DRAFT_REPLY_MAX_CHARS]
    result = triage.triage_ticket(_FakeClient(_reply(draft=long_draft)), "fake", TICKET, router=_FixedRouter())
    assert result.draft_reply.endswith(".") and len(result.draft_reply) < len(long_draft)
