"""Routers: anything that sends a ticket to one queue, behind one interface and one eval.

    from aieng import routers
    router = routers.DescriptionRouter.from_version("v1")     # embeddings, zero labels
    router.route(["I was charged twice for March"])            # [Route(queue='billing', score=0.52)]
    report = routers.evaluate(router, data.load_tickets("validation"))
    report.accuracy, report.ms_per_ticket, report.labels_used

A router has an `id` (what to log beside every result: kind and version), `labels_used` (labelled
tickets it was built from) and `route(texts)`, which gives one `Route` per text: the queue and a
score (higher is surer, on the router's own scale). Four kinds, from chapters 01 and 02:

    PromptedRouter     the chat model picks the queue under a JSON schema (a triage prompt version)
    DescriptionRouter  embeddings, zero labels: the most similar queue description (prompts/queues-*.md)
    FewLabelRouter     embeddings + logistic regression on the first n train tickets (stratified)
    ClassicRouter      chapter 01's TF-IDF + logistic regression, trained or loaded from workspace/

`evaluate` scores every kind the same way on the same tickets and times it. `load_choice` reads the
router the evals picked (prompts/router-choice.json), which chapter 03's app uses.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from threadpoolctl import threadpool_limits

from aieng import classic, data, prompts

__all__ = [
    "CHOICE_PATH", "DESCRIPTIONS_NAME", "ROUTE_MAX_TOKENS", "Route", "Router", "RouterReport",
    "PromptedRouter", "DescriptionRouter", "FewLabelRouter", "ClassicRouter",
    "parse_descriptions", "evaluate", "compare", "from_spec", "load_choice",
]

DESCRIPTIONS_NAME = "queues"  # prompts/queues-<version>.md: one "- queue: description" line per queue
CHOICE_PATH = prompts.PROMPTS_DIR / "router-choice.json"
ROUTE_MAX_TOKENS = 128  # embedding routers read a ticket's first 128 tokens: measured, as accurate and twice as fast as 256


@dataclass(frozen=True)
class Route:
    """Where one ticket goes: the queue, and how sure the router is (its own scale; NaN when it has none)."""

    queue: str
    score: float


@runtime_checkable
class Router(Protocol):
    """The interface every router meets: an id, the labels it was built from, and `route(texts)`."""

    @property
    def id(self) -> str: ...

    @property
    def labels_used(self) -> int: ...

    def route(self, texts: Sequence[str]) -> list[Route]: ...


def _texts(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("route() takes a list of ticket texts; wrap one text in a list: router.route([text]).")
    texts = [str(t) for t in texts]
    if any(not t.strip() for t in texts):
        raise ValueError("A ticket text is empty: pass the customer's subject and body (classic.ticket_text).")
    return texts


def _top_routes(probabilities: np.ndarray, classes: Sequence[Any]) -> list[Route]:
    """One Route per row: the most probable class and its probability."""
    best = probabilities.argmax(axis=1)
    return [Route(queue=str(classes[i]), score=float(probabilities[row, i])) for row, i in enumerate(best)]


# ---------------------------------------------------------------- the chat model

class _Intent(BaseModel):
    intent: Literal[data.INTENTS]  # type: ignore[valid-type]


_ROUTE_FORMAT = {"type": "json_schema",
                 "json_schema": {"name": "route", "schema": _Intent.model_json_schema(), "strict": False}}


@dataclass
class PromptedRouter:
    """The chat model picks the queue: a triage prompt version as the system turn, the ticket last,
    the reply constrained to `{"intent": <one of the queues>}` (temperature 0).

    Its score is NaN: a chat reply carries no probability here. A reply that breaks the schema
    routes to `None` (counted wrong by `evaluate`)."""

    client: Any
    model: str
    prompt_version: str = "v2"
    max_tokens: int = 40

    @property
    def id(self) -> str:
        """`prompted:triage-<version>`."""
        return f"prompted:triage-{self.prompt_version}"

    @property
    def labels_used(self) -> int:
        """The few-shot examples in the prompt: one `Answer:` line each."""
        return prompts.load("triage", self.prompt_version).text.count("\nAnswer: ")

    def route(self, texts: Sequence[str]) -> list[Route]:
        """One schema-constrained call per text."""
        system = prompts.load("triage", self.prompt_version).text
        routes = []
        for text in _texts(texts):
            completion = self.client.chat.completions.create(
                model=self.model, response_format=_ROUTE_FORMAT, temperature=0, seed=0, max_tokens=self.max_tokens,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": f"Ticket: {text.strip()}"}])
            try:
                queue = _Intent.model_validate_json(completion.choices[0].message.content or "").intent
            except ValidationError:
                queue = None
            routes.append(Route(queue=queue, score=math.nan))
        return routes


# ---------------------------------------------------------------- embeddings, zero labels

def parse_descriptions(prompt: prompts.Prompt) -> dict[str, list[str]]:
    """`{queue: [description, ...]}` from a queue-description file: `- queue: description` lines, one or
    more per queue (a queue may have several lines; the router takes the most similar one).

    Raises ValueError naming the queues that are missing or unknown, so a learner's edit that drops
    or misspells a queue is caught before it is scored."""
    found: dict[str, list[str]] = {}
    for line in prompt.text.splitlines():
        if line.startswith("- ") and ":" in line:
            name, description = line[2:].split(":", 1)
            found.setdefault(name.strip(), []).append(description.strip())
    unknown = sorted(set(found) - set(data.INTENTS))
    missing = [q for q in data.INTENTS if q not in found]
    if unknown or missing:
        raise ValueError(f"{prompt.path.name}: every queue needs at least one line '- queue: description'. "
                         f"Missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'}.")
    empty = sorted({q for q, lines in found.items() if not all(lines)})
    if empty:
        raise ValueError(f"{prompt.path.name}: a description of {', '.join(empty)} is empty.")
    return {queue: found[queue] for queue in data.INTENTS}


@dataclass
class DescriptionRouter:
    """Embeddings with zero labels: each ticket goes to the queue with the description most similar to it.

    A queue may have several description lines; its similarity is that of its closest line. The
    score is the cosine similarity to the chosen line (between -1 and 1)."""

    descriptions: dict[str, list[str]]
    version: str
    _vectors: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_version(cls, version: str = "v1", *, folder: Path = prompts.PROMPTS_DIR) -> DescriptionRouter:
        """The router for `prompts/queues-<version>.md` (or `folder/queues-<version>.md`)."""
        prompt = prompts.load(DESCRIPTIONS_NAME, version, folder=folder)
        return cls(parse_descriptions(prompt), version=prompt.version)

    @classmethod
    def from_file(cls, path: str | Path) -> DescriptionRouter:
        """The router for a queue-description file anywhere, e.g. your copy in workspace/."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No queue-description file at {path}. Copy prompts/queues-v1.md there first.")
        prompt = prompts.parse(path.read_text(encoding="utf-8"), path)
        return cls(parse_descriptions(prompt), version=prompt.version)

    @property
    def id(self) -> str:
        """`embedding-zero:queues-<version>`."""
        return f"embedding-zero:{DESCRIPTIONS_NAME}-{self.version}"

    @property
    def labels_used(self) -> int:
        """Zero: descriptions, not labelled tickets."""
        return 0

    def route(self, texts: Sequence[str]) -> list[Route]:
        """Embed the texts; each queue scores its closest description line; take the best queue."""
        from aieng import embeddings

        texts = _texts(texts)
        lines = [(queue, line) for queue, queue_lines in self.descriptions.items() for line in queue_lines]
        if self._vectors is None:
            self._vectors = embeddings.embed([line for _, line in lines])
        similarity = embeddings.embed(texts, max_tokens=ROUTE_MAX_TOKENS) @ self._vectors.T  # unit vectors: cosine similarity
        owner = np.array([queue for queue, _ in lines])
        queues = list(self.descriptions)
        per_queue = np.stack([similarity[:, owner == queue].max(axis=1) for queue in queues], axis=1)
        return _top_routes(per_queue, queues)


