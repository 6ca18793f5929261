"""A cache of identical model calls: the same request, asked again, is answered from the cache.

    cached = call_cache.CachedClient(llm.client)          # in memory; path=... keeps it on disk
    triage.triage_ticket(cached, llm.model, text)          # a second identical call costs no model time
    cached.stats                                           # CacheStats(hits=1, misses=1)

Only deterministic calls are cached (temperature 0, no streaming): at a higher temperature the same
request is meant to get a different answer. The key is a hash of every argument of the call
(model, messages, schema, temperature, seed, ...), so a changed prompt version or ticket is a miss.
Each call is a `cache.lookup` span with `cache.hit`, so the traces show what the cache saved.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai.types.chat import ChatCompletion
from opentelemetry import trace

__all__ = ["CacheStats", "CachedClient", "cache_key"]

_tracer = trace.get_tracer("aieng.call_cache")


def cache_key(arguments: dict[str, Any]) -> str:
    """The hash of a call's arguments (sorted JSON): identical calls, and only they, share a key."""
    return hashlib.sha256(json.dumps(arguments, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    """Calls answered from the cache (`hits`) and sent to the model (`misses`)."""

    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class _Completions:
    def __init__(self, owner: CachedClient) -> None:
        self._owner = owner

    def create(self, **arguments: Any) -> Any:
        return self._owner._create(arguments)


class _Chat:
    def __init__(self, owner: CachedClient) -> None:
        self.completions = _Completions(owner)


class CachedClient:
    """An openai client whose `chat.completions.create` answers repeated deterministic calls from a cache.

    `path` (a JSONL file) keeps the cache across kernels; without it the cache lives in memory.
    Everything else (`base_url`, `models`, ...) is the wrapped client's."""

    def __init__(self, client: Any, *, path: str | Path | None = None) -> None:
        self._client, self._path = client, Path(path) if path else None
        self._store: dict[str, str] = {}
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0}  # shared with the copies `with_options` makes
        self.chat = _Chat(self)
        if self._path and self._path.exists():
            for line in self._path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._store[entry["key"]] = entry["completion"]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # internals (and copy's probes) are never the wrapped client's
            raise AttributeError(name)
        return getattr(self._client, name)

    def with_options(self, **options: Any) -> CachedClient:
        """The wrapped client's `with_options` (a timeout, retries), sharing this cache and its counts."""
        clone = copy.copy(self)
        clone._client = self._client.with_options(**options)
        clone.chat = _Chat(clone)
        return clone

    @property
    def stats(self) -> CacheStats:
        """Hits and misses since this client was made."""
        return CacheStats(self._counts["hits"], self._counts["misses"])

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        """Forget every cached answer (and the file, when there is one); the counts restart."""
        with self._lock:
            self._store.clear()
            self._counts.update(hits=0, misses=0)
            if self._path and self._path.exists():
                self._path.unlink()

    def _create(self, arguments: dict[str, Any]) -> Any:
        cacheable = arguments.get("temperature") == 0 and not arguments.get("stream")
        with _tracer.start_as_current_span("cache.lookup") as span:
            key = cache_key(arguments) if cacheable else ""
            span.set_attribute("cache.cacheable", cacheable)
            stored = self._store.get(key) if cacheable else None
            span.set_attribute("cache.hit", stored is not None)
            if stored is not None:
                with self._lock:
                    self._counts["hits"] += 1
                return ChatCompletion.model_validate_json(stored)
            completion = self._client.chat.completions.create(**arguments)
            with self._lock:
                self._counts["misses"] += 1
                if cacheable and completion.choices and completion.choices[0].finish_reason != "length":
                    self._store[key] = completion.model_dump_json()
                    if self._path:
                        self._path.parent.mkdir(parents=True, exist_ok=True)
                        with self._path.open("a", encoding="utf-8") as out:
                            out.write(json.dumps({"key": key, "completion": self._store[key]}) + "\n")
            return completion
