"""Read a model's reply safely: its text, or its JSON, with clear errors when it is broken."""

from __future__ import annotations

import json
import re
from typing import Any

from aieng.errors import ModelOutputError

__all__ = ["text_of", "json_of", "repeats", "loops", "without_repeats", "last_full_sentence"]


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


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def repeats(text: str) -> int:
    """How many sentences of `text` repeat an earlier one (case and spacing ignored): 0 for a draft that does not loop.

    A small model at temperature 0 can fall into a loop ("I'm sorry about that. I'm sorry about
    that. ...") that runs until the length limit; this counts the repeated sentences."""
    seen: set[str] = set()
    count = 0
    for sentence in _sentences(text):
        key = " ".join(sentence.casefold().split())
        count += key in seen
        seen.add(key)
    return count


def loops(text: str, *, ngram: int = 4, times: int = 3) -> bool:
    """True when `text` loops: a sentence repeats, or some `ngram` words recur `times` times or more
    (a loop with no full stop in it)."""
    if repeats(text):
        return True
    words = text.casefold().split()
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - ngram + 1):
        key = tuple(words[i:i + ngram])
        counts[key] = counts.get(key, 0) + 1
        if counts[key] >= times:
            return True
    return False


def last_full_sentence(text: str, *, min_chars: int = 0) -> str:
    """`text` cut after its last full sentence (., ! or ?), when that leaves at least `min_chars`; else unchanged.

    A draft stopped by the schema's length limit ends mid-word; a customer should not read that."""
    text = text.strip()
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    if ends and ends[-1] < len(text) and ends[-1] >= min_chars:
        return text[:ends[-1]]
    return text


def without_repeats(text: str, *, ngram: int = 4) -> str:
    """`text` with its loop removed: every sentence that repeats an earlier one goes, and a run of `ngram`
    words that comes back is cut at its second start; a cut-off last fragment goes too when a full
    sentence is left."""
    kept: list[str] = []
    seen: set[str] = set()
    for sentence in _sentences(text):
        key = " ".join(sentence.casefold().split())
        if key not in seen:
            kept.append(sentence)
            seen.add(key)
    result = " ".join(kept)
    words = result.split()
    first: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - ngram + 1):
        key = tuple(w.casefold() for w in words[i:i + ngram])
        if key in first and i >= first[key] + ngram:
            result = " ".join(words[:i])
            break
        first.setdefault(key, i)
    if result != text.strip():
        result = last_full_sentence(result, min_chars=1)
    return result
