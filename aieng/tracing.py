"""Traces of the product: OpenTelemetry spans written to a local JSONL file, and to a trace viewer when one runs.

    from aieng import tracing, triage
    traces = tracing.setup("chapter07.jsonl")      # workspace/artifacts/traces/chapter07.jsonl
    triage.triage_ticket(client, model, "I was charged twice")   # one "triage.ticket" span, a model-call span inside
    traces.flush()

Every call of the `openai` client becomes a span through OpenInference's instrumentation
(`openinference-instrumentation-openai`). Both packages the course installs were tried offline
against the local server, and both wrote a span per call with the model and the token counts.
OpenInference's is kept: it marks a span OK or ERROR (the other leaves the status unset, so a
failed call looks like a good one), and its attribute names (`llm.token_count.prompt`,
`openinference.span.kind`) are the ones Arize Phoenix, the trace viewer of chapter 07, reads.

Two things are added to every span here rather than by hand in each caller:
- attributes named `aieng.*` on a span (the prompt version, the router id, the ticket id) are copied
  to the spans started inside it, so a model-call span names the prompt and router it ran for;
- a model-call span gets `llm.cost_usd` from the price table `PRICES` (US dollars per million tokens)
  and `aieng.outcome` (`ok`, `cut_off` at max_tokens, `error`). The SDK freezes a span's attributes
  before any processor sees it end, so both are added to the copy that is written out.

`setup` may be called again (a rerun cell, a test): it points the same provider at the new file.
OpenTelemetry lets a process register one global provider, and the agent of chapter 06 and the
instrumentation find it there.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import StatusCode

from aieng.workspace import artifact_path

__all__ = ["Price", "PRICES", "PRICE_SOURCE", "PROJECT", "Tracing", "setup", "trace_path", "cost_usd",
           "JsonlSpanExporter", "OtlpHttpExporter", "span_record", "send_file"]

PROJECT = "aieng-support"  # the project name a trace viewer files these traces under


@dataclass(frozen=True)
class Price:
    """What a model's tokens cost, in US dollars per million tokens."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float


# The price table. The bundled model costs no money per token (the machine is yours); the "*" row is an
# assumed price of a small hosted model, so the dashboards show what the same traffic would cost on a paid
# endpoint. Put your provider's prices here, by model name, before you trust a cost figure.
PRICES: dict[str, Price] = {"*": Price(input_usd_per_mtok=0.15, output_usd_per_mtok=0.60)}
PRICE_SOURCE = "price table aieng.tracing.PRICES (assumed hosted price per million tokens)"

_TOKENS_IN, _TOKENS_OUT = "llm.token_count.prompt", "llm.token_count.completion"
_INHERITED = "aieng."  # attributes with this prefix pass from a span to the spans inside it


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """US dollars for one call, from `PRICES` (the model's row, else the "*" row)."""
    price = PRICES.get(model) or PRICES["*"]
    return (input_tokens * price.input_usd_per_mtok + output_tokens * price.output_usd_per_mtok) / 1e6


def trace_path(name: str = "chapter07.jsonl") -> Path:
    """`artifacts/traces/<name>` in the workspace of the moment."""
    return artifact_path(f"traces/{name}")


def _outcome(span: ReadableSpan) -> str:
    if span.status.status_code is StatusCode.ERROR:
        return "error"
    if span.attributes.get("llm.finish_reason") == "length":
        return "cut_off"
    return "ok"


