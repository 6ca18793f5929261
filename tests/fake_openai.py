"""An openai client over an in-process fake endpoint (httpx.MockTransport): tests of tracing and caching need no model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai

__all__ = ["fake_client", "completion_body"]


def completion_body(content: str, *, finish_reason: str = "stop", prompt_tokens: int = 50,
                    completion_tokens: int = 20, model: str = "fake-model") -> dict[str, Any]:
    """An OpenAI chat completion as JSON, with usage."""
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def fake_client(answer: Callable[[dict[str, Any]], dict[str, Any] | int]) -> tuple[openai.OpenAI, list[dict]]:
    """A real `openai.OpenAI` whose requests `answer(request_json)` serves: a completion body, or an HTTP status.

    Returns the client and the list of requests it received."""
    received: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content or b"{}")
        received.append(payload)
        reply = answer(payload)
        if isinstance(reply, int):
            return httpx.Response(reply, json={"error": {"message": "fake failure", "type": "server_error"}})
        return httpx.Response(200, json=reply)

    client = openai.OpenAI(base_url="http://fake.invalid/v1", api_key="none", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(handle)))
    return client, received
