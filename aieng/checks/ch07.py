"""Checks for chapter 07 (observability: spans, traces, alarms)."""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["tag_span", "slowest_step", "latency_alarm"]

_TICKET = {"id": "T-0042", "tier": "enterprise", "channel": "email"}


def tag_span(fn: Callable[..., Any]) -> Result:
    """Exercise 7.1: `fn(span, ticket)` sets `aieng.ticket_id` and `customer.tier` on the span it is given."""
    require_callable(fn, "tag_span", "tag_span")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # a private provider: the check never writes into your trace file
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("aieng.checks").start_as_current_span("triage.ticket") as span:
        try:
            returned = fn(span, dict(_TICKET))
        except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
            return fail("7.1", f"tag_span(span, {_TICKET}) raised {type(err).__name__}: {err}",
                        hint="A span takes attributes one at a time: span.set_attribute(name, value).")
    attributes = dict(exporter.get_finished_spans()[0].attributes or {})
    if not attributes and is_stub(returned):
        return todo("7.1", "tag_span")
    if not attributes:
        return fail("7.1", "tag_span ran, but the span has no attributes.",
                    hint="Set them on the span passed in (span.set_attribute), not on a new one.")
    for key, want in (("aieng.ticket_id", _TICKET["id"]), ("customer.tier", _TICKET["tier"])):
        if key not in attributes:
            return fail("7.1", f"The span's attributes are {attributes}; `{key}` is missing.",
                        hint="Attribute names are exact strings: copy them from the exercise text.")
        if attributes[key] != want:
            return fail("7.1", f"`{key}` is {attributes[key]!r}, but the ticket {_TICKET} says otherwise.",
                        hint=f"Read the value from the ticket dict; `{key}` holds the ticket's own value.")
    return ok("7.1", "the span carries the ticket id and the customer's tier, so traces can be filtered by either.")


def _trace(rows: list[tuple[str, str, str | None, float, float]]) -> pd.DataFrame:
    """A trace in the shape of `trace_analysis.load_spans`: (span_id, name, parent_id, start_s, end_s)."""
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.DataFrame([{"trace_id": "t1", "span_id": sid, "parent_id": parent, "name": name,
                          "start": t0 + pd.Timedelta(seconds=start), "end": t0 + pd.Timedelta(seconds=end),
                          "duration_s": end - start, "kind": "model" if name == "ChatCompletion" else "other"}
                         for sid, name, parent, start, end in rows])


# (trace, the slow step's name, the hint when a learner answers `trap` instead)
_SLOW_CASES = [
    (_trace([("r", "agent.run", None, 0, 9), ("a", "ChatCompletion", "r", 0, 2), ("b", "tool.lookup_order", "r", 2, 7.5),
             ("c", "ChatCompletion", "r", 7.5, 9)]), "tool.lookup_order",
     "The root span lasts as long as the whole request: the slow step is inside it."),
    (_trace([("r", "triage.ticket", None, 0, 3), ("a", "router.route", "r", 0, 0.2), ("b", "ChatCompletion", "r", 0.2, 3)]),
     "ChatCompletion", "Compare the durations (end - start) of the steps, not when they started."),
]


def slowest_step(fn: Callable[[pd.DataFrame], str]) -> Result:
    """Exercise 7.2: `fn(spans)` names the longest span of one trace, leaving out its root."""
    require_callable(fn, "slowest_step", "slowest_step")
    for spans, want, hint in _SLOW_CASES:
        shown = ", ".join(f"{r.name} {r.duration_s:g} s" for r in spans.itertuples())
        try:
            got = fn(spans.copy())
        except Exception as err:  # noqa: BLE001
            return fail("7.2", f"slowest_step raised {type(err).__name__}: {err} on the trace [{shown}].",
                        hint="The spans frame has columns name, parent_id, duration_s: filter, then sort or idxmax.")
        if is_stub(got):
            return todo("7.2", "slowest_step")
        if not isinstance(got, str):
            return fail("7.2", f"slowest_step returned a {type(got).__name__}, not a span name.",
                        hint="Return the `name` of one row, e.g. a string like 'router.route'.")
        if got != want:
            root = spans.loc[spans["parent_id"].isna(), "name"].item()
            hint = (hint if got == root or got != spans.sort_values("start")["name"].iloc[-1]
                    else "The last step to start is not always the slowest: compare durations.")
            return fail("7.2", f"On the trace [{shown}] slowest_step returned {got!r}.", hint=hint)
    return ok("7.2", "slowest_step finds the step that holds a request up, leaving out the root span.")


# (latencies in seconds, threshold, should fire, hint when wrong)
_ALARM_CASES = [
    ([0.5] * 19 + [0.6], 1.0, False, "All requests are fast here: an alarm must stay silent below its threshold."),
    ([2.0] * 20, 1.0, True, "Every request here is slower than the threshold: the alarm must fire."),
    ([0.5] * 99 + [30.0], 1.0, False,
     "One outlier in a hundred is above p95: the alarm watches the 95th percentile, not the slowest request."),
    ([0.5] * 90 + [3.0] * 10, 1.0, True,
     "A tenth of requests are slow, so the 95th percentile is slow: the mean hides it."),
    ([1.0] * 20, 1.0, False, "At exactly the threshold the budget is met: fire only above it."),
]


def latency_alarm(fn: Callable[[list[float], float], bool]) -> Result:
    """Exercise 7.3: `fn(latencies_s, threshold_s)` is True when the 95th percentile latency is above the threshold."""
    require_callable(fn, "latency_alarm", "latency_alarm")
    for latencies, threshold, want, hint in _ALARM_CASES:
        shown = (f"{len(latencies)} latencies ({sorted(set(latencies))} s), threshold {threshold} s")
        try:
            got = fn(list(latencies), threshold)
        except Exception as err:  # noqa: BLE001
            return fail("7.3", f"latency_alarm raised {type(err).__name__}: {err} on {shown}.",
                        hint="numpy.percentile(latencies_s, 95) gives the 95th percentile.")
        if is_stub(got):
            return todo("7.3", "latency_alarm")
        if not isinstance(got, bool) and type(got).__name__ != "bool_":
            return fail("7.3", f"latency_alarm returned {got!r}, not True or False.",
                        hint="An alarm either fires or stays silent: return a bool.")
        if bool(got) != want:
            verdict = "fired" if got else "stayed silent"
            return fail("7.3", f"On {shown} the alarm {verdict}.", hint=hint)
    return ok("7.3", "latency_alarm fires when p95 latency is over budget and stays silent otherwise.")
