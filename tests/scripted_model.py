"""A scripted stand-in for llama-cpp-python's `Llama`, and the real serving layer around it.

The serving layer's rules (validation, schemas, deadlines, queueing, classroom checks) need no
language model to be tested: `ScriptedLlama` renders the chat template, counts tokens and
"generates" a reply the test chose, one word per token, as slowly as the test asks. `running_app`
serves `aieng.serving.create_app` with it on a loopback port through real uvicorn, so HTTP
behaviour (status before the first byte, a client that stalls or leaves) is the real thing.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llama_cpp
import uvicorn

from aieng import serving

__all__ = ["ScriptedLlama", "running_app"]

_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}<|assistant|>"


class ScriptedLlama:
    """Answers every completion with `script(call)`: a reply text, or an exception to raise at the first token.

    `call` holds what the server asked for (prompt tokens, max_tokens, grammar text, ...); every
    call is kept in `calls`, and `n_generated` counts the tokens it produced."""

    script: Callable[[dict[str, Any]], Any] = staticmethod(lambda call: "Hello there.")
    delay_s = 0.0  # per token
    n_ctx_default = 512
    latest: ScriptedLlama | None = None

    def __init__(self, model_path: str = "", n_ctx: int = 0, **_: Any):
        self._n_ctx = n_ctx or self.n_ctx_default
        self.n_tokens = 0
        self.n_generated = 0
        self.calls: list[dict[str, Any]] = []
        self.metadata = {"tokenizer.chat_template": _TEMPLATE}
        type(self).latest = self

    # what the serving layer reads from a Llama
    def token_eos(self) -> int:
        return 2

    def token_bos(self) -> int:
        return 1

    def detokenize(self, tokens: list[int], prev_tokens: Any = None, special: bool = False) -> bytes:
        return {1: b"<s>", 2: b"</s>"}.get(tokens[0], b"x")

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return [1] * add_bos + [3] * len(text.split())

    def n_ctx(self) -> int:
        return self._n_ctx

    def _pieces(self, call: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
        reply = type(self).script(call)
        if isinstance(reply, BaseException):
            raise reply
        if len(call["prompt"]) >= self._n_ctx:  # what llama-cpp-python raises for an over-long prompt
            raise ValueError(f"Requested tokens ({len(call['prompt'])}) exceed context window of {self._n_ctx}")
        pieces = re.findall(r"\S+\s*", reply)
        limit = call["max_tokens"] if call["max_tokens"] and call["max_tokens"] > 0 else self._n_ctx
        self.n_tokens = len(call["prompt"])
        for piece in pieces[:limit]:
            time.sleep(type(self).delay_s)
            self.n_generated += 1
            self.n_tokens += 1
            yield piece, None
        yield "", "length" if len(pieces) > limit else "stop"

    def create_completion(self, prompt: list[int], stream: bool = False, max_tokens: int = 16,
                          grammar: Any = None, **kwargs: Any) -> Any:
        call = {"prompt": prompt, "max_tokens": max_tokens, "grammar": getattr(grammar, "_grammar", None), **kwargs}
        self.calls.append(call)

        def chunks() -> Iterator[dict[str, Any]]:
            for text, finish in self._pieces(call):
                yield {"choices": [{"text": text, "finish_reason": finish}]}

        return chunks()

    # the entry point of the serving layer before it streamed every completion itself
    def create_chat_completion(self, messages: list[dict[str, Any]], stream: bool = False, max_tokens: Any = None,
                               response_format: Any = None, **kwargs: Any) -> Any:
        prompt = self.tokenize(" ".join(m["content"] for m in messages).encode())
        call = {"prompt": prompt, "max_tokens": max_tokens, "grammar": response_format, **kwargs}
        self.calls.append(call)
        if stream:
            def chunks() -> Iterator[dict[str, Any]]:
                for text, finish in self._pieces(call):
                    yield {"choices": [{"delta": {"content": text} if text else {}, "finish_reason": finish}]}
            return chunks()
        pieces = list(self._pieces(call))
        text = "".join(p for p, _ in pieces)
        usage = {"prompt_tokens": len(prompt), "completion_tokens": len(pieces) - 1, "total_tokens": len(prompt) + len(pieces) - 1}
        return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": pieces[-1][1]}],
                "usage": usage}


@contextmanager
def running_app(monkeypatch: Any, script: Callable[[dict[str, Any]], Any] | str = "Hello there.", *,
                delay_s: float = 0.0, **settings: Any) -> Iterator[str]:
    """The serving app with a ScriptedLlama on a free loopback port; yields its root URL (no `/v1`)."""
    replies = script if callable(script) else (lambda call: script)
    monkeypatch.setattr(ScriptedLlama, "script", staticmethod(replies))
    monkeypatch.setattr(ScriptedLlama, "delay_s", delay_s)
    monkeypatch.setattr(llama_cpp, "Llama", ScriptedLlama)
    settings.setdefault("model_path", Path("/models/scripted.gguf"))
    settings.setdefault("model_name", "scripted")
    settings.setdefault("n_ctx", ScriptedLlama.n_ctx_default)
    app = serving.create_app(serving.ServerSettings(**settings))
    sock = serving.bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
