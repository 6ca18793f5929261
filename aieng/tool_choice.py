"""Tool choice as a decision made by something that can decide, not by the small chat model.

    from aieng import tool_choice
    chooser = tool_choice.ToolClassifier.fit(fit_tasks)       # embeddings + id flags, fit tasks
    chooser.plan("Please refund INV-200006, I was charged twice")   # ('lookup_invoice', 'request_refund')
    chooser.next_tool(text, done=["lookup_invoice"])          # 'request_refund'; None once the plan is done
    agent.Agent(..., chooser=chooser)                         # the model then only fills the arguments

Three choosers, all with the `agent.Chooser` interface (`id`, `next_tool(text, done)`, `plan(text)`):

    DescriptionChooser  zero labels: the tool whose description is most similar to the request, one call
    PlanChooser         the plan (ordered tool names) of the most similar fit tasks, by a similarity-weighted
                        vote over the k nearest
    ToolClassifier      one logistic regression per tool on the embedding plus flags for the ids the request
                        names; the tools it needs, in the order the fit tasks use them
The fitted ones learn from the "fit" tasks only and are measured on the "eval" tasks.

Texts are embedded with the course's all-MiniLM-L6-v2 (`aieng.embeddings`), unit vectors, so a dot
product is the cosine similarity. `plan_accuracy(chooser, tasks)` scores a chooser without any model call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from aieng import embeddings, support_tools

__all__ = ["DescriptionChooser", "PlanChooser", "ToolClassifier", "expected_plan", "plan_accuracy"]

_MAX_TOKENS = 128  # a request's first 128 tokens say what it wants (as for the ticket routers)


def expected_plan(task: dict[str, Any]) -> tuple[str, ...]:
    """The tool names a task expects, in order."""
    return tuple(call["name"] for call in task["expected_calls"])


class _Cached:
    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}

    def _vector(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = embeddings.embed([text], max_tokens=_MAX_TOKENS)[0]
        return self._vectors[text]


class DescriptionChooser(_Cached):
    """Zero labels: one call to the tool whose description reads most like the request, then reply."""

    id = "embedding-zero:tool-descriptions"

    def __init__(self, tools: Sequence[str] | None = None):
        super().__init__()
        self.names = list(tools or support_tools.TOOLS)
        texts = [f"{name.replace('_', ' ')}: {support_tools.TOOLS[name].description}" for name in self.names]
        self.matrix = embeddings.embed(texts, max_tokens=_MAX_TOKENS)  # (n_tools, 384)

    def plan(self, text: str) -> tuple[str, ...]:
        """The one tool this chooser would call for `text`."""
        return (self.names[int(np.argmax(self.matrix @ self._vector(text)))],)

    def next_tool(self, text: str, done: Sequence[str]) -> str | None:
        """The most similar tool first, then None (reply)."""
        plan = self.plan(text)
        return plan[len(done)] if len(done) < len(plan) else None


class PlanChooser(_Cached):
    """The plan of the nearest fit tasks: each of the k most similar votes for its plan with its similarity."""

    def __init__(self, texts: Sequence[str], plans: Sequence[tuple[str, ...]], *, k: int = 3, name: str = "fit"):
        super().__init__()
        if not texts or len(texts) != len(plans):
            raise ValueError(f"PlanChooser needs one plan per text and at least one of each; got {len(texts)} texts "
                             f"and {len(plans)} plans.")
        self.plans, self.k = [tuple(p) for p in plans], k
        self.matrix = embeddings.embed(list(texts), max_tokens=_MAX_TOKENS)  # (n_fit, 384)
        self.id = f"embedding-knn:{name}-{len(texts)}"
        self.labels_used = len(texts)

    @classmethod
    def fit(cls, tasks: Sequence[dict[str, Any]], *, k: int = 3) -> PlanChooser:
        """A chooser fitted on `tasks` (each with "request" and "expected_calls"; use the fit split only)."""
        tasks = list(tasks)
        splits = {task.get("split") for task in tasks}
        if "eval" in splits:
            raise ValueError("Fit the chooser on the 'fit' tasks only: the 'eval' tasks measure it.")
        return cls([task["request"] for task in tasks], [expected_plan(task) for task in tasks], k=k,
                   name="fit-tasks")

    def plan(self, text: str) -> tuple[str, ...]:
        """The plan with the largest summed similarity among the k nearest fit tasks."""
        similarity = self.matrix @ self._vector(text)
        votes: dict[tuple[str, ...], float] = {}
        for index in np.argsort(-similarity)[: self.k]:
            votes[self.plans[index]] = votes.get(self.plans[index], 0.0) + float(similarity[index])
        return max(votes, key=votes.get)

    def next_tool(self, text: str, done: Sequence[str]) -> str | None:
        """The plan's next tool after the `done` ones; None when the plan is finished (reply)."""
        plan = self.plan(text)
        return plan[len(done)] if len(done) < len(plan) else None


