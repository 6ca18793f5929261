"""Checks for chapter 05 (retrieval-augmented generation over the help center)."""

from __future__ import annotations

import math
from typing import Callable

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["recall_at_k", "reciprocal_rank", "chunk_words"]


def _call(fn: Callable, args: tuple, kwargs: dict) -> tuple[object, Exception | None]:
    try:
        return fn(*args, **kwargs), None
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        return None, err


def _shown(name: str, args: tuple, kwargs: dict) -> str:
    parts = [repr(a) for a in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
    return f"{name}({', '.join(parts)})"


# (retrieved article ids, gold ids, k, expected); the hint says which rule the case tests.
_RECALL_CASES = [
    ((["KB-103", "KB-101", "KB-153"], ["KB-103"], 1), 1.0, "A gold article at rank 1 is a hit for any k >= 1."),
    ((["KB-104", "KB-101", "KB-103"], ["KB-103"], 3), 1.0, "Look at all of the first k ids, not only the first one."),
    ((["KB-104", "KB-101", "KB-103"], ["KB-103"], 2), 0.0, "Only the first k retrieved ids count as retrieved."),
    ((["KB-402", "KB-402", "KB-404"], ["KB-403", "KB-404"], 3), 1.0,
     "A question may have several gold articles: any one of them among the first k is a hit."),
    ((["KB-501", "KB-502"], ["KB-607"], 5), 0.0,
     "When no gold article was retrieved the score is 0.0, even if fewer than k ids came back."),
    (([], ["KB-607"], 5), 0.0, "Nothing retrieved means nothing found: 0.0."),
]


def recall_at_k(fn: Callable[..., float]) -> Result:
    """Exercise 5.1: `fn(retrieved_ids, gold_ids, k)` is 1.0 when a gold article is among the first k, else 0.0."""
    require_callable(fn, "recall_at_k", "recall_at_k")
    for args, want, hint in _RECALL_CASES:
        got, err = _call(fn, args, {})
        shown = _shown("recall_at_k", args, {})
        if err is not None:
            return fail("5.1", f"{shown} raised {type(err).__name__}: {err}", hint=hint)
        if is_stub(got):
            return todo("5.1", "recall_at_k")
        if isinstance(got, str) or not isinstance(got, (int, float)):
            return fail("5.1", f"{shown} returned a {type(got).__name__}, not a number.",
                        hint="Return 1.0 for a hit and 0.0 for a miss, so the mean over questions is recall@k.")
        if float(got) != want:
            return fail("5.1", f"{shown} returned {got!r}, the wrong verdict for this question.", hint=hint)
    return ok("5.1", "recall_at_k counts a hit when any gold article is among the first k retrieved.")


# (retrieved article ids, gold ids, expected); the hint says which rule the case tests.
_RANK_CASES = [
    ((["KB-103", "KB-104"], ["KB-103"]), 1.0, "Ranks start at 1: a gold article first scores 1 / 1."),
    ((["KB-104", "KB-101", "KB-103"], ["KB-103"]), 1 / 3,
     "Ranks start at 1 (the first id has rank 1), and the score is one over the rank."),
    ((["KB-402", "KB-404", "KB-403"], ["KB-403", "KB-404"]), 1 / 2,
     "With several gold articles, the first one retrieved decides the rank."),
    ((["KB-501", "KB-502"], ["KB-607"]), 0.0, "When no gold article was retrieved, the reciprocal rank is 0.0."),
]


def reciprocal_rank(fn: Callable[..., float]) -> Result:
    """Exercise 5.2: `fn(retrieved_ids, gold_ids)` is 1 / the rank of the first gold article, 0.0 when none."""
    require_callable(fn, "reciprocal_rank", "reciprocal_rank")
    for args, want, hint in _RANK_CASES:
        got, err = _call(fn, args, {})
        shown = _shown("reciprocal_rank", args, {})
        if err is not None:
            return fail("5.2", f"{shown} raised {type(err).__name__}: {err}", hint=hint)
        if is_stub(got):
            return todo("5.2", "reciprocal_rank")
        if isinstance(got, str) or not isinstance(got, (int, float)):
            return fail("5.2", f"{shown} returned a {type(got).__name__}, not a number.",
                        hint="Return a float between 0 and 1.")
        if not math.isclose(float(got), want, abs_tol=1e-9):
            return fail("5.2", f"{shown} returned {got!r}, which is not one over the rank of the first gold article.",
                        hint=hint)
    return ok("5.2", "reciprocal_rank scores 1 / rank of the first gold article, and 0 when there is none.")


_TEXT = "one two three four five six seven eight nine ten"
# (text, size, overlap), the windows expected, and the hint naming the rule the case tests.
_CHUNK_CASES = [
    ((_TEXT, 5, 0), ["one two three four five", "six seven eight nine ten"],
     "Without overlap the windows follow each other: each starts where the last one ended."),
    ((_TEXT, 4, 1), ["one two three four", "four five six seven", "seven eight nine ten"],
     "Each window starts size - overlap words after the start of the previous one."),
    ((_TEXT, 4, 2), ["one two three four", "three four five six", "five six seven eight", "seven eight nine ten"],
     "Stop after the first window that reaches the last word: a later window would lie wholly inside it."),
    ((_TEXT, 3, 1), ["one two three", "three four five", "five six seven", "seven eight nine", "nine ten"],
     "The last window may be shorter than size: it ends at the last word."),
    ((_TEXT, 20, 5), [_TEXT], "A text shorter than one window is a single chunk."),
    (("  spaces\n and\tnew lines  ", 2, 0), ["spaces and", "new lines"],
     "Split on any whitespace (str.split() without arguments) and join the words of a window with single spaces."),
    (("", 4, 1), [], "An empty text has no chunks: return an empty list."),
]


def chunk_words(fn: Callable[..., list[str]]) -> Result:
    """Exercise 5.3: `fn(text, size, overlap)` cuts `text` into windows of `size` words sharing `overlap` words."""
    require_callable(fn, "chunk_words", "chunk_words")
    for args, want, hint in _CHUNK_CASES:
        got, err = _call(fn, args, {})
        shown = _shown("chunk_words", args, {})
        if err is not None:
            return fail("5.3", f"{shown} raised {type(err).__name__}: {err}", hint=hint)
        if is_stub(got):
            return todo("5.3", "chunk_words")
        if not isinstance(got, list) or not all(isinstance(piece, str) for piece in got):
            return fail("5.3", f"{shown} returned {type(got).__name__} {got!r:.80}, not a list of strings.",
                        hint="Return a list with one string per window.")
        if got != want:
            if len(got) > len(want) and got[:len(want)] == want:
                hint = ("Stop after the first window that reaches the last word: the windows after it lie wholly "
                        "inside it.")
            elif len(got) < len(want) and want[:len(got)] == got:
                hint = "Keep making windows until one reaches the last word of the text."
            return fail("5.3", f"{shown} returned {got!r}.", hint=hint)
    return ok("5.3", "chunk_words makes windows of `size` words that share `overlap` words, ending at the last word.")