# ---------------------------------------------------------------- embeddings + a few labels

@dataclass
class FewLabelRouter:
    """Embeddings + logistic regression, fitted on labelled tickets; the score is the top class probability."""

    model: LogisticRegression
    n_labels: int
    source: str = "train"

    @classmethod
    def fit(cls, tickets: pd.DataFrame, *, source: str = "train", C: float = 10.0) -> FewLabelRouter:
        """Fit on `tickets` (columns subject, body, intent). `source` names where they came from, for the id."""
        from aieng import embeddings

        vectors = embeddings.embed(list(classic.ticket_text(tickets)), max_tokens=ROUTE_MAX_TOKENS)
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
        with threadpool_limits(1):
            model.fit(vectors, tickets["intent"].to_numpy())
        return cls(model=model, n_labels=len(tickets), source=source)

    @classmethod
    def first_n(cls, n: int, *, seed: int = 0) -> FewLabelRouter:
        """Fitted on the first `n` train tickets in chapter 01's nested, stratified order (seed 0)."""
        ordered = classic.nested_stratified_order(data.load_tickets("train"), seed=seed)
        if not 1 <= n <= len(ordered):
            raise ValueError(f"n={n} is outside 1..{len(ordered)} (the train split's size).")
        return cls.fit(ordered.head(n), source=f"train-first-{n}")

    @property
    def id(self) -> str:
        """`embedding-lr:<source>`, e.g. `embedding-lr:train-first-50`."""
        return f"embedding-lr:{self.source}"

    @property
    def labels_used(self) -> int:
        """The labelled tickets it was fitted on."""
        return self.n_labels

    def route(self, texts: Sequence[str]) -> list[Route]:
        """Embed the texts and take the most probable queue."""
        from aieng import embeddings

        with threadpool_limits(1):
            probabilities = self.model.predict_proba(embeddings.embed(_texts(texts), max_tokens=ROUTE_MAX_TOKENS))
        return _top_routes(probabilities, self.model.classes_)


