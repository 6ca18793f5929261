"""Read a model's reply safely: its text, or its JSON, with clear errors when it is broken."""

from __future__ import annotations

import json
from typing import Any

from aieng.errors import ModelOutputError

__all__ = ["text_of", "json_of"]


def text_of(completion: Any) -> str:
    """The text of the first choice; raises ModelOutputError when it was cut at max_tokens or is empty."""
    choice = completion.choices[0]
    if choice.finish_reason == "length":
        raise ModelOutputError(
            f"The reply was cut off at max_tokens ({completion.usage.completion_tokens if completion.usage else '?'} "
            "tokens). Raise max_tokens, or ask for a shorter answer."
        )
    if not choice.message.content:
        raise ModelOutputError("The reply has no text (the model may have called a tool instead: see message.tool_calls).")
    return choice.message.content


def json_of(completion: Any) -> Any:
    """The reply parsed as JSON; raises ModelOutputError quoting the start of the bad reply."""
    text = text_of(completion)
    try:
        return json.loads(text)
    except ValueError as err:
        raise ModelOutputError(
            f"The model's reply is not valid JSON ({err.msg} at character {err.pos}): {text[:120]!r}. "
            "Ask for JSON with response_format (a JSON schema constrains the output), or retry."
        ) from err
