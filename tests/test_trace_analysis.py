"""aieng.trace_analysis: spans to DataFrames, percentiles, the budget alarm, sampling, the timeline."""

from __future__ import annotations

import json

import matplotlib
import pytest

from aieng import trace_analysis

matplotlib.use("Agg")


def _span(trace, span, parent, name, start_s, end_s, **attributes):
    status = attributes.pop("status", "OK")
    return {"trace_id": trace, "span_id": span, "parent_id": parent, "name": name, "start_ns": int(start_s * 1e9),
            "end_ns": int(end_s * 1e9), "status": status, "attributes": attributes}


def _write(path, spans):
    path.write_text("".join(json.dumps(s) + "\n" for s in spans))
    return path


def _llm(trace, span, parent, start_s, end_s, tokens_in=100, tokens_out=20, cost=0.001, **extra):
    return _span(trace, span, parent, "ChatCompletion", start_s, end_s, **{
        "openinference.span.kind": "LLM", "llm.model_name": "m", "llm.token_count.prompt": tokens_in,
        "llm.token_count.completion": tokens_out, "llm.cost_usd": cost, **extra})


TRACES = [
    _span("a" * 32, "1" * 16, None, "triage.ticket", 0, 2.0, **{"aieng.ticket_id": "T-1", "aieng.outcome": "ok"}),
    _span("a" * 32, "2" * 16, "1" * 16, "router.route", 0, 0.1),
    _llm("a" * 32, "3" * 16, "1" * 16, 0.1, 1.9),
    _span("b" * 32, "4" * 16, None, "triage.ticket", 3, 4.0, status="ERROR", **{"aieng.ticket_id": "T-2", "aieng.outcome": "error"}),
    _llm("b" * 32, "5" * 16, "4" * 16, 3.0, 3.9, status="ERROR"),
    _span("c" * 32, "6" * 16, None, "agent.run", 5, 9.0, **{"agent.task_id": "AT-1", "agent.stop_reason": "blocked"}),
    _llm("c" * 32, "7" * 16, "6" * 16, 5.0, 6.0, tokens_in=400, cost=0.002),
    _span("c" * 32, "8" * 16, "6" * 16, "tool.request_refund", 6.0, 6.5, status="ERROR", **{"tool.outcome": "blocked"}),
    _llm("c" * 32, "9" * 16, "6" * 16, 6.5, 9.0, tokens_in=500, cost=0.003),
]


def test_spans_and_requests(tmp_path):
    spans = trace_analysis.load_spans(_write(tmp_path / "t.jsonl", TRACES))
    assert list(spans.columns) == trace_analysis.SPAN_COLUMNS and len(spans) == len(TRACES)
    assert spans.loc[spans["span_id"] == "3" * 16, "duration_s"].item() == pytest.approx(1.8)
    assert spans.loc[spans["name"] == "tool.request_refund", "request_id"].item() == "AT-1"   # the trace's id
    assert list(trace_analysis.requests(spans).columns) == trace_analysis.REQUEST_COLUMNS
    runs = trace_analysis.requests(spans).set_index("request_id")
    assert runs.loc["AT-1", "n_model_calls"] == 2 and runs.loc["AT-1", "input_tokens"] == 900
    assert runs.loc["AT-1", "cost_usd"] == pytest.approx(0.005)
    assert runs.loc["AT-1", "is_refusal"] and not runs.loc["AT-1", "is_error"]   # a blocked tool is the guard working
    assert runs.loc["T-2", "is_error"] and not runs.loc["T-1", "is_error"]
    assert runs.loc["T-1", "latency_s"] == pytest.approx(2.0)


def test_percentiles_and_the_slowest_step(tmp_path):
    spans = trace_analysis.load_spans(_write(tmp_path / "t.jsonl", TRACES))
    table = trace_analysis.latency_percentiles(trace_analysis.requests(spans))
    assert table.loc["triage.ticket", "n"] == 2 and table.loc["triage.ticket", "p50"] == pytest.approx(1.5)
    inner = trace_analysis.children(spans, "c" * 32)
    assert inner.iloc[0]["span_id"] == "9" * 16 and (inner["depth"] == 1).all()
    with pytest.raises(KeyError, match="No trace"):
        trace_analysis.children(spans, "f" * 32)