_ID_SIGNALS = (r"\bC-\d{5}\b", r"\bORD-\d{5}\b", r"\bINV-\d{6}\b", r"\bT-\d{5}\b", r"@")  # customer, order, invoice, ticket ids; an email


def _features(vectors: np.ndarray, texts: Sequence[str], weight: float) -> np.ndarray:
    flags = np.array([[bool(re.search(p, text)) for p in _ID_SIGNALS] for text in texts], dtype=float)
    return np.hstack([vectors, weight * flags])  # (n, 384 + 5)


class ToolClassifier(_Cached):
    """One logistic regression per tool ("does this request need it?") on the request's embedding plus
    five flags (does it name a customer, order, invoice or ticket id, an email?), fitted on the fit tasks.

    The plan is the tools scored above 0.5 (at most `max_calls`, else the single best), in the order
    they take in the fit tasks' plans (lookups before actions)."""

    def __init__(self, tasks: Sequence[dict[str, Any]], *, c: float = 10.0, id_weight: float = 1.0,
                 max_calls: int = 2):
        super().__init__()
        tasks = list(tasks)
        if any(task.get("split") == "eval" for task in tasks):
            raise ValueError("Fit the chooser on the 'fit' tasks only: the 'eval' tasks measure it.")
        texts = [task["request"] for task in tasks]
        x = _features(embeddings.embed(texts, max_tokens=_MAX_TOKENS), texts, id_weight)
        self.names = list(support_tools.TOOLS)
        self.models: dict[str, Any] = {}
        positions: dict[str, list[int]] = {name: [] for name in self.names}
        for task in tasks:
            for index, call in enumerate(task["expected_calls"]):
                positions[call["name"]].append(index)
        self.position = {name: float(np.mean(p)) if p else 0.0 for name, p in positions.items()}
        for name in self.names:
            y = np.array([name in expected_plan(task) for task in tasks])
            if y.any() and not y.all():
                self.models[name] = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        self.id_weight, self.max_calls = id_weight, max_calls
        self.id = f"embedding-lr:fit-tasks-{len(tasks)}"
        self.labels_used = len(tasks)

    @classmethod
    def fit(cls, tasks: Sequence[dict[str, Any]], **options: Any) -> ToolClassifier:
        """A classifier fitted on `tasks` (the fit split)."""
        return cls(tasks, **options)

    def scores(self, text: str) -> dict[str, float]:
        """Each tool's probability of being needed for `text`."""
        x = _features(self._vector(text)[None, :], [text], self.id_weight)
        return {name: float(model.predict_proba(x)[0, 1]) for name, model in self.models.items()}

    def plan(self, text: str) -> tuple[str, ...]:
        """The tools to call, in order."""
        scores = self.scores(text)
        ranked = sorted(scores, key=scores.get, reverse=True)
        chosen = [name for name in ranked[: self.max_calls] if scores[name] > 0.5] or ranked[:1]
        return tuple(sorted(chosen, key=lambda name: self.position[name]))

    def next_tool(self, text: str, done: Sequence[str]) -> str | None:
        """The plan's next tool after the `done` ones; None when the plan is finished (reply)."""
        plan = self.plan(text)
        return plan[len(done)] if len(done) < len(plan) else None


def plan_accuracy(chooser: Any, tasks: Sequence[dict[str, Any]]) -> float:
    """Share of `tasks` whose expected tool sequence the chooser plans exactly (no model involved)."""
    tasks = list(tasks)
    return float(np.mean([chooser.plan(task["request"]) == expected_plan(task) for task in tasks])) if tasks else 0.0
