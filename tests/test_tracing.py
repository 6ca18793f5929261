"""aieng.tracing: spans of the product in a JSONL file, nested, with tokens, cost, versions and outcome."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from aieng import trace_analysis, tracing, triage
from aieng.errors import ModelOutputError
from fake_openai import completion_body, fake_client

GOOD = json.dumps({"draft_reply": "Thanks for writing in; we are looking at the double charge now.",
                   "intent": "billing", "priority": "high"})


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_triaged_ticket_is_one_trace_with_the_model_call_inside(tmp_path):
    traces = tracing.setup(tmp_path / "t.jsonl")
    client, _ = fake_client(lambda req: completion_body(GOOD, prompt_tokens=300, completion_tokens=40))
    triage.triage_ticket(client, "fake-model", "I was charged twice", prompt_version="v2", router=None,
                         ticket_id="T-1")
    records = _records(traces.path)
    by_name = {r["name"]: r for r in records}
    root, call = by_name["triage.ticket"], next(r for r in records if r["attributes"].get("openinference.span.kind") == "LLM")
    assert root["parent_id"] is None and call["parent_id"] == root["span_id"]
    assert call["trace_id"] == root["trace_id"]
    assert root["attributes"]["aieng.ticket_id"] == "T-1" and root["attributes"]["aieng.outcome"] == "ok"
    attrs = call["attributes"]
    assert attrs["llm.model_name"] == "fake-model"
    assert attrs["llm.token_count.prompt"] == 300 and attrs["llm.token_count.completion"] == 40
    assert attrs["aieng.prompt_version"] == "triage-v2"             # inherited from the ticket's span
    assert attrs["aieng.pipeline_id"] == "prompted:triage-v2"
    assert attrs["llm.cost_usd"] == pytest.approx(tracing.cost_usd("fake-model", 300, 40)) and attrs["llm.cost_usd"] > 0
    assert attrs["aieng.outcome"] == "ok" and call["end_ns"] > call["start_ns"]


def test_failures_are_marked_on_the_spans(tmp_path):
    traces = tracing.setup(tmp_path / "t.jsonl")
    cut, _ = fake_client(lambda req: completion_body('{"draft_reply": "Sorry sorry', finish_reason="length"))
    with pytest.raises(ModelOutputError):
        triage.triage_ticket(cut, "fake-model", "help", prompt_version="v2", router=None, ticket_id="T-cut")
    broken, _ = fake_client(lambda req: 500)
    with pytest.raises(Exception):
        triage.triage_ticket(broken, "fake-model", "help", prompt_version="v2", router=None, ticket_id="T-500")
    spans = trace_analysis.load_spans(traces.path)
    runs = trace_analysis.requests(spans).set_index("request_id")
    assert runs.loc["T-cut", "outcome"] == "error" and runs.loc["T-500", "is_error"]
    calls = spans[spans["kind"] == "model"].set_index("request_id")
    assert calls.loc["T-cut", "outcome"] == "cut_off" and calls.loc["T-500", "outcome"] == "error"


def test_setup_again_starts_a_fresh_file_and_sampling_zero_keeps_nothing(tmp_path):
    client, _ = fake_client(lambda req: completion_body(GOOD))
    first = tracing.setup(tmp_path / "a.jsonl")
    triage.triage_ticket(client, "m", "one", prompt_version="v2", router=None)
    assert first.path.read_text().count("\n") == 2
    tracing.setup(tmp_path / "a.jsonl", sample_ratio=0.0)
    triage.triage_ticket(client, "m", "two", prompt_version="v2", router=None)
    assert first.path.read_text() == ""
    with pytest.raises(ValueError, match="between 0 and 1"):
        tracing.setup(tmp_path / "b.jsonl", sample_ratio=1.5)
    tracing.setup(tmp_path / "c.jsonl")  # leave tracing on for the other tests


class _Collector(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - the http.server API
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_spans_reach_an_otlp_http_collector_live_and_from_the_file(tmp_path):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}/v1/traces"
    try:
        traces = tracing.setup(tmp_path / "t.jsonl", otlp_endpoint=endpoint)
        client, _ = fake_client(lambda req: completion_body(GOOD))
        triage.triage_ticket(client, "m", "charged twice", prompt_version="v2", router=None, ticket_id="T-9")
        live = len(_Collector.bodies)
        assert live == 2                                   # the ticket's span and the model call's
        assert tracing.send_file(traces.path, endpoint) == 2
        request = ExportTraceServiceRequest.FromString(_Collector.bodies[-1])
        names = {s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
        assert "triage.ticket" in names
        project = {a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes}
        assert project["openinference.project.name"] == tracing.PROJECT
    finally:
        server.shutdown()
        server.server_close()
        tracing.setup(tmp_path / "c.jsonl")
    with pytest.raises(ConnectionError, match="make phoenix"):
        tracing.send_file(traces.path, endpoint)           # nobody listens any more
    with pytest.raises(FileNotFoundError, match="tracing.setup"):
        tracing.send_file(tmp_path / "missing.jsonl", endpoint)


def test_cost_uses_the_price_table():
    price = tracing.PRICES["*"]
    assert tracing.cost_usd("any", 1_000_000, 0) == pytest.approx(price.input_usd_per_mtok)
    assert tracing.cost_usd("any", 0, 1_000_000) == pytest.approx(price.output_usd_per_mtok)
    assert tracing.cost_usd("any", 0, 0) == 0
