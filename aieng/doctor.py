"""`python -m aieng doctor`: which backend the course reaches, and whether each capability works.

Every line comes from a real call through the plain openai client, so a ✓ means a notebook
doing the same thing will work; a ✗ says what to do next.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from collections.abc import Callable

from pydantic import BaseModel, Field

from aieng.errors import AiengError

__all__ = ["CAPABILITIES", "run"]

_PACKAGES = ["openai", "llama_cpp_python", "chromadb", "sentence-transformers", "torch", "jupyterlab", "marimo"]
_TICKET = "Hi, I was charged twice for my Growth plan this month. Order ORD-58213."
_SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": "string", "enum": ["billing", "bug_report", "other"]},
                   "summary": {"type": "string", "maxLength": 80}},
    "required": ["intent", "summary"],
}
_TOOL = {"type": "function", "function": {
    "name": "lookup_order", "description": "Look up an order by its id.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{5}$"}},
                   "required": ["order_id"]}}}


class _Triage(BaseModel):
    intent: str = Field(max_length=20)
    is_urgent: bool


def _ask(backend, **kwargs):
    return backend.client.chat.completions.create(
        model=backend.model, messages=[{"role": "user", "content": _TICKET}], temperature=0, **kwargs)


def _models(backend) -> str:
    served = [m.id for m in backend.client.models.list()]
    assert served, "the endpoint lists no models"
    return f"/v1/models lists {', '.join(served[:3])}"


def _chat(backend) -> str:
    started = time.perf_counter()
    reply = _ask(backend, max_tokens=48)
    elapsed = time.perf_counter() - started
    n_tokens = reply.usage.completion_tokens if reply.usage else 0
    assert reply.choices[0].message.content, "empty reply"
    return f"{n_tokens} tokens in {elapsed:.2f} s ({n_tokens / elapsed:.0f} tokens/s)"


def _stream(backend) -> str:
    started = time.perf_counter()
    first = None
    pieces = []
    for chunk in _ask(backend, max_tokens=32, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter() - started
            pieces.append(chunk.choices[0].delta.content)
    assert pieces, "the stream carried no text"
    return f"first token after {first:.2f} s, {len(pieces)} chunks"


def _json_schema(backend) -> str:
    import jsonschema

    reply = _ask(backend, max_tokens=120,
                 response_format={"type": "json_schema", "json_schema": {"name": "triage", "schema": _SCHEMA}})
    value = json.loads(reply.choices[0].message.content)
    jsonschema.validate(value, _SCHEMA)
    return f"valid against the schema: {json.dumps(value)[:60]}"


def _parse(backend) -> str:
    reply = backend.client.chat.completions.parse(
        model=backend.model, messages=[{"role": "user", "content": _TICKET}], temperature=0,
        max_tokens=60, response_format=_Triage)
    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, _Triage), "no parsed object"
    return f"parsed {parsed!r}"


def _tools(backend) -> str:
    import jsonschema

    reply = _ask(backend, max_tokens=40, tools=[_TOOL], tool_choice="auto")
    message = reply.choices[0].message
    if not message.tool_calls:
        assert message.content is not None, "neither a tool call nor text"
        return "tool_choice='auto': the model chose to answer in text (valid; how well it chooses is for the chapters)"
    call = message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, _TOOL["function"]["parameters"])
    return f"{call.function.name}({call.function.arguments}), valid against its schema"


def _length(backend) -> str:
    reply = _ask(backend, max_tokens=3)
    reason = reply.choices[0].finish_reason
    assert reason == "length", f"finish_reason is {reason!r}, not 'length'"
    return "a reply cut at max_tokens reports finish_reason='length'"


CAPABILITIES: dict[str, Callable] = {
    "models": _models, "chat": _chat, "streaming": _stream, "json_schema": _json_schema,
    "parse (Pydantic)": _parse, "tools": _tools, "max_tokens": _length,
}


def _versions() -> str:
    found = []
    for name in _PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return f"Python {platform.python_version()} · " + " · ".join(found)


def _course_server(base_url: str) -> str:
    """One line from a course server's /health (queue, requests served, serving code), or '' for other servers."""
    import urllib.request

    try:
        with urllib.request.urlopen(base_url.rstrip("/").removesuffix("/v1") + "/health", timeout=5) as reply:
            health = json.load(reply)
    except (OSError, ValueError):
        return ""
    if not isinstance(health, dict) or "code_hash" not in health:
        return ""
    key = " · API key required" if health.get("needs_key") else ""
    return (f"course server: {health.get('queue', 0)} waiting · {health.get('served', 0)} served · "
            f"deadline {health.get('deadline_s', 0):.0f} s · serving code {health['code_hash']}{key}")


def run() -> bool:
    """Print the diagnosis; True when every capability works."""
    from aieng import backend as backend_module
    from aieng import local_server

    print(_versions())
    try:
        backend = backend_module.connect(verbose=False)
    except AiengError as err:
        print(f"✗ backend: {err}")
        return False
    print(f"backend: {backend}")
    if server_line := _course_server(backend.base_url):
        print(server_line)
    if backend.is_local and (warning := local_server.competition_warning()):
        print(f"⚠ {warning}")
    all_ok = True
    for name, probe in CAPABILITIES.items():
        try:
            print(f"✓ {name}: {probe(backend)}")
        except (AiengError, AssertionError, ValueError, Exception) as err:  # noqa: BLE001 - report, go on
            all_ok = False
            print(f"✗ {name}: {type(err).__name__}: {err}\n  Next step: "
                  + ("the endpoint may not support this; try another model or endpoint, or the local one "
                     "(unset OPENAI_BASE_URL)." if not backend.is_local else
                     "see .aieng/server.log, then `python -m aieng stop` and try again."))
    print(backend_module.describe_switch())
    return all_ok
