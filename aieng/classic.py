"""Classic ML on the tickets: the TF-IDF + logistic regression router of chapter 01, packaged.

Chapter 01 builds this in the open; later chapters import it from here (chapter 02 compares
against it, chapter 03's app may load the saved model). A trained model is a scikit-learn
`Pipeline` that takes ticket texts (see `ticket_text`) and predicts intents:

    router = train_text_classifier(data.load_tickets("train"))
    router.predict(ticket_text(data.load_tickets("test")))
    save_model(router)       # workspace/artifacts/ticket_router.joblib (under $AIENG_WORKSPACE when set)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from aieng.files import atomic_file
from aieng.workspace import artifact_path

__all__ = ["DEFAULT_MODEL_PATH", "default_model_path", "ticket_text", "train_text_classifier", "nested_stratified_order",
           "learning_curve", "save_model", "load_model"]



def default_model_path() -> Path:
    """Where `save_model` and `load_model` go by default: artifacts/ticket_router.joblib in the workspace."""
    return artifact_path("ticket_router.joblib")


def __getattr__(name: str) -> Path:
    if name == "DEFAULT_MODEL_PATH":  # computed at each use, so $AIENG_WORKSPACE set later still counts
        return default_model_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _require_columns(tickets: pd.DataFrame, columns: list[str]) -> None:
    if not isinstance(tickets, pd.DataFrame):
        raise TypeError(f"Expected a DataFrame of tickets (data.load_tickets(...)); got {type(tickets).__name__}.")
    missing = [c for c in columns if c not in tickets.columns]
    if missing:
        raise ValueError(f"The tickets lack column(s) {missing}; pass rows of data.load_tickets(...), "
                         f"which have {columns}.")


def ticket_text(tickets: pd.DataFrame) -> pd.Series:
    """What a router reads of each ticket: subject, a newline, body (same index as `tickets`)."""
    _require_columns(tickets, ["subject", "body"])
    return tickets["subject"].fillna("").astype(str) + "\n" + tickets["body"].fillna("").astype(str)


def train_text_classifier(tickets: pd.DataFrame, *, C: float = 10.0, seed: int = 0) -> Pipeline:
    """A fitted Pipeline (TF-IDF word 1-2 grams, sublinear tf, balanced logistic regression) from text to intent.

    `C` is the inverse regularisation strength (tune it on the validation split). The pipeline's
    `predict` takes ticket texts, e.g. `ticket_text(tickets)` or a list of strings. Fits with one
    BLAS thread: the problem is small, and on a shared 2-core machine more threads only contend."""
    _require_columns(tickets, ["subject", "body", "intent"])
    if tickets["intent"].nunique() < 2:
        raise ValueError(f"Training needs at least two intents; these {len(tickets)} tickets have "
                         f"{tickets['intent'].nunique()}. Pass more (or stratified) tickets.")
    pipeline = Pipeline([
        ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("clf", LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)),
    ])
    with threadpool_limits(1):
        return pipeline.fit(ticket_text(tickets), tickets["intent"])


def nested_stratified_order(tickets: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """`tickets` reordered so that every prefix keeps the intent mix: the first n rows are a stratified sample.

    Each intent's tickets are shuffled (fixed by `seed`) and interleaved by their relative position,
    so the first rows hold one ticket of every intent, and a larger prefix contains every smaller one."""
    _require_columns(tickets, ["intent"])
    rng = np.random.default_rng(seed)
    rank = pd.Series(0.0, index=tickets.index)
    for _, group in tickets.groupby("intent", sort=True):
        shuffled = rng.permutation(group.index.to_numpy())
        rank[shuffled] = np.arange(len(shuffled)) / len(shuffled)
    tie_break = rng.random(len(tickets))
    order = np.lexsort((tie_break, rank.to_numpy()))
    return tickets.iloc[order].reset_index(drop=True)


def learning_curve(train: pd.DataFrame, test: pd.DataFrame, sizes: list[int],
                   fit: Callable[[pd.DataFrame], Any], *, seed: int = 0) -> pd.DataFrame:
    """Test quality against the number of labeled training tickets, one row per size.

    For each n in `sizes`, `fit` gets the first n tickets of `nested_stratified_order(train)` (so
    subsets are stratified and nested) and returns a model whose `predict` takes ticket texts; it is
    scored on all of `test`. Columns: n_labels, accuracy, macro_f1."""
    _require_columns(train, ["subject", "body", "intent"])
    _require_columns(test, ["subject", "body", "intent"])
    bad = [n for n in sizes if not 1 <= int(n) <= len(train)]
    if bad:
        raise ValueError(f"Sizes {bad} are outside 1..{len(train)} (the number of training tickets).")
    ordered = nested_stratified_order(train, seed=seed)
    texts, gold = ticket_text(test), test["intent"]
    rows = []
    for n in sizes:
        model = fit(ordered.iloc[: int(n)])
        predicted = model.predict(texts)
        rows.append({"n_labels": int(n), "accuracy": accuracy_score(gold, predicted),
                     "macro_f1": f1_score(gold, predicted, average="macro", zero_division=0)})
    return pd.DataFrame(rows, columns=["n_labels", "accuracy", "macro_f1"])


def save_model(model: Any, path: str | Path | None = None) -> Path:
    """Write `model` with joblib to `path` (default `default_model_path()`; folders created) and return the path.

    The write is atomic: an interrupted save leaves the previously saved model whole."""
    path = default_model_path() if path is None else Path(path)
    with atomic_file(path, binary=True) as out:
        joblib.dump(model, out)
    return path


def load_model(path: str | Path | None = None) -> Any:
    """The model saved at `path` by `save_model` (default `default_model_path()`)."""
    path = default_model_path() if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No saved model at {path}. Run chapter 01 to the end (it saves the ticket "
                                "router there), or call classic.save_model(model, path) first.")
    return joblib.load(path)
