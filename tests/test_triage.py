"""triage_ticket through the real backend: a known queue, a bounded draft, clear errors on bad replies."""

from types import SimpleNamespace

import pytest

from aieng import data, prompts, triage
from aieng.errors import ModelOutputError

TICKET = "Hi, I was charged twice for my Growth plan this month. Can you refund one of them?"


def test_a_ticket_gets_a_known_queue_priority_and_a_bounded_draft(llm):
    result = triage.triage_ticket(llm.client, llm.model, TICKET)
    assert isinstance(result, triage.Triage)
    assert result.intent in data.INTENTS
    assert result.priority in data.PRIORITIES
    assert 0 < len(result.draft_reply) <= triage.DRAFT_REPLY_MAX_CHARS
    assert result.prompt_version == triage.DEFAULT_PROMPT_VERSION
    assert result.model and result.latency_s > 0


def test_the_prompt_version_is_recorded(llm):
    result = triage.triage_ticket(llm.client, llm.model, "cant log in again??", prompt_version="v1")
    assert result.prompt_version == "v1" and result.intent in data.INTENTS


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


def test_the_request_is_schema_constrained_at_temperature_zero():
    client = _FakeClient('{"intent": "billing", "priority": "normal", "draft_reply": "Hello"}')
    result = triage.triage_ticket(client, "fake", TICKET)
    request = client.requests[0]
    assert request["temperature"] == 0 and request["response_format"]["type"] == "json_schema"
    assert request["messages"][0]["content"] == prompts.load("triage", triage.DEFAULT_PROMPT_VERSION).text
    assert TICKET in request["messages"][-1]["content"]
    assert (result.intent, result.draft_reply, result.model) == ("billing", "Hello", "fake")


def test_a_reply_cut_at_max_tokens_is_a_clear_error():
    client = _FakeClient('{"intent": "billing", "priority": "normal", "draft_reply": "Hello, we are so', "length")
    with pytest.raises(ModelOutputError, match="cut off at max_tokens"):
        triage.triage_ticket(client, "fake", TICKET)


@pytest.mark.parametrize("content, problem", [
    ('{"intent": "refunds", "priority": "normal", "draft_reply": "Hi"}', "intent"),
    ('{"intent": "billing", "priority": "normal", "draft_reply": "   "}', "draft_reply"),
    ('{"intent": "billing", "priority": "normal", "draft_reply": "' + "x" * 301 + '"}', "draft_reply"),
    ('{"intent": "billing", "priority": "normal"}', "draft_reply"),
    ("Sure! The queue is billing.", "not valid JSON"),
])
def test_a_reply_that_breaks_the_schema_is_a_clear_error(content, problem):
    with pytest.raises(ModelOutputError, match=problem):
        triage.triage_ticket(_FakeClient(content), "fake", TICKET)


@pytest.mark.parametrize("text, message", [("", "empty"), ("   ", "empty"), ("x" * 8001, "at most 8000")])
def test_bad_tickets_are_refused_before_any_call(text, message):
    client = _FakeClient("{}")
    with pytest.raises(ValueError, match=message):
        triage.triage_ticket(client, "fake", text)
    assert client.requests == []


def test_an_unknown_prompt_version_names_the_versions():
    with pytest.raises(ValueError, match="Versions: .*v1"):
        triage.triage_ticket(_FakeClient("{}"), "fake", TICKET, prompt_version="v9")
