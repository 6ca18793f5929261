"""A room on one server: llama.cpp's `llama-server` serving the course model (docs/classroom.md).

The quick tests (no model) cover the command line, the key rules and the shared load helper
against a small loopback stand-in. The tests marked `classroom` start the llama-server that
`make llama-server` builds, on a free loopback port behind a key, and run chapter 00 and the
triage pipeline through it with the environment variables only, check that a wrong key gets the
course client's clear 401, and measure how many concurrent learners it holds beside the course's
own server. They are left out of `make test` (the build takes minutes): `make test-classroom`
builds what is missing and runs them; under CI=true a missing binary is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import openai
import pytest
from nbclient import NotebookClient

from aieng import backend, call_replay, classroom, data, local_server, retrieval, triage
from aieng.errors import EndpointAuthError, ServerNotInstalled
from conftest import ci_skip, stop_process_group

ROOT = Path(__file__).resolve().parents[1]

# The load sweep: each level of concurrent learners for at most LOAD_S seconds and MAX_PER_LEARNER requests each.
LEVELS = (1, 4, 8, 16)
LOAD_S = 30.0
MAX_PER_LEARNER = 8
DECODE_REQUESTS, DECODE_TOKENS = 8, 128  # plain decoding throughput: 8 requests at once
LIMIT_S = 15.0  # the median reply within this while every learner sends one after another: the room "holds"


# Quick tests: no model ---------------------------------------------------------------------------------------


def test_the_key_never_appears_on_the_command_line(tmp_path, monkeypatch):
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv(classroom.BINARY_ENV, str(binary))
    monkeypatch.setenv("AIENG_API_KEY", "sekrit-key-123")
    command = classroom.llama_server_command(8099)
    assert command[0] == str(binary) and "sekrit-key-123" not in " ".join(command) and "--api-key" not in command
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--parallel") + 1] == str(classroom.PARALLEL)
    assert command[command.index("--alias") + 1] == local_server.served_name()  # notebooks pick the same name
    assert Path(command[command.index("--model") + 1]) == local_server.model_path()
    assert classroom._key_env("sekrit-key-123")["LLAMA_API_KEY"] == "sekrit-key-123"
    monkeypatch.setenv("LLAMA_API_KEY", "left-over")
    assert "LLAMA_API_KEY" not in classroom._key_env("")  # no key asked: no stale one inherited either


def test_a_missing_llama_server_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv(classroom.BINARY_ENV, raising=False)
    monkeypatch.setattr(classroom, "ROOT", tmp_path)
    with pytest.raises(ServerNotInstalled, match="make llama-server"):
        classroom.llama_server_binary()
    monkeypatch.setenv(classroom.BINARY_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ServerNotInstalled, match=classroom.BINARY_ENV):
        classroom.llama_server_binary()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7"])
def test_serving_the_network_needs_a_key(monkeypatch, host):
    monkeypatch.delenv("AIENG_API_KEY", raising=False)
    monkeypatch.setattr(classroom.os, "execve", lambda *a: pytest.fail("started without a key"))
    with pytest.raises(SystemExit, match="AIENG_API_KEY"):
        classroom.serve(host, 8099)


def test_loopback_serves_without_a_key(monkeypatch, tmp_path):
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv(classroom.BINARY_ENV, str(binary))
    monkeypatch.delenv("AIENG_API_KEY", raising=False)
    started = []
    monkeypatch.setattr(classroom.os, "execve", lambda path, argv, env: started.append((argv, env)))
    classroom.serve("127.0.0.1", 8099)
    (argv, env), = started
    assert argv[argv.index("--port") + 1] == "8099" and "LLAMA_API_KEY" not in env


class _StandIn(BaseHTTPRequestHandler):
    """A loopback chat endpoint: every request takes DELAY_S; the Nth answers with STATUS instead (OpenAI's shape)."""

    DELAY_S, EVERY, STATUS, count, lock = 0.2, 3, 503, 0, threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with _StandIn.lock:
            _StandIn.count += 1
            n = _StandIn.count
        time.sleep(self.DELAY_S)
        if n % self.EVERY == 0:
            body = {"error": {"message": "The server is busy: retry in a few seconds.", "type": "busy"}}
            status = self.STATUS
        else:
            body, status = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": "{}"}}],
                            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}, 200
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in():
    _StandIn.count = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_load_helper_is_bounded_and_counts_every_outcome(stand_in, monkeypatch):
    requests = [{"messages": [{"role": "user", "content": str(i)}]} for i in range(3 * 50)]
    report = classroom.run_load(stand_in, "k", "m", requests, server="stand-in", learners=3, load_s=1.0,
                                max_per_learner=50, timeout_s=5)
    assert report.stragglers == 0 and report.elapsed_s < 3  # stopped by time, not by the 150 requests
    assert 3 <= report.requests < 3 * 50 and report.requests == _StandIn.count
    assert len(report.errors) == _StandIn.count // 3 and all(classroom.is_clear(e) for e in report.errors)
    assert report.completion_tokens == 7 * report.served
    assert 0.2 <= report.median_s < 1.0 and report.p95_s >= report.median_s
    assert not report.holds(limit_s=10)  # a third failed: fewer than 95% served
    assert "stand-in" in classroom.table([report], 10) and "held 0 learners" in classroom.table([report], 10)

    monkeypatch.setattr(_StandIn, "STATUS", 500)  # a bare server error is not one a learner can act on
    _StandIn.count = 0
    report = classroom.run_load(stand_in, "k", "m", requests, server="stand-in", learners=3, load_s=0.5,
                                max_per_learner=50, timeout_s=5)
    assert report.errors and not any(classroom.is_clear(e) for e in report.errors)


