"""Record and replay of model calls, for the test run: the learner copies replay what the solutions asked.

`make test` runs every chapter twice: the solution notebook (the real run, whose numbers the
results store keeps) and its learner copy (which must reach every check without raising). The
copy asks the model most of the same questions again, which took over ten minutes of the run.

    AIENG_CALL_RECORD=calls.jsonl   every deterministic chat call still goes to the model; its reply is kept
    AIENG_CALL_REPLAY=calls.jsonl   a call kept in the file is answered from it; any other goes to the model

It works under the openai client, at the HTTP layer (an httpx transport), so `create`, `parse`
and the tracing instrumentation see an ordinary reply. Only `POST .../chat/completions` at
temperature 0 without streaming is kept: the same request body is meant to get the same answer.
Nothing in the chapters sets these variables; tests/conftest.py does.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import httpx2 as httpx  # the HTTP package the openai client is built on

__all__ = ["RECORD_ENV", "REPLAY_ENV", "ReplayTransport", "http_client"]

RECORD_ENV = "AIENG_CALL_RECORD"
REPLAY_ENV = "AIENG_CALL_REPLAY"


def _kept(request: httpx.Request) -> bool:
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        return False
    try:
        body = json.loads(request.content)
    except ValueError:
        return False
    return body.get("temperature") == 0 and not body.get("stream")


def _key(request: httpx.Request) -> str:
    return hashlib.sha256(request.url.path.encode() + b"\n" + request.content).hexdigest()


class ReplayTransport(httpx.BaseTransport):
    """Keeps each deterministic chat reply in `path` (JSONL); with `replay`, answers a kept request from it."""

    def __init__(self, path: str | Path, *, replay: bool, wrapped: httpx.BaseTransport | None = None) -> None:
        self.path, self.replay = Path(path), replay
        self._wrapped = wrapped or httpx.HTTPTransport()
        self._lock = threading.Lock()
        self._store: dict[str, str] = {}
        if replay and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._store[entry["key"]] = entry["body"]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        kept = _kept(request)
        key = _key(request) if kept else ""
        if kept and self.replay and key in self._store:
            return httpx.Response(200, headers={"content-type": "application/json"},
                                  content=self._store[key].encode(), request=request)
        response = self._wrapped.handle_request(request)
        if not kept or response.status_code != 200:
            return response
        body = response.read()
        with self._lock:
            self._store[key] = body.decode()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"key": key, "body": self._store[key]}) + "\n")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-encoding", "content-length")}
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)  # body decoded

    def close(self) -> None:
        self._wrapped.close()


def http_client() -> httpx.Client | None:
    """The http client for the course's openai client when a test run asks for record or replay, else None."""
    import openai  # here, so importing this module stays light

    for env, replay in ((REPLAY_ENV, True), (RECORD_ENV, False)):
        if path := os.environ.get(env, "").strip():
            return openai.DefaultHttpxClient(transport=ReplayTransport(path, replay=replay))
    return None
