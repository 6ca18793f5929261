"""The serving layer on its users' worst day: bad requests, schemas it cannot hold, slow and vanishing
clients, a classroom's network. A scripted model stands in for llama.cpp (tests/scripted_model.py), so
these run in seconds and need no model server; tests/test_serving.py proves the same paths on the model."""

import json
import socket
import threading
import time

import httpx
import pytest

from aieng import serving
from scripted_model import ScriptedLlama, running_app

ORDER_TOOL = {"type": "function", "function": {
    "name": "lookup_order", "description": "Look up an order by its id.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{5}$"}},
                   "required": ["order_id"]}}}
USER = [{"role": "user", "content": "Where is my order ORD-12345?"}]


def post(root, body, *, headers=None, timeout=10):
    return httpx.post(f"{root}/v1/chat/completions", json=body, headers=headers, timeout=timeout)


def assert_openai_error(reply, status, *, param=None, words=()):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    if param is not None:
        assert error.get("param") == param, error
    for word in words:
        assert word in error["message"], error["message"]
    return error


# ---------------------------------------------------------------- the error contract

@pytest.mark.parametrize("body, param", [
    ({"messages": USER, "response_format": {"type": "yaml"}}, "response_format.type"),
    ({"messages": ["hello"]}, "messages[0]"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": []}, "messages"),
    ({"model": "x"}, "messages"),
    ({"messages": USER, "temperature": "warm"}, "temperature"),
    ({"messages": USER, "tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0].function.name"),
])
def test_malformed_requests_get_a_400_that_names_the_parameter(monkeypatch, body, param):
    with running_app(monkeypatch) as root:
        assert_openai_error(post(root, body), 400, param=param)


def test_a_body_that_is_not_an_object_is_a_400(monkeypatch):
    with running_app(monkeypatch) as root:
        assert_openai_error(httpx.post(f"{root}/v1/chat/completions", content=b"[1, 2]",
                                       headers={"Content-Type": "application/json"}), 400)
        assert_openai_error(httpx.post(f"{root}/v1/chat/completions", content=b"{not json",
                                       headers={"Content-Type": "application/json"}), 400, words=("JSON",))


def test_max_tokens_below_one_is_a_400_and_a_huge_one_is_clamped_to_the_context(monkeypatch):
    with running_app(monkeypatch, n_ctx=512) as root:
        assert_openai_error(post(root, {"messages": USER, "max_tokens": -1}), 400, param="max_tokens")
        assert post(root, {"messages": USER, "max_tokens": 10**9}).status_code == 200
    asked = ScriptedLlama.latest.calls[-1]["max_tokens"]
    assert 0 < asked < 512, f"the model was asked for {asked} tokens"


def test_a_tool_choice_without_tools_or_with_an_unknown_tool_is_a_400(monkeypatch):
    named = {"type": "function", "function": {"name": "refund"}}
    with running_app(monkeypatch) as root:
        assert_openai_error(post(root, {"messages": USER, "tool_choice": named}), 400, param="tool_choice")
        assert_openai_error(post(root, {"messages": USER, "tools": [ORDER_TOOL], "tool_choice": named}), 400,
                            param="tool_choice", words=("refund", "lookup_order"))
        assert_openai_error(post(root, {"messages": USER, "n": 2}), 400, param="n", words=("one choice",))


def test_a_selection_step_naming_a_tool_it_was_not_given_falls_back_instead_of_failing(monkeypatch):
    def script(call):  # the selection step's grammar lists tool names; the arguments' grammar has order_id
        return '{"order_id": "ORD-12345"}' if "order_id" in str(call["grammar"]) else '{"tool": "refund"}'

    with running_app(monkeypatch, script) as root:
        reply = post(root, {"messages": USER, "tools": [ORDER_TOOL], "tool_choice": "required"})
    assert reply.status_code == 200, reply.text
    call = reply.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup_order" and json.loads(call["function"]["arguments"])


def test_an_unknown_path_answers_in_openai_shape(monkeypatch):
    with running_app(monkeypatch) as root:
        reply = httpx.get(f"{root}/v1/embeddings")
    assert "error" in reply.json(), reply.text
    assert_openai_error(reply, 404, words=("/v1/chat/completions",))


# ---------------------------------------------------------------- schemas: never a silent fallback

SCORE_SCHEMA = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
                "required": ["score"]}


def as_format(schema):
    return {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}


@pytest.mark.parametrize("schema, why", [
    ({"type": "object", "properties": {"id": {"type": "string", "pattern": "ORD-[0-9]{5}"}}}, "^"),  # not anchored
    ({"type": "object", "properties": {"when": {"type": "datetime"}}}, "valid JSON schema"),
    ({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}, "grammar"),
])
def test_a_schema_the_grammar_cannot_hold_is_refused_before_any_generation(monkeypatch, schema, why):
    with running_app(monkeypatch, '{"id": "anything at all"}') as root:
        reply = post(root, {"messages": USER, "response_format": as_format(schema)})
        assert_openai_error(reply, 400, words=(why,))
    assert ScriptedLlama.latest.calls == [], "the model generated under a loosened grammar"


def test_a_tool_whose_parameters_cannot_become_a_grammar_is_refused(monkeypatch):
    tool = {"type": "function", "function": {"name": "find", "parameters": {
        "type": "object", "properties": {"id": {"type": "string", "pattern": "[0-9]+"}}}}}
    with running_app(monkeypatch, '{"id": "x"}') as root:
        reply = post(root, {"messages": USER, "tools": [tool], "tool_choice": "required"})
    assert_openai_error(reply, 400, param="tools[0].function.parameters")


def test_a_reply_that_breaks_the_schema_never_reaches_the_client(monkeypatch):
    """The grammar does not enforce `maximum`: a 7 must not arrive as if it were valid."""
    with running_app(monkeypatch, '{"score": 7}') as root:
        reply = post(root, {"messages": USER, "response_format": as_format(SCORE_SCHEMA)})
        error = assert_openai_error(reply, 422, words=("score", "maximum"))
        assert error["code"] == "reply_breaks_schema"
    with running_app(monkeypatch, '{"score": 4}') as root:
        reply = post(root, {"messages": USER, "response_format": as_format(SCORE_SCHEMA)})
        assert reply.status_code == 200 and json.loads(reply.json()["choices"][0]["message"]["content"]) == {"score": 4}


def test_tool_arguments_are_checked_against_the_tool_schema(monkeypatch):
    tool = {"type": "function", "function": {"name": "rate", "parameters": SCORE_SCHEMA}}
    with running_app(monkeypatch, '{"score": 9}') as root:
        reply = post(root, {"messages": USER, "tools": [tool],
                            "tool_choice": {"type": "function", "function": {"name": "rate"}}})
    assert_openai_error(reply, 422, words=("rate", "maximum"))


def test_a_reply_cut_at_max_tokens_is_returned_with_finish_reason_length(monkeypatch):
    """Cut JSON is not valid; the client learns why from finish_reason, as with OpenAI."""
    with running_app(monkeypatch, '{"score": 4, "note": "a long note that goes on"}') as root:
        reply = post(root, {"messages": USER, "max_tokens": 2, "response_format": as_format(SCORE_SCHEMA)})
    assert reply.status_code == 200 and reply.json()["choices"][0]["finish_reason"] == "length"


# ---------------------------------------------------------------- streaming

def test_a_streaming_request_that_cannot_start_fails_before_the_first_byte(monkeypatch):
    long_message = [{"role": "user", "content": "word " * 600}]  # 600 tokens for a 512-token context
    with running_app(monkeypatch, n_ctx=512) as root:
        with httpx.stream("POST", f"{root}/v1/chat/completions", timeout=10,
                          json={"messages": long_message, "stream": True}) as reply:
            try:
                reply.read()
            except httpx.RemoteProtocolError:
                pytest.fail(f"the stream began with {reply.status_code} and then broke off")
    assert reply.status_code == 400 and "text/event-stream" not in reply.headers.get("content-type", "")
    assert "context" in reply.json()["error"]["message"]


def test_a_stream_carries_text_usage_and_done(monkeypatch):
    with running_app(monkeypatch, "one two three") as root:
        with httpx.stream("POST", f"{root}/v1/chat/completions", timeout=10,
                          json={"messages": USER, "stream": True, "stream_options": {"include_usage": True}}) as reply:
            events = [line.removeprefix("data: ") for line in reply.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "one two three"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_a_stream_that_runs_past_its_deadline_ends_with_an_error_the_client_raises(monkeypatch):
    import openai

    with running_app(monkeypatch, " ".join(["word"] * 100), delay_s=0.05, deadline_s=1.0) as root:
        client = openai.OpenAI(base_url=f"{root}/v1", api_key="local", max_retries=0)
        pieces = []
        with pytest.raises(openai.APIError, match="deadline"):
            for chunk in client.chat.completions.create(model="scripted", messages=USER, stream=True, max_tokens=200):
                pieces.append(chunk.choices[0].delta.content or "")
    assert 5 < len(pieces) < 50  # it streamed, then stopped at the deadline


# ---------------------------------------------------------------- slow, stalled and departed clients

def raw_request(root, body: dict) -> socket.socket:
    """Send a request over a bare socket and read nothing back (a client that stalls)."""
    host, port = root.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    return sock


def test_a_stalled_stream_reader_does_not_hold_the_model(monkeypatch):
    """One learner's notebook stops reading mid-stream: everyone else is still answered."""
    big_reply = " ".join(["x" * 40_000] * 400)  # 16 MB of text: more than the socket buffers hold
    with running_app(monkeypatch, lambda call: big_reply if len(call["prompt"]) > 20 else "hi", n_ctx=4096) as root:
        stalled = raw_request(root, {"messages": [{"role": "user", "content": "long " * 30}], "stream": True,
                                     "max_tokens": 1000})
        try:
            time.sleep(0.5)
            started = time.monotonic()
            try:
                reply = post(root, {"messages": USER, "max_tokens": 5}, timeout=8)
            except httpx.TimeoutException:
                pytest.fail("a request waited 8 s behind a client that stopped reading its stream")
            assert reply.status_code == 200 and time.monotonic() - started < 5
        finally:
            stalled.close()


def test_a_client_that_leaves_gives_its_turn_back(monkeypatch):
    with running_app(monkeypatch, " ".join(["word"] * 200), delay_s=0.05) as root:  # 10 s of generation
        leaving = raw_request(root, {"messages": USER, "max_tokens": 300})
        time.sleep(0.5)
        leaving.close()
        started = time.monotonic()
        reply = post(root, {"messages": USER, "max_tokens": 3}, timeout=15)
        waited_s = time.monotonic() - started
    assert reply.status_code == 200
    assert waited_s < 3, f"the next request waited {waited_s:.1f} s for a reply nobody would read"
    assert ScriptedLlama.latest.n_generated < 100  # the departed client's generation stopped early


def test_a_request_past_its_deadline_gets_a_504_and_frees_the_model(monkeypatch):
    with running_app(monkeypatch, " ".join(["word"] * 200), delay_s=0.05, deadline_s=1.0) as root:
        started = time.monotonic()
        reply = post(root, {"messages": USER, "max_tokens": 300})
        assert time.monotonic() - started < 3
        assert_openai_error(reply, 504, words=("deadline",))
        health = httpx.get(f"{root}/health").json()
    assert health["busy_s"] == 0 and health["queue"] == 0


def test_health_shows_the_queue_and_the_code_hash(monkeypatch):
    with running_app(monkeypatch, " ".join(["word"] * 12), delay_s=0.05, code_hash="abc123") as root:
        threads = [threading.Thread(target=post, args=(root, {"messages": USER})) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        busy = httpx.get(f"{root}/health").json()
        for thread in threads:
            thread.join()
        idle = httpx.get(f"{root}/health").json()
    assert busy["queue"] == 2 and busy["busy_s"] > 0 and busy["code_hash"] == "abc123"
    assert idle["queue"] == 0 and idle["served"] == 3


def test_requests_get_the_model_in_arrival_order(monkeypatch):
    finished = []

    def ask(i):
        post(root, {"messages": [{"role": "user", "content": f"ticket {i}"}]})
        finished.append(i)

    with running_app(monkeypatch, " ".join(["word"] * 4), delay_s=0.05) as root:
        threads = []
        for i in range(5):
            threads.append(threading.Thread(target=ask, args=(i,)))
            threads[-1].start()
            time.sleep(0.05)  # each arrives while the one before waits or runs
        for thread in threads:
            thread.join()
    assert finished == sorted(finished), f"served out of order: {finished}"


def test_a_full_queue_is_told_to_retry(monkeypatch):
    with running_app(monkeypatch, " ".join(["word"] * 12), delay_s=0.05, max_queue=1) as root:
        threads = [threading.Thread(target=post, args=(root, {"messages": USER})) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        reply = post(root, {"messages": USER})
        for thread in threads:
            thread.join()
    assert_openai_error(reply, 503, words=("busy",))
    assert reply.headers["retry-after"]


# ---------------------------------------------------------------- who may ask (tested over loopback only)

def test_a_classroom_server_wants_the_key_json_and_its_own_host_name(monkeypatch):
    with running_app(monkeypatch, api_key="room-key", allowed_hosts=serving.allowed_hosts("0.0.0.0")) as root:
        assert_openai_error(post(root, {"messages": USER}), 401, words=("OPENAI_API_KEY",))
        assert_openai_error(post(root, {"messages": USER}, headers={"Authorization": "Bearer wrong"}), 401)
        assert_openai_error(httpx.get(f"{root}/v1/models"), 401)
        key = {"Authorization": "Bearer room-key"}
        assert post(root, {"messages": USER}, headers=key).status_code == 200
        assert httpx.get(f"{root}/v1/models", headers=key).status_code == 200
        # A web page may post text/plain without asking first (no CORS preflight): refused.
        plain = httpx.post(f"{root}/v1/chat/completions", content=json.dumps({"messages": USER}),
                           headers={**key, "Content-Type": "text/plain"})
        assert_openai_error(plain, 415, words=("application/json",))
        # A name that resolves to this machine but is not one of its names (DNS rebinding): refused.
        rebound = post(root, {"messages": USER}, headers={**key, "Host": "attacker.example"})
        assert_openai_error(rebound, 421, words=("attacker.example", "--allow-host"))
        assert httpx.get(f"{root}/health").json()["needs_key"] is True


def test_a_loopback_server_refuses_web_pages_too(monkeypatch):
    with running_app(monkeypatch) as root:
        plain = httpx.post(f"{root}/v1/chat/completions", content=json.dumps({"messages": USER}),
                           headers={"Content-Type": "text/plain"})
        assert_openai_error(plain, 415)
        assert_openai_error(post(root, {"messages": USER}, headers={"Host": "attacker.example"}), 421)
        assert post(root, {"messages": USER}, headers={"Host": "localhost"}).status_code == 200


def test_classroom_host_names_are_this_machines_own():
    names = serving.allowed_hosts("0.0.0.0", ["llm.classroom.lan"])
    assert {"127.0.0.1", "localhost", socket.gethostname().lower(), "llm.classroom.lan"} <= set(names)
    assert "0.0.0.0" not in names
    assert serving.allowed_hosts("127.0.0.1") == tuple(sorted(serving.LOOPBACK_NAMES))
    assert serving.is_loopback("127.0.0.1") and serving.is_loopback("::1") and serving.is_loopback("localhost")
    assert not serving.is_loopback("0.0.0.0") and not serving.is_loopback("10.1.2.3")