# ---------------------------------------------------------------- chapter 01's classic model

@dataclass
class ClassicRouter:
    """Chapter 01's TF-IDF + logistic regression pipeline; the score is the top class probability."""

    pipeline: Any
    n_labels: int
    source: str = "train"

    @classmethod
    def train(cls, tickets: pd.DataFrame | None = None, *, source: str = "train") -> ClassicRouter:
        """Trained on `tickets` (default: the whole train split), as chapter 01 does."""
        tickets = data.load_tickets("train") if tickets is None else tickets
        return cls(classic.train_text_classifier(tickets), n_labels=len(tickets), source=source)

    @classmethod
    def saved(cls, path: str | Path | None = None) -> ClassicRouter:
        """The model chapter 01 saved (default: `classic.default_model_path()`); FileNotFoundError says how to make it."""
        pipeline = classic.load_model(path)
        n = int(getattr(pipeline, "n_labels_", 0)) or len(data.load_tickets("train"))
        return cls(pipeline, n_labels=n, source="chapter-01")

    @property
    def id(self) -> str:
        """`tfidf-lr:<source>`."""
        return f"tfidf-lr:{self.source}"

    @property
    def labels_used(self) -> int:
        """The labelled tickets it was trained on."""
        return self.n_labels

    def route(self, texts: Sequence[str]) -> list[Route]:
        """Predict with the pipeline (one BLAS thread)."""
        with threadpool_limits(1):
            probabilities = self.pipeline.predict_proba(_texts(texts))
        return _top_routes(probabilities, self.pipeline.classes_)


# ---------------------------------------------------------------- one eval for all

@dataclass(frozen=True)
class RouterReport:
    """One router on one set of tickets: quality, speed, labels, and the row-by-row predictions.

    `predictions` columns: id, gold, queue, score, correct."""

    router_id: str
    n: int
    accuracy: float
    macro_f1: float
    ms_per_ticket: float
    labels_used: int
    predictions: pd.DataFrame

    def row(self) -> dict[str, Any]:
        """The report as one table row (no predictions)."""
        return {"router": self.router_id, "n": self.n, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "ms_per_ticket": self.ms_per_ticket, "labels_used": self.labels_used}

    def __str__(self) -> str:
        return (f"{self.router_id}: accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f} on {self.n} tickets, "
                f"{self.ms_per_ticket:.0f} ms per ticket, {self.labels_used} labels")


