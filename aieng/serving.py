"""The bundled OpenAI-compatible server: llama-cpp-python's `Llama` behind a small FastAPI app.

Run it with `python -m aieng serve` (foreground) or let `aieng.backend.connect()` start it
detached. It serves `/v1/models` and `/v1/chat/completions` (plain, streaming, JSON mode,
`json_schema`, tools) and covers what llama-cpp-python's own server lacks, with the rules in
`aieng.openai_compat`. One model, one request at a time: llama.cpp keeps the KV cache of the
previous request and reuses the longest common prompt prefix, so fixed text first is fast.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from aieng import openai_compat as compat

__all__ = ["ServerSettings", "create_app", "serve", "bind_socket"]

DEFAULT_MAX_TOKENS = 1024  # when a request names none: a reply, not a runaway loop
SELECTION_MAX_TOKENS = 32  # {"tool": "<name>"} is a handful of tokens


@dataclass(frozen=True)
class ServerSettings:
    """What the server loads and how: model file, served name, context and threads."""

    model_path: Path
    model_name: str
    n_ctx: int = 8192
    n_threads: int = os.cpu_count() or 2
    seed: int = 0


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": kind, "code": None}})


class _Model:
    """One loaded `Llama`, used by one request at a time."""

    def __init__(self, settings: ServerSettings):
        from llama_cpp import Llama

        self.settings = settings
        self.lock = threading.Lock()
        self.llama = Llama(
            model_path=str(settings.model_path),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            n_threads_batch=settings.n_threads,  # the default (half the cores) decodes ~20% slower
            seed=settings.seed,
            verbose=False,
        )

    def complete(self, messages: list[dict[str, str]], sampling: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A non-streaming chat completion from llama, as OpenAI-shaped dict."""
        return self.llama.create_chat_completion(messages=messages, **sampling, **extra)


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    """llama-cpp keyword arguments with OpenAI's defaults (llama's own defaults differ)."""
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
    params: dict[str, Any] = {
        "temperature": body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0,
        "top_p": body.get("top_p") if body.get("top_p") is not None else 1.0,
        "top_k": 0,  # OpenAI has no top-k: 0 disables it in llama.cpp
        "min_p": 0.0,
        "max_tokens": max_tokens,
        "presence_penalty": body.get("presence_penalty") or 0.0,
        "frequency_penalty": body.get("frequency_penalty") or 0.0,
    }
    if body.get("seed") is not None:
        params["seed"] = body["seed"]
    if body.get("stop"):
        params["stop"] = body["stop"]
    if body.get("logit_bias"):
        params["logit_bias"] = {int(k): float(v) for k, v in body["logit_bias"].items()}
    if body.get("logprobs"):
        params["logprobs"] = True
        params["top_logprobs"] = body.get("top_logprobs") or 0
    return params


def _add_usage(total: dict[str, int], usage: dict[str, int] | None) -> None:
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        total[key] = total.get(key, 0) + int((usage or {}).get(key, 0))


def _with_system(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    """`messages` with `text` first in the system turn (fixed text first keeps the prefix cache warm)."""
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": text + "\n\n" + messages[0]["content"]}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def _completion_body(model_name: str, message: dict[str, Any], finish_reason: str, usage: dict[str, int]) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage,
    }


def _answer(model: _Model, body: dict[str, Any]) -> dict[str, Any]:
    """The full (non-streamed) completion for a request, tools and JSON modes included."""
    messages = compat.normalize_messages(body.get("messages") or [])
    sampling = _sampling(body)
    response_format = compat.llama_response_format(body.get("response_format"))
    mode, name = compat.tool_choice_mode(body.get("tools"), body.get("tool_choice"))
    tools = body.get("tools") or []
    usage: dict[str, int] = {}

    if mode in ("choose", "require"):
        allow_text = mode == "choose"
        selection = model.complete(
            _with_system(messages, compat.tool_selection_prompt(tools, allow_text=allow_text)),
            {**sampling, "max_tokens": SELECTION_MAX_TOKENS},
            response_format={"type": "json_object", "schema": compat.tool_selection_schema(tools, allow_text=allow_text)},
        )
        _add_usage(usage, selection.get("usage"))
        try:
            name = json.loads(compat.strict_json(selection["choices"][0]["message"]["content"]))["tool"]
        except (ValueError, KeyError, TypeError):
            name = compat.NO_TOOL if allow_text else tools[0]["function"]["name"]  # unparsable pick
        if name == compat.NO_TOOL:
            mode = "text"

    if mode in ("call", "choose", "require"):
        fn = next(t["function"] for t in tools if t["function"]["name"] == name)
        instruction = f"Call the tool `{name}` ({fn.get('description', '').strip()}). Reply with its arguments as JSON."
        result = model.complete(
            _with_system(messages, instruction),
            sampling,
            response_format={"type": "json_object", "schema": compat.tool_schema(tools, name)},
        )
        _add_usage(usage, result.get("usage"))
        choice = result["choices"][0]
        finish = "length" if choice.get("finish_reason") == "length" else "tool_calls"
        message = {"role": "assistant", "content": None,
                   "tool_calls": [compat.tool_call(name, choice["message"].get("content") or "{}")]}
        return _completion_body(model.settings.model_name, message, finish, usage)

    extra = {"response_format": response_format} if response_format else {}
    result = model.complete(messages, sampling, **extra)
    _add_usage(usage, result.get("usage"))
    choice = result["choices"][0]
    content = choice["message"].get("content") or ""
    if response_format:
        content = compat.strict_json(content.strip())
    message = {"role": "assistant", "content": content}
    body_out = _completion_body(model.settings.model_name, message, choice.get("finish_reason") or "stop", usage)
    if choice.get("logprobs"):
        body_out["choices"][0]["logprobs"] = choice["logprobs"]
    return body_out