def test_the_budget_alarm_fires_above_its_threshold_and_stays_silent_below(tmp_path):
    runs = trace_analysis.requests(trace_analysis.load_spans(_write(tmp_path / "t.jsonl", TRACES)))
    p95 = runs["latency_s"].quantile(0.95)
    assert trace_analysis.check_budget(runs, p95_latency_s=p95 + 0.01, cost_usd_per_request=1.0) == []
    fired = trace_analysis.check_budget(runs, p95_latency_s=p95 - 0.01, cost_usd_per_request=1.0)
    assert [a.metric for a in fired] == ["p95_latency_s"] and fired[0].value == pytest.approx(p95)
    assert "ALARM p95_latency_s" in str(fired[0])
    mean_cost = runs["cost_usd"].mean()
    assert trace_analysis.check_budget(runs, cost_usd_per_request=mean_cost * 1.01) == []
    assert [a.metric for a in trace_analysis.check_budget(runs, cost_usd_per_request=mean_cost * 0.99)] == ["cost_usd_per_request"]
    with pytest.raises(ValueError, match="No requests"):
        trace_analysis.check_budget(runs.iloc[:0], p95_latency_s=1)


def test_sampling_keeps_the_share_asked_and_tail_sampling_keeps_every_error():
    import random

    rng = random.Random(0)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(4000)]
    kept = trace_analysis.head_sample(ids, 0.1)
    assert 0.08 < len(kept) / len(ids) < 0.12
    assert trace_analysis.head_sample(ids, 0.0) == [] and len(trace_analysis.head_sample(ids, 1.0)) == len(ids)
    import pandas as pd

    runs = pd.DataFrame({"trace_id": ids, "is_error": [i % 50 == 0 for i in range(4000)], "is_refusal": False})
    tail = set(trace_analysis.tail_sample(runs, 0.1))
    errors = set(runs.loc[runs["is_error"], "trace_id"])
    assert errors <= tail and len(tail) < 0.2 * len(ids)
    assert len(errors & set(kept)) < len(errors) * 0.25   # head sampling loses most errors


def test_the_head_sampler_agrees_with_opentelemetrys(tmp_path):
    from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

    sampler = TraceIdRatioBased(0.3)
    ids = [f"{(i * 0x9E3779B97F4A7C15) % 2**128:032x}" for i in range(1, 500)]
    theirs = [t for t in ids if sampler.should_sample(None, int(t, 16), "x").decision is Decision.RECORD_AND_SAMPLE]
    assert trace_analysis.head_sample(ids, 0.3) == theirs


def test_timeline_draws_one_bar_per_span(tmp_path):
    spans = trace_analysis.load_spans(_write(tmp_path / "t.jsonl", TRACES))
    ax = trace_analysis.plot_timeline(spans, "c" * 32)
    assert len(ax.patches) == 4 and "seconds" in ax.get_xlabel()
    assert any("tool.request_refund" in t.get_text() for t in ax.texts)


def test_a_cut_file_names_its_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(TRACES[0]) + "\n{\"trace_id\": \"ab")
    with pytest.raises(ValueError, match="line 2"):
        trace_analysis.load_spans(path)
    with pytest.raises(FileNotFoundError, match="tracing.setup"):
        trace_analysis.load_spans(tmp_path / "none.jsonl")


def test_a_wrapping_root_takes_the_id_and_outcome_from_inside(tmp_path):
    wrapped = [_span("d" * 32, "a" * 16, None, "ticket", 0, 3.0),
               _span("d" * 32, "b" * 16, "a" * 16, "triage.ticket", 0, 3.0,
                     **{"aieng.ticket_id": "T-7", "aieng.outcome": "looped"}),
               _llm("d" * 32, "c" * 16, "b" * 16, 0.1, 2.9, **{"aieng.ticket_id": "T-7", "aieng.outcome": "ok"})]
    runs = trace_analysis.requests(trace_analysis.load_spans(_write(tmp_path / "t.jsonl", wrapped)))
    assert runs.loc[0, "name"] == "ticket" and runs.loc[0, "request_id"] == "T-7" and runs.loc[0, "outcome"] == "looped"