def _enriched(span: ReadableSpan) -> ReadableSpan:
    """The span, plus cost and outcome when it is a model call (a copy: the SDK's span is frozen by now)."""
    attributes = dict(span.attributes or {})
    if attributes.get("openinference.span.kind") != "LLM":
        return span
    model = str(attributes.get("llm.model_name", ""))
    tokens_in, tokens_out = int(attributes.get(_TOKENS_IN, 0)), int(attributes.get(_TOKENS_OUT, 0))
    attributes.update({"llm.cost_usd": cost_usd(model, tokens_in, tokens_out), "llm.cost.source": PRICE_SOURCE,
                       "aieng.outcome": attributes.get("aieng.outcome", _outcome(span))})
    return ReadableSpan(name=span.name, context=span.context, parent=span.parent, resource=span.resource,
                        attributes=attributes, events=span.events, links=span.links, kind=span.kind,
                        status=span.status, start_time=span.start_time, end_time=span.end_time,
                        instrumentation_scope=span.instrumentation_scope)


def _hex(number: int, width: int) -> str:
    return format(number, f"0{width}x")


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One span as a JSON-ready dict: ids in hex, times in ns since the epoch, attributes as given."""
    return {
        "trace_id": _hex(span.context.trace_id, 32), "span_id": _hex(span.context.span_id, 16),
        "parent_id": _hex(span.parent.span_id, 16) if span.parent else None,
        "name": span.name, "start_ns": span.start_time, "end_ns": span.end_time,
        "status": span.status.status_code.name, "status_message": span.status.description or "",
        "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()},
        "events": [{"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})} for e in span.events],
        "service": (span.resource.attributes.get("service.name") if span.resource else None),
    }


class JsonlSpanExporter(SpanExporter):
    """Appends each finished span to a JSONL file, one JSON object a line (`span_record`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class OtlpHttpExporter(SpanExporter):
    """Sends spans over OTLP/HTTP (protobuf) to a collector such as Phoenix: `http://127.0.0.1:6006/v1/traces`.

    The encoding is OpenTelemetry's own (`opentelemetry-exporter-otlp-proto-common`); the POST is one request."""

    def __init__(self, endpoint: str, *, timeout_s: float = 5.0) -> None:
        self.endpoint, self.timeout_s = endpoint, timeout_s

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        body = encode_spans(list(spans)).SerializeToString()
        request = urllib.request.Request(self.endpoint, data=body, method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return SpanExportResult.SUCCESS if response.status < 300 else SpanExportResult.FAILURE
        except (urllib.error.URLError, OSError):
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


class _Switchboard(SpanProcessor):
    """The provider's one processor: copies inherited attributes at start, sends enriched spans to the exporters of the moment."""

    def __init__(self) -> None:
        self.exporters: list[SpanExporter] = []

    def on_start(self, span: Any, parent_context: context_api.Context | None = None) -> None:
        parent = trace.get_current_span(parent_context)
        for key, value in (getattr(parent, "attributes", None) or {}).items():
            if key.startswith(_INHERITED) and key != "aieng.outcome" and key not in (span.attributes or {}):
                span.set_attribute(key, value)

    def on_end(self, span: ReadableSpan) -> None:
        enriched = _enriched(span)
        for exporter in list(self.exporters):
            exporter.export([enriched])

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Ratio(Sampler):
    """Head sampling whose ratio `setup` can change: keeps a trace when its id falls under the ratio."""

    def __init__(self) -> None:
        self.inner: Sampler = ParentBased(TraceIdRatioBased(1.0))

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return self.inner.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return f"aieng({self.inner.get_description()})"


_STATE: dict[str, Any] = {}
_STATE_LOCK = threading.Lock()


def _provider() -> tuple[TracerProvider, _Switchboard, _Ratio]:
    """The process's provider, made and registered globally the first time (OpenTelemetry allows one)."""
    with _STATE_LOCK:
        if not _STATE:
            sampler, board = _Ratio(), _Switchboard()
            provider = TracerProvider(resource=Resource.create({"service.name": "aieng-support",
                                                                "openinference.project.name": PROJECT}),
                                      sampler=sampler)
            provider.add_span_processor(board)
            trace.set_tracer_provider(provider)
            if trace.get_tracer_provider() is not provider:
                raise RuntimeError("Another OpenTelemetry tracer provider is already registered in this process; "
                                   "restart the kernel and call tracing.setup() before anything else sets one.")
            from openinference.instrumentation.openai import OpenAIInstrumentor

            OpenAIInstrumentor().instrument(tracer_provider=provider)
            _STATE.update(provider=provider, board=board, sampler=sampler)
        return _STATE["provider"], _STATE["board"], _STATE["sampler"]


@dataclass(frozen=True)
class Tracing:
    """Where this process's traces go: the JSONL file, and an OTLP endpoint when one was given."""

    path: Path
    otlp_endpoint: str | None
    sample_ratio: float

    def tracer(self, name: str = "aieng") -> trace.Tracer:
        """A tracer from the course's provider, for spans of your own (`with tracer.start_as_current_span(...)`)."""
        return _provider()[0].get_tracer(name)

    def flush(self) -> None:
        """Nothing to wait for: each span is written when it ends. Kept so code reads the same with a batching exporter."""
        _provider()[0].force_flush()


def setup(path: str | Path | None = None, *, otlp_endpoint: str | None = None, sample_ratio: float = 1.0,
          fresh: bool = True) -> Tracing:
    """Trace every openai call and course span of this process into `path` (default `trace_path()`).

    `otlp_endpoint` (e.g. `http://127.0.0.1:6006/v1/traces`) also sends each span to a trace viewer.
    `sample_ratio` keeps that share of traces, decided per trace id at its first span (head sampling;
    0 keeps none). `fresh=True` empties the file first. Returns a `Tracing`; calling again re-points it."""
    if not 0.0 <= sample_ratio <= 1.0:
        raise ValueError(f"sample_ratio is the share of traces kept, between 0 and 1; got {sample_ratio!r}.")
    path = trace_path() if path is None else Path(path)
    if not path.is_absolute() and path.parent == Path("."):
        path = trace_path(path.name)
    _, board, sampler = _provider()
    exporters: list[SpanExporter] = [JsonlSpanExporter(path)]
    if fresh:
        path.write_text("", encoding="utf-8")
    if otlp_endpoint:
        exporters.append(OtlpHttpExporter(otlp_endpoint))
    sampler.inner = ParentBased(TraceIdRatioBased(sample_ratio) if sample_ratio > 0 else ALWAYS_OFF)
    board.exporters = exporters
    return Tracing(path=path, otlp_endpoint=otlp_endpoint, sample_ratio=sample_ratio)


def _readable(record: dict[str, Any], resource: Resource) -> ReadableSpan:
    from opentelemetry.trace import SpanContext, Status, TraceFlags

    def context(span_id: str) -> SpanContext:
        return SpanContext(int(record["trace_id"], 16), int(span_id, 16), is_remote=False,
                           trace_flags=TraceFlags(TraceFlags.SAMPLED))

    return ReadableSpan(name=record["name"], context=context(record["span_id"]),
                        parent=context(record["parent_id"]) if record.get("parent_id") else None,
                        resource=resource, attributes=record.get("attributes") or {},
                        status=Status(StatusCode[record.get("status", "UNSET")], record.get("status_message") or None),
                        start_time=int(record["start_ns"]), end_time=int(record["end_ns"]))


def send_file(path: str | Path, endpoint: str) -> int:
    """Send every span of a trace file (written by `setup`) to an OTLP/HTTP endpoint; returns how many were sent.

    Loads a run you traced earlier into a viewer that was not running at the time."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No trace file at {path}. Run the cells that trace (tracing.setup, then the calls) first.")
    resource = Resource.create({"service.name": "aieng-support", "openinference.project.name": PROJECT})
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    spans = [_readable(r, resource) for r in records]
    if spans and OtlpHttpExporter(endpoint).export(spans) is not SpanExportResult.SUCCESS:
        raise ConnectionError(f"The trace viewer at {endpoint} did not take the spans. Start it (make phoenix) "
                              "and check the port.")
    return len(spans)