def _sse(chunk: dict[str, Any]) -> str:
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def _stream_plain(model: _Model, body: dict[str, Any], base: dict[str, Any]) -> Iterator[str]:
    """Token-by-token stream of a plain text reply (the model is locked for the whole stream)."""
    messages = compat.normalize_messages(body.get("messages") or [])
    n_completion = 0
    finish = "stop"
    yield _sse(_chunk(base, {"role": "assistant", "content": ""}, None))
    for piece in model.llama.create_chat_completion(messages=messages, stream=True, **_sampling(body)):
        choice = piece["choices"][0]
        text = choice.get("delta", {}).get("content")
        if text:
            n_completion += 1
            yield _sse(_chunk(base, {"content": text}, None))
        if choice.get("finish_reason"):
            finish = choice["finish_reason"]
    yield _sse(_chunk(base, {}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        n_prompt = max(model.llama.n_tokens - n_completion, 0)
        usage = {"prompt_tokens": n_prompt, "completion_tokens": n_completion, "total_tokens": n_prompt + n_completion}
        yield _sse({**base, "choices": [], "usage": usage})


def _stream_whole(answer: dict[str, Any], body: dict[str, Any], base: dict[str, Any]) -> Iterator[str]:
    """A finished answer (JSON or tool call, repaired first) sent as a short stream."""
    choice = answer["choices"][0]
    message = choice["message"]
    yield _sse(_chunk(base, {"role": "assistant", "content": None if message.get("tool_calls") else ""}, None))
    if message.get("tool_calls"):
        calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        yield _sse(_chunk(base, {"tool_calls": calls}, None))
    elif message.get("content"):
        yield _sse(_chunk(base, {"content": message["content"]}, None))
    yield _sse(_chunk(base, {}, choice["finish_reason"]))
    if (body.get("stream_options") or {}).get("include_usage"):
        yield _sse({**base, "choices": [], "usage": answer["usage"]})


def create_app(settings: ServerSettings) -> FastAPI:
    """The FastAPI app serving `settings.model_path` under the name `settings.model_name`."""
    model = _Model(settings)
    app = FastAPI(title="aieng local model server")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model": settings.model_name}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": settings.model_name, "object": "model", "created": 0, "owned_by": "local"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict) or not body.get("messages"):
            return _error(400, "A chat completion needs a non-empty 'messages' list.")
        if (body.get("n") or 1) != 1:
            return _error(400, "The local server returns one choice per request: leave n at 1.")
        return await _run(body)

    async def _run(body: dict[str, Any]):
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": settings.model_name}
        is_plain = not body.get("tools") or body.get("tool_choice") == "none"
        is_plain = is_plain and not compat.llama_response_format(body.get("response_format"))

        def locked_answer() -> dict[str, Any]:
            with model.lock:
                return _answer(model, body)

        def locked_stream() -> Iterator[str]:
            with model.lock:
                yield from _stream_plain(model, body, base)
            yield "data: [DONE]\n\n"

        try:
            if body.get("stream") and is_plain:
                stream = locked_stream()
                first = await run_in_threadpool(next, stream)  # surface errors before the 200 is sent
                def rest() -> Iterator[str]:
                    yield first
                    yield from stream
                return StreamingResponse(rest(), media_type="text/event-stream")
            answer = await run_in_threadpool(locked_answer)
        except ValueError as err:  # bad request: unknown tool, prompt longer than the context, ...
            return _error(400, str(err))
        if body.get("stream"):
            whole = list(_stream_whole(answer, body, base)) + ["data: [DONE]\n\n"]
            return StreamingResponse(iter(whole), media_type="text/event-stream")
        return answer

    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on `port`, or on a free port when `port` is taken (0 = any free port)."""
    for candidate in (port, 0) if port else (0,):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    raise OSError(f"Could not bind any port on {host}.")


def serve(settings: ServerSettings, *, host: str = "127.0.0.1", port: int = 8081,
          on_ready: Callable[[int], None] | None = None) -> None:
    """Serve in the foreground until interrupted; `on_ready(port)` runs once the port is bound."""
    import uvicorn

    app = create_app(settings)
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(bound_port)
    print(f"aieng: serving {settings.model_name} at http://{host}:{bound_port}/v1 (Ctrl+C stops)", flush=True)
    server.run(sockets=[sock])
