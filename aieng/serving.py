"""The bundled OpenAI-compatible server: llama-cpp-python's `Llama` behind a small FastAPI app.

Run it with `python -m aieng serve` (foreground) or let `aieng.backend.connect()` start it
detached. Besides its model it serves every GGUF file in `models_dir` (where chapter 08 installs a
fine-tuned model) under that file's name; a request names the one it wants in `model`, and any
other name gets the main model. It serves `/health`, `/v1/models` and `/v1/chat/completions` (plain, streaming, JSON
mode, `json_schema`, tools) and covers what llama-cpp-python's own server lacks, with the rules in
`aieng.openai_compat`. One model, one request at a time: llama.cpp keeps the KV cache of the
previous request and reuses the longest common prompt prefix, so fixed text first is fast.

Every request is validated before it waits for the model (a 400 in OpenAI's error shape) and has
a deadline that includes its wait; a client that goes away gives its turn back, and a stream is
produced apart from its client, so one stalled reader never holds the model. Off loopback (a
classroom) every request needs the API key, and on any address only JSON is accepted and the
Host header must name this machine (a web page cannot post to the server).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from aieng import openai_compat as compat
from aieng.openai_compat import APIError

__all__ = ["ServerSettings", "create_app", "run", "bind_socket", "is_loopback", "allowed_hosts"]

DEFAULT_MAX_TOKENS = 1024  # when a request names none: a reply, not a runaway loop
SELECTION_MAX_TOKENS = 32  # {"tool": "<name>"} is a handful of tokens
EXTRA_N_CTX = 2048  # context of a model served beside the main one (its KV cache is memory)
DEADLINE_S = 120.0  # a request's whole time, its wait for the model included
MAX_QUEUE = 32  # requests waiting beyond this get a 503 (each waits in a worker thread)
MAX_BODY_BYTES = 4_000_000
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServerSettings:
    """What the server loads and how: model file, served name, context, threads, and who may ask.

    `api_key` (a classroom) is required from every client when set; `allowed_hosts` are the Host
    header values it answers to; `deadline_s` bounds a request, its wait for the model included."""

    model_path: Path
    model_name: str
    n_ctx: int = 8192
    n_threads: int = os.cpu_count() or 2
    seed: int = 0
    api_key: str | None = None
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES
    deadline_s: float = DEADLINE_S
    max_queue: int = MAX_QUEUE
    code_hash: str = ""
    models_dir: Path | None = None  # more GGUF files to serve, each under its file name, loaded at first use


def is_loopback(host: str) -> bool:
    """True when `host` (a listen address) reaches this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "": assume it reaches the network


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Host header values a server listening on `host` answers to: loopback names, plus, off
    loopback, this machine's names and addresses and the `extra` names learners use."""
    names = set(LOOPBACK_NAMES) | {name.lower().strip("[]") for name in extra}
    if not is_loopback(host):
        import psutil

        names |= {host.lower().strip("[]"), socket.gethostname().lower(), socket.getfqdn().lower()}
        for addresses in psutil.net_if_addrs().values():
            names |= {a.address.split("%")[0].lower() for a in addresses if a.family in (socket.AF_INET, socket.AF_INET6)}
        names -= {"", "0.0.0.0", "::"}
    return tuple(sorted(names))


def _error(err: APIError) -> JSONResponse:
    headers = {"Retry-After": "5"} if err.status == 503 else None
    return JSONResponse(status_code=err.status, content=err.body(), headers=headers)


class _ClientGone(Exception):
    """The client closed its connection: stop working for it."""


@dataclass
class _Job:
    """One request's deadline, and whether its client has gone."""

    limit_s: float
    started: float = field(default_factory=time.monotonic)
    gone: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.gone.is_set():
            raise _ClientGone()
        if time.monotonic() - self.started > self.limit_s:
            raise APIError(504, f"The request did not finish within this server's {self.limit_s:.0f} s deadline "
                                "(its wait for the model included). The server is busy or the reply long: "
                                "retry, or ask for fewer max_tokens.", code="deadline_exceeded")