def evaluate(router: Router, tickets: pd.DataFrame, *, batch_size: int = 64, progress: bool = False) -> RouterReport:
    """Route every ticket in `tickets` (columns id, subject, body, intent), score and time it.

    Accuracy and macro-F1 over the 11 queues; a route of None (a broken reply) counts as wrong.
    The time is wall-clock time of `route` divided by the number of tickets."""
    if not isinstance(router, Router):
        raise TypeError(f"{type(router).__name__} is not a router: it needs .id, .labels_used and .route(texts).")
    if len(tickets) == 0:
        raise ValueError("No tickets to evaluate: pass a split, e.g. data.load_tickets('validation').")
    texts = list(classic.ticket_text(tickets))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), desc=router.id, unit="ticket")
        batch_size = min(batch_size, 16)  # a chat-model router takes a second a ticket: show it moving
    routes: list[Route] = []
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        routes.extend(router.route(batch))
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - started
    gold = tickets["intent"].to_numpy()
    predicted = np.array([r.queue if r.queue is not None else "(none)" for r in routes], dtype=object)
    predictions = pd.DataFrame({"id": tickets["id"].to_numpy(), "gold": gold, "queue": predicted,
                                "score": [r.score for r in routes], "correct": predicted == gold})
    return RouterReport(
        router_id=router.id, n=len(tickets), accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1_score(gold, predicted, labels=list(data.INTENTS), average="macro", zero_division=0)),
        ms_per_ticket=1000 * elapsed / len(tickets), labels_used=int(router.labels_used), predictions=predictions)


def compare(routers: Sequence[Router], tickets: pd.DataFrame, *, progress: bool = False) -> pd.DataFrame:
    """`evaluate` each router on the same tickets; one row per router, best accuracy first."""
    rows = [evaluate(r, tickets, progress=progress).row() for r in routers]
    return pd.DataFrame(rows).set_index("router").sort_values("accuracy", ascending=False)


# ---------------------------------------------------------------- the router the evals picked

def from_spec(spec: dict[str, Any], *, client: Any = None, model: str | None = None) -> Router:
    """Build a router from its spec: `{"kind": "embedding-zero", "version": "v1"}`, `{"kind":
    "embedding-lr", "n_labels": 50}`, `{"kind": "tfidf-lr"}`, `{"kind": "prompted", "version": "v2"}`
    (needs `client` and `model`) or `{"kind": "fine-tuned", "model": <served name>, "labels_used": n}`
    (chapter 08; needs `client`)."""
    kind = spec.get("kind")
    if kind == "embedding-zero":
        return DescriptionRouter.from_version(spec.get("version", "v1"))
    if kind == "embedding-lr":
        return FewLabelRouter.first_n(int(spec["n_labels"]))
    if kind == "tfidf-lr":
        return ClassicRouter.train()
    if kind == "prompted":
        if client is None or model is None:
            raise ValueError("A prompted router needs the client and model: from_spec(spec, client=..., model=...).")
        return PromptedRouter(client, model, spec.get("version", "v2"))
    if kind == "fine-tuned":  # chapter 08: a tuned model the server serves by name
        from aieng.tuned_model import FineTunedRouter

        if client is None or "model" not in spec:
            raise ValueError('A fine-tuned router needs the client and the served model name: '
                             'from_spec({"kind": "fine-tuned", "model": "fine-tuned-lora-256"}, client=...).')
        return FineTunedRouter(client, spec["model"], labels_used=int(spec.get("labels_used", 0)))
    raise ValueError(f"Unknown router kind {kind!r}; use embedding-zero, embedding-lr, tfidf-lr, prompted or fine-tuned.")


def load_choice(path: Path = CHOICE_PATH) -> dict[str, Any]:
    """The router choice the evals made (prompts/router-choice.json): the chosen spec, its id, the candidates."""
    try:
        choice = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"No router choice at {path}: run `python -m aieng.router_choice` to make it.") from err
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); regenerate it: `python -m aieng.router_choice`.") from err
    if "chosen" not in choice or "kind" not in choice["chosen"]:
        raise ValueError(f"{path} lacks a 'chosen' router spec; regenerate it: `python -m aieng.router_choice`.")
    return choice