def test_the_load_helper_refuses_too_few_requests():
    with pytest.raises(ValueError, match="need 8 requests"):
        classroom.run_load("http://127.0.0.1:9/v1", "k", "m", [{}] * 7, server="x", learners=2, load_s=1,
                           max_per_learner=4)


def test_holding_means_served_within_the_limit():
    fast = classroom.LoadReport("s", learners=2, elapsed_s=10, latencies_s=[1.0, 1.2, 1.5, 30.0])
    slow = classroom.LoadReport("s", learners=2, elapsed_s=10, latencies_s=[1.0, 20.0, 21.0, 22.0])
    assert fast.holds(5) and not slow.holds(5)  # one slow reply of four does not decide it; most slow ones do
    assert not classroom.LoadReport("s", learners=8, elapsed_s=10, latencies_s=[1.0] * 4).holds(5)  # < 1 each
    assert "held 2 learners" in classroom.table([fast, slow], 5)


# The room on llama-server: needs the built binary and the model ------------------------------------------------


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A llama-server on a free loopback port behind a fresh key: (base_url, key)."""
    try:
        classroom.llama_server_binary()
    except ServerNotInstalled as err:
        ci_skip(str(err))
    key = secrets.token_urlsafe(12)
    port = retrieval.free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    started = time.perf_counter()
    process = classroom.start_llama_server(port, key, log_path)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        classroom.wait_ready(base_url, process=process, log_path=log_path, timeout_s=60)
        print(f"\nllama-server ready in {time.perf_counter() - started:.2f} s at {base_url}")
        yield base_url, key
    finally:
        stop_process_group(process)


@pytest.fixture
def learner_env(room, monkeypatch, tmp_path):
    """The environment of a learner in the room: the switch variables only, and a fresh workspace."""
    base_url, key = room
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.delenv("AIENG_MODEL", raising=False)
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.delenv(call_replay.RECORD_ENV, raising=False)
    monkeypatch.delenv(call_replay.REPLAY_ENV, raising=False)
    return base_url, key


@pytest.mark.classroom
@pytest.mark.model
@pytest.mark.slow
def test_chapter_00_runs_through_llama_server(learner_env):
    base_url, _ = learner_env
    path = ROOT / "solutions" / "00_setup.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute(env=dict(os.environ))
    print(f"chapter 00 through llama-server: {time.perf_counter() - started:.0f} s")
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert f"remote · {local_server.served_name()} · {base_url}" in printed  # it went to the room's server
    assert "decode speed" in printed and "intent=" in printed


@pytest.mark.classroom
@pytest.mark.model
@pytest.mark.slow
def test_the_triage_pipeline_runs_through_llama_server(learner_env, one_torch_thread):
    llm = backend.connect(verbose=False)
    assert not llm.is_local and llm.model == local_server.served_name()
    tickets = data.load_tickets("test").head(6).to_dict("records")
    for ticket in tickets:
        text = f"{ticket['subject']}\n\n{ticket['body']}"
        for router in (triage.SHIPPED, None):  # the product, and chapter 02's prompted triage
            result = triage.triage_ticket(llm.client, llm.model, text, router=router, ticket_id=ticket["id"])
            assert result.intent in data.INTENTS and result.priority in data.PRIORITIES
            assert triage.DRAFT_REPLY_MIN_CHARS <= len(result.draft_reply) <= triage.DRAFT_REPLY_MAX_CHARS
            assert result.model == llm.model and result.latency_s > 0


@pytest.mark.classroom
@pytest.mark.model
@pytest.mark.slow
def test_a_wrong_key_gets_the_course_clients_clear_401(learner_env, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-the-room-key")
    with pytest.raises(EndpointAuthError, match=r"rejected the API key \(401\).*OPENAI_API_KEY"):
        backend.connect(verbose=False)  # llama-server guards /v1/models too: the first call already says it
    base_url, key = learner_env
    bare = openai.OpenAI(base_url=base_url, api_key="not-the-room-key", max_retries=0)
    model = local_server.served_name()
    with pytest.raises(openai.AuthenticationError):  # the server itself refuses, whichever client asks
        bare.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    right = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    assert right.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                         max_tokens=4).choices[0].message.content


@pytest.mark.classroom
@pytest.mark.model
@pytest.mark.slow
def test_how_many_learners_each_server_holds(room, llm):
    """The same bounded sweep against the course's own server and llama-server, one table.

    Each server is warmed first (one triage request per llama-server slot, not counted): in a room the fixed
    prompt is in every slot's cache after the first minutes, and a cold first prompt would only add noise."""
    if not llm.is_local:
        pytest.skip("the comparison needs the bundled local server; unset OPENAI_BASE_URL to run it")
    base_url, key = room
    n_sweep = max(LEVELS) * MAX_PER_LEARNER
    tickets = data.load_tickets("test").head(n_sweep + classroom.PARALLEL).to_dict("records")
    requests, warm_up = [classroom.triage_request(t) for t in tickets[:n_sweep]], tickets[n_sweep:]
    story = {"messages": [{"role": "user", "content": "Write a short story about a bookkeeper."}],
             "temperature": 0, "max_tokens": DECODE_TOKENS}
    reports, decode = [], {}
    for name, url, api_key in (("course server", llm.base_url, llm.client.api_key), ("llama-server", base_url, key)):
        classroom.run_load(url, api_key, llm.model, [classroom.triage_request(t) for t in warm_up], server=name,
                           learners=classroom.PARALLEL, load_s=60, max_per_learner=1, timeout_s=60)
        plain = classroom.run_load(url, api_key, llm.model, [story] * DECODE_REQUESTS, server=name,
                                   learners=DECODE_REQUESTS, load_s=60, max_per_learner=1, timeout_s=60)
        print(f"plain chat: {plain.line()}")
        assert plain.served == DECODE_REQUESTS, plain.line()
        decode[name] = plain.tokens_per_s
        for learners in LEVELS:
            report = classroom.run_load(url, api_key, llm.model, requests, server=name, learners=learners,
                                        load_s=LOAD_S, max_per_learner=MAX_PER_LEARNER, timeout_s=60)
            print(report.line())
            reports.append(report)
    summary = classroom.table(reports, LIMIT_S)
    decoded = ", ".join(f"{name} {rate:.0f} tokens/s" for name, rate in decode.items())
    print(f"\n{summary}\nPlain chat, {DECODE_REQUESTS} requests at once: {decoded}")
    (ROOT / "docs" / "classroom-load.md").write_text(
        "# How many learners one server held\n\nWritten by `make test-classroom` (tests/test_classroom.py) on "
        f"{time.strftime('%Y-%m-%d')}: {classroom.machine()}. Chapter 02's triage request from each learner, "
        f"steps of {', '.join(map(str, LEVELS))} learners at once, at most {LOAD_S:.0f} s and {MAX_PER_LEARNER} "
        f"requests per learner a step, after one uncounted warm-up request per slot; llama-server with "
        f"--parallel {classroom.PARALLEL}. See [classroom.md](classroom.md).\n\n{summary}\n\n"
        f"Plain chat (no schema), {DECODE_REQUESTS} requests at once, up to {DECODE_TOKENS} tokens each, "
        f"tokens per second over all of them: {decoded}.\n")

    for report in reports:
        assert report.stragglers == 0, f"{report.server}: a learner was still waiting after the time bound"
        unclear = [e for e in report.errors if not classroom.is_clear(e)]
        assert not unclear, f"{report.server}: errors a learner cannot act on: {unclear[:3]}"
    by = {(r.server, r.learners): r for r in reports}
    room_at_8, course_at_8 = by[("llama-server", 8)], by[("course server", 8)]
    assert room_at_8.served >= 0.95 * room_at_8.requests, room_at_8.line()
    # Decoding several requests at once must serve the room faster than one at a time.
    assert decode["llama-server"] > decode["course server"], decoded
    assert room_at_8.served / room_at_8.elapsed_s > course_at_8.served / course_at_8.elapsed_s, \
        f"{room_at_8.line()}\n{course_at_8.line()}"