@dataclass(frozen=True)
class _Output:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def _chat_formatter(llama: Any) -> Callable[..., Any]:
    """The model file's chat template, rendered as llama-cpp-python's chat handler renders it."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return llama_chat_format.format_llama2  # llama-cpp-python's fallback too

    def text(token_id: int) -> str:
        return llama.detokenize([token_id], special=True).decode("utf-8", errors="ignore") if token_id != -1 else ""

    return llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=text(llama.token_eos()),
                                                 bos_token=text(llama.token_bos()),
                                                 stop_token_ids=[llama.token_eos()])


class _Model:
    """One loaded `Llama`: one request at a time, in arrival order, each within its deadline.

    A model loaded beside the main one (`queue_of`) waits in the main model's line: one request
    at a time uses the cores, whichever model it names."""

    def __init__(self, settings: ServerSettings, *, queue_of: _Model | None = None):
        from llama_cpp import Llama

        self.settings = settings
        self._queue_of = queue_of
        self.llama = Llama(
            model_path=str(settings.model_path),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            n_threads_batch=settings.n_threads,  # the default (half the cores) decodes ~20% slower
            seed=settings.seed,
            verbose=False,
        )
        self.format = _chat_formatter(self.llama)
        self._changed = threading.Condition()
        self._line: deque[_Job] = deque()  # requests waiting for the model, first come first served
        self._busy = False
        self.busy_since: float | None = None
        self.n_served = 0

    @property
    def waiting(self) -> int:
        return len(self._line)

    @contextmanager
    def turn(self, job: _Job) -> Iterator[None]:
        """Hold the model for `job` once the requests before it are done; give up when its client
        goes or its deadline passes."""
        if self._queue_of is not None:
            with self._queue_of.turn(job):
                yield
            return
        with self._changed:
            if len(self._line) >= self.settings.max_queue:
                raise APIError(503, f"The server is busy: {len(self._line)} requests are waiting. Retry in a moment.",
                               code="server_busy")
            self._line.append(job)
            try:
                while self._busy or self._line[0] is not job:
                    self._changed.wait(timeout=0.05)
                    job.check()
            except BaseException:
                self._line.remove(job)
                self._changed.notify_all()
                raise
            self._line.popleft()
            self._busy, self.busy_since = True, time.monotonic()
        try:
            yield
        finally:
            with self._changed:
                self._busy, self.busy_since = False, None
                self.n_served += 1
                self._changed.notify_all()

    def generate(self, job: _Job, messages: list[dict[str, str]], sampling: dict[str, Any],
                 grammar: str | None = None, on_text: Callable[[str], None] | None = None) -> _Output:
        """One completion (hold the turn): streamed internally, so a deadline or a departed client stops it."""
        from llama_cpp.llama_grammar import LlamaGrammar

        rendered = self.format(messages=messages)
        tokens = self.llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        room = self.settings.n_ctx - len(tokens)
        if room <= 0:
            raise APIError(400, f"The messages take {len(tokens)} tokens; this model's context holds "
                                f"{self.settings.n_ctx}. Shorten them, or drop earlier turns.",
                           param="messages", code="context_length_exceeded")
        template_stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop] if rendered.stop else []
        stream = self.llama.create_completion(
            prompt=tokens, stream=True, grammar=LlamaGrammar.from_string(grammar) if grammar else None,
            stopping_criteria=rendered.stopping_criteria,
            **{**sampling, "max_tokens": min(sampling["max_tokens"], room), "stop": sampling["stop"] + template_stop})
        pieces: list[str] = []
        finish = "length"
        try:
            for chunk in stream:
                job.check()
                choice = chunk["choices"][0]
                if choice.get("text"):
                    pieces.append(choice["text"])
                    if on_text is not None:
                        on_text(choice["text"])
                finish = choice.get("finish_reason") or finish
        finally:
            stream.close()
        n_completion = max(self.llama.n_tokens - len(tokens), 0) + (finish == "length")  # the last token is not evaluated
        return _Output("".join(pieces), finish, len(tokens), n_completion)


def _sampling(request: compat.ChatRequest) -> dict[str, Any]:
    """llama-cpp keyword arguments with OpenAI's defaults (llama's own defaults differ)."""
    params: dict[str, Any] = {
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "top_k": 0,  # OpenAI has no top-k: 0 disables it in llama.cpp
        "min_p": 0.0,
        "repeat_penalty": 1.0,  # OpenAI has none
        "max_tokens": request.max_completion_tokens or request.max_tokens or DEFAULT_MAX_TOKENS,
        "presence_penalty": request.presence_penalty or 0.0,
        "frequency_penalty": request.frequency_penalty or 0.0,
        "seed": request.seed,
        "stop": [request.stop] if isinstance(request.stop, str) else list(request.stop or []),
    }
    if request.logit_bias:
        params["logit_bias"] = {int(k): float(v) for k, v in request.logit_bias.items()}
    return params


@dataclass(frozen=True)
class _Plan:
    """A validated request, turned into what the model steps need (grammars built before any wait)."""

    messages: list[dict[str, str]]
    sampling: dict[str, Any]
    mode: str  # text, choose (auto), require, call
    name: str | None
    tools: list[dict[str, Any]]
    schema: dict[str, Any] | None  # what a text reply must meet (response_format); None: plain text
    grammar: str | None
    tool_grammars: dict[str, str]
    stream: bool
    include_usage: bool

    @property
    def is_plain(self) -> bool:
        return self.mode == "text" and self.schema is None


def _plan(request: compat.ChatRequest) -> _Plan:
    tools = [tool.model_dump(exclude_none=True) for tool in request.tools or []]
    choice = request.tool_choice
    mode, name = compat.tool_choice_mode(tools, choice.model_dump() if isinstance(choice, compat.NamedToolChoice) else choice)
    schema = compat.output_schema(request.response_format)
    grammar = compat.grammar_for(schema, param="response_format") if schema is not None else None
    if request.response_format and request.response_format.type == "json_object" and request.response_format.schema_ is None:
        from llama_cpp.llama_grammar import JSON_GBNF

        grammar = JSON_GBNF  # any object, as llama-cpp-python's JSON mode
    tool_grammars = {}
    if mode != "text":
        for i, tool in enumerate(tools):
            fn_name = tool["function"]["name"]
            tool_grammars[fn_name] = compat.grammar_for(compat.tool_schema(tools, fn_name),
                                                        param=f"tools[{i}].function.parameters")
        for allow_text in (True, False):
            selection = compat.tool_selection_schema(tools, allow_text=allow_text)
            tool_grammars[f"-select-{allow_text}"] = compat.grammar_for(selection, param="tools")
    messages = compat.normalize_messages([m.model_dump(exclude_none=True) for m in request.messages])
    return _Plan(messages=messages, sampling=_sampling(request), mode=mode, name=name, tools=tools, schema=schema,
                 grammar=grammar, tool_grammars=tool_grammars, stream=bool(request.stream),
                 include_usage=bool(request.stream_options and request.stream_options.include_usage))


def _with_system(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    """`messages` with `text` first in the system turn (fixed text first keeps the prefix cache warm)."""
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": text + "\n\n" + messages[0]["content"]}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def _checked(text: str, schema: dict[str, Any], what: str) -> str:
    """`text` when it meets `schema`; else a 422 saying how it breaks it (the grammar cannot hold every keyword)."""
    problem = compat.schema_problem(text, schema)
    if problem:
        raise APIError(422, f"{what} breaks the requested schema {problem}: {text[:120]!r}. The decoding grammar "
                            "cannot enforce every keyword (minimum, maximum, multipleOf, ...): loosen the schema, "
                            "retry with another seed, or use a larger model.", code="reply_breaks_schema")
    return text


def _picked(text: str, tools: list[dict[str, Any]], allow_text: bool) -> str:
    """The tool the selection step named; an unusable pick means text when allowed, else the first tool."""
    names = [tool["function"]["name"] for tool in tools]
    try:
        name = json.loads(compat.strict_json(text))["tool"]
    except (ValueError, KeyError, TypeError):
        name = None
    if name in names or (allow_text and name == compat.NO_TOOL):
        return name
    return compat.NO_TOOL if allow_text else names[0]


def _completion_body(model_name: str, message: dict[str, Any], finish_reason: str, outputs: list[_Output]) -> dict:
    n_prompt = sum(o.prompt_tokens for o in outputs)
    n_completion = sum(o.completion_tokens for o in outputs)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_completion, "total_tokens": n_prompt + n_completion},
    }


def _answer(model: _Model, job: _Job, plan: _Plan) -> dict[str, Any]:
    """The full completion for a request, tools and JSON modes included (the caller holds the turn)."""
    outputs: list[_Output] = []
    mode, name = plan.mode, plan.name
    if mode in ("choose", "require"):
        allow_text = mode == "choose"
        selection = model.generate(job, _with_system(plan.messages, compat.tool_selection_prompt(plan.tools, allow_text=allow_text)),
                                   {**plan.sampling, "max_tokens": SELECTION_MAX_TOKENS},
                                   grammar=plan.tool_grammars[f"-select-{allow_text}"])
        outputs.append(selection)
        name = _picked(selection.text, plan.tools, allow_text)
        mode = "text" if name == compat.NO_TOOL else "call"

    if mode == "call":
        fn = next(tool["function"] for tool in plan.tools if tool["function"]["name"] == name)
        instruction = f"Call the tool `{name}` ({(fn.get('description') or '').strip()}). Reply with its arguments as JSON."
        result = model.generate(job, _with_system(plan.messages, instruction), plan.sampling, grammar=plan.tool_grammars[name])
        outputs.append(result)
        arguments = compat.strict_json(result.text.strip() or "{}")
        if result.finish_reason != "length":
            _checked(arguments, compat.tool_schema(plan.tools, name), f"The arguments of the call to {name}")
        message = {"role": "assistant", "content": None, "tool_calls": [compat.tool_call(name, arguments)]}
        finish = "length" if result.finish_reason == "length" else "tool_calls"
        return _completion_body(model.settings.model_name, message, finish, outputs)

    result = model.generate(job, plan.messages, plan.sampling, grammar=plan.grammar)
    outputs.append(result)
    content = result.text
    if plan.schema is not None:
        content = compat.strict_json(content.strip())
        if result.finish_reason != "length":
            _checked(content, plan.schema, "The reply")
    message = {"role": "assistant", "content": content}
    return _completion_body(model.settings.model_name, message, result.finish_reason, outputs)


def _sse(chunk: dict[str, Any]) -> str:
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def _stream_whole(answer: dict[str, Any], plan: _Plan, base: dict[str, Any]) -> Iterator[str]:
    """A finished answer (JSON or tool call, checked first) sent as a short stream."""
    choice = answer["choices"][0]
    message = choice["message"]
    yield _sse(_chunk(base, {"role": "assistant", "content": None if message.get("tool_calls") else ""}, None))
    if message.get("tool_calls"):
        calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        yield _sse(_chunk(base, {"tool_calls": calls}, None))
    elif message.get("content"):
        yield _sse(_chunk(base, {"content": message["content"]}, None))
    yield _sse(_chunk(base, {}, choice["finish_reason"]))
    if plan.include_usage:
        yield _sse({**base, "choices": [], "usage": answer["usage"]})
    yield "data: [DONE]\n\n"


_background: set[asyncio.Future] = set()


async def _disconnected(request: Request) -> None:
    """Returns when the client closes its connection (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_gone(request: Request, job: _Job, awaitable: Any) -> Any:
    """The result of `awaitable`; if the client leaves first, the job is told (it stops at its next step)."""
    work = asyncio.ensure_future(awaitable)
    left = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, left}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        left.cancel()
        if not work.done():
            job.gone.set()
    return await work


