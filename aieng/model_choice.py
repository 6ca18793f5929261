"""The models a learner wants compared, each reached as a backend in turn.

    AIENG_COMPARE_MODELS="bundled,/models/qwen2.5-0.5b-instruct-q4.gguf,endpoint"

Each entry is `bundled` (the course's SmolLM2 on the local server), a path to a `.gguf` file (the
local server serves it: `AIENG_GGUF`), or `endpoint` (the server `OPENAI_BASE_URL` names, with
`OPENAI_API_KEY` and `AIENG_MODEL`). Unset, the list is the backend the notebook already uses.

    for entry in model_choice.listed():
        with model_choice.backend_for(entry) as llm:
            ...  # the same eval for every model

Switching the local server to another GGUF file replaces the running server (it was started for
another file); leaving the block restores the environment, so the next `backend.connect()` is
back on what the notebook used before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aieng import backend

__all__ = ["COMPARE_ENV", "listed", "backend_for"]

COMPARE_ENV = "AIENG_COMPARE_MODELS"
_KEYS = ("OPENAI_BASE_URL", "AIENG_GGUF")


def listed() -> list[str]:
    """The entries of $AIENG_COMPARE_MODELS (comma-separated), or the current backend alone when unset.

    Raises ValueError for an entry that is none of `bundled`, `endpoint` or an existing .gguf file,
    and for `endpoint` when OPENAI_BASE_URL is not set."""
    raw = os.environ.get(COMPARE_ENV, "").strip()
    if not raw:
        return ["endpoint" if os.environ.get("OPENAI_BASE_URL", "").strip() else "bundled"]
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    for entry in entries:
        if entry == "endpoint" and not os.environ.get("OPENAI_BASE_URL", "").strip():
            raise ValueError(f"{COMPARE_ENV} lists 'endpoint' but OPENAI_BASE_URL is not set: set it (and "
                             "OPENAI_API_KEY) to the server you want compared, or drop 'endpoint'.")
        if entry not in ("bundled", "endpoint") and not (entry.endswith(".gguf") and Path(entry).is_file()):
            raise ValueError(f"{COMPARE_ENV} entry {entry!r} is not 'bundled', 'endpoint' or an existing .gguf "
                             "file. Separate entries with commas; give GGUF files as full paths.")
    return entries


@contextmanager
def backend_for(entry: str) -> Iterator[backend.Backend]:
    """The backend for one entry of `listed()`; the environment is restored on leaving the block."""
    saved = {key: os.environ.get(key) for key in _KEYS}
    try:
        if entry == "bundled":
            os.environ.pop("OPENAI_BASE_URL", None)
            os.environ.pop("AIENG_GGUF", None)
        elif entry != "endpoint":
            os.environ.pop("OPENAI_BASE_URL", None)
            os.environ["AIENG_GGUF"] = os.path.abspath(entry)  # not resolve(): a symlink's name is the served name
        yield backend.connect(verbose=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