async def _stream_text(request: Request, model: _Model, job: _Job, plan: _Plan, base: dict[str, Any]) -> Response:
    """Token-by-token stream of a plain reply, produced in a worker thread apart from the client.

    Errors up to the first token (busy, deadline, a prompt longer than the context) are an HTTP
    error before any byte is sent; a client that stops reading never holds the model."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def put(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (kind, value))

    def produce() -> None:
        try:
            with model.turn(job):
                output = model.generate(job, plan.messages, plan.sampling, on_text=lambda text: put("text", text))
            put("done", output)
        except Exception as err:  # noqa: BLE001 - handed to the response
            put("error", err)

    producer = asyncio.ensure_future(run_in_threadpool(produce))
    _background.add(producer)  # the loop keeps only weak references to tasks
    producer.add_done_callback(_background.discard)
    kind, value = await _unless_gone(request, job, events.get())
    if kind == "error":
        raise value

    async def body() -> Any:
        nonlocal kind, value
        try:
            yield _sse(_chunk(base, {"role": "assistant", "content": ""}, None))
            while True:
                if kind == "text":
                    yield _sse(_chunk(base, {"content": value}, None))
                elif kind == "done":
                    yield _sse(_chunk(base, {}, value.finish_reason))
                    if plan.include_usage:
                        usage = {"prompt_tokens": value.prompt_tokens, "completion_tokens": value.completion_tokens,
                                 "total_tokens": value.prompt_tokens + value.completion_tokens}
                        yield _sse({**base, "choices": [], "usage": usage})
                    yield "data: [DONE]\n\n"
                    return
                else:  # after the first byte, an error travels in the stream (the openai client raises it)
                    error = value if isinstance(value, APIError) else APIError(500, f"The stream failed: {value}")
                    yield _sse(error.body())
                    return
                kind, value = await events.get()
        finally:
            job.gone.set()  # the client left, or the stream is over: stop generating

    return StreamingResponse(body(), media_type="text/event-stream")


def _refusal(request: Request, settings: ServerSettings, *, needs_json: bool = False, needs_key: bool = True) -> JSONResponse | None:
    """The error for a request from a page or person the server should not answer, else None."""
    host = request.headers.get("host", "").strip().lower()
    host = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if host not in settings.allowed_hosts:
        return _error(APIError(421, f"This server does not answer to the host name {host!r}. If learners reach it "
                                    "by that name, restart it with --allow-host NAME.", code="host_not_allowed"))
    if needs_key and settings.api_key is not None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            return _error(APIError(401, "Missing or wrong API key. Set OPENAI_API_KEY to this server's key "
                                        "(the instructor has it), then restart the kernel.", code="invalid_api_key"))
    if needs_json:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _error(APIError(415, "Send the request body as JSON, with the header Content-Type: application/json.",
                                   code="unsupported_media_type"))
        length = request.headers.get("content-length", "0")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return _error(APIError(413, f"The request body is over {MAX_BODY_BYTES // 1_000_000} MB.", code="too_large"))
    return None


class _Extras:
    """The GGUF files of `settings.models_dir`, served beside the main model under their file names.

    Listed afresh at each request, so a model installed while the server runs is served at once;
    each is loaded at its first request (a smaller context than the main model) and kept."""

    def __init__(self, settings: ServerSettings, main: _Model):
        self.settings, self.main = settings, main
        self._loaded: dict[str, tuple[float, _Model]] = {}
        self._lock = threading.Lock()

    def files(self) -> dict[str, Path]:
        folder = self.settings.models_dir
        if folder is None or not folder.is_dir():
            return {}
        found = {path.name[:-5]: path for path in sorted(folder.glob("*.gguf")) if path.is_file()}
        found.pop(self.settings.model_name, None)  # the main model keeps its name
        return found

    def get(self, name: Any) -> _Model:
        """The model a request names: an installed one (loaded now if needed), else the main model."""
        path = self.files().get(name) if isinstance(name, str) else None
        if path is None:
            return self.main
        with self._lock:
            mtime = path.stat().st_mtime
            cached = self._loaded.get(name)
            if cached is None or cached[0] != mtime:  # a file replaced under the same name is reloaded
                extra = ServerSettings(**{**self.settings.__dict__, "model_path": path, "model_name": name,
                                          "n_ctx": min(self.settings.n_ctx, EXTRA_N_CTX), "models_dir": None})
                try:
                    cached = (mtime, _Model(extra, queue_of=self.main))
                except Exception as err:  # noqa: BLE001 - a broken file: say which, in OpenAI's shape
                    raise APIError(400, f"The installed model {name!r} ({path}) could not be loaded ({err}). "
                                        "Reinstall it, or delete the file.", param="model") from None
                self._loaded[name] = cached
            return cached[1]


def create_app(settings: ServerSettings) -> FastAPI:
    """The FastAPI app serving `settings.model_path` under the name `settings.model_name` (loads the model),
    and the GGUF files of `settings.models_dir` under theirs."""
    model = _Model(settings)
    extras = _Extras(settings, model)
    app = FastAPI(title="aieng local model server", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(APIError(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}. This server "
                                                "answers /health, /v1/models and POST /v1/chat/completions."))

    @app.get("/health")
    async def health(request: Request) -> Any:
        if refusal := _refusal(request, settings, needs_key=False):
            return refusal
        busy_s = time.monotonic() - model.busy_since if model.busy_since is not None else 0.0
        return {"status": "stuck" if busy_s > settings.deadline_s + 60 else "ok", "model": settings.model_name,
                "model_path": str(settings.model_path), "pid": os.getpid(), "code_hash": settings.code_hash,
                "queue": model.waiting, "busy_s": round(busy_s, 1), "served": model.n_served,
                "deadline_s": settings.deadline_s, "needs_key": settings.api_key is not None}

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        if refusal := _refusal(request, settings):
            return refusal
        names = [settings.model_name, *extras.files()]
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "local"}
                                           for name in names]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            if refusal := _refusal(request, settings, needs_json=True):
                return refusal
            try:
                body = await request.json()
            except ValueError:
                raise APIError(400, "The request body is not valid JSON.") from None
            plan = _plan(compat.parse_request(body))
            job = _Job(limit_s=settings.deadline_s)
            chosen = model if not extras.files() else await run_in_threadpool(extras.get, body.get("model"))
            base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                    "created": int(time.time()), "model": chosen.settings.model_name}
            if plan.stream and plan.is_plain:
                return await _stream_text(request, chosen, job, plan, base)

            def answer() -> dict[str, Any]:
                with chosen.turn(job):
                    return _answer(chosen, job, plan)

            result = await _unless_gone(request, job, run_in_threadpool(answer))
            if plan.stream:
                return StreamingResponse(_stream_whole(result, plan, base), media_type="text/event-stream")
            return result
        except APIError as err:
            return _error(err)
        except _ClientGone:
            return Response(status_code=499)
        except Exception as err:  # noqa: BLE001 - a bug or a library failure: say so in OpenAI's shape
            traceback.print_exc()
            return _error(APIError(500, f"The local server failed on this request ({type(err).__name__}: {err}). "
                                        "Its log is .aieng/server.log; `python -m aieng doctor` checks the server."))

    return app


def bind_socket(host: str, port: int, *, exact: bool = False) -> socket.socket:
    """A listening socket on `port`; when it is taken, OSError if `exact`, else a free port (0 = any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in (port,) if exact else (port, 0) if port else (0,):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a just-stopped server's port is free again
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    if exact:
        raise OSError(f"Port {port} on {host} is in use (by another program, or another server).")
    raise OSError(f"Could not bind any port on {host}.")


def run(app: FastAPI, sock: socket.socket, settings: ServerSettings, *, host: str) -> None:
    """Serve `app` on the bound `sock` in the foreground until interrupted."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    where = f"http://{host}:{sock.getsockname()[1]}/v1"
    key_note = " · API key required (AIENG_API_KEY)" if settings.api_key else ""
    print(f"aieng: serving {settings.model_name} at {where}{key_note} (Ctrl+C stops)", flush=True)
    server.run(sockets=[sock])

