"""Plot styling shared by every chapter: one palette, so each path keeps its colour.

The ML-engineering path is always blue, the AI-engineering (prompted model) path orange,
the embedding "middle paths" green, trivial baselines grey. Helpers return the `Axes`, so a
notebook adds the annotation that makes its point.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

__all__ = ["PALETTE", "color_for", "new_axes", "label_bars"]

PALETTE = {
    "ml": "#1f77b4",        # ML engineering: labelled data, trained model
    "ai": "#ff7f0e",        # AI engineering: prompted foundation model
    "embedding": "#2ca02c",  # middle paths: embeddings with zero or few labels
    "baseline": "#7f7f7f",  # trivial baselines (majority class, always refuse)
    "judge": "#9467bd",     # model-graded evals
    "retrieval": "#17becf",  # retrieval and RAG
}


def color_for(path: str) -> str:
    """The colour of a path ("ml", "ai", "embedding", "baseline", ...); unknown names raise."""
    if path not in PALETTE:
        raise ValueError(f"Unknown path {path!r}; choose one of: {', '.join(PALETTE)}.")
    return PALETTE[path]


def new_axes(title: str, xlabel: str, ylabel: str, *, size: tuple[float, float] = (6, 3.5)) -> Axes:
    """A fresh figure's axes with title and axis labels set (put units in the labels)."""
    _, ax = plt.subplots(figsize=size)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return ax


def label_bars(ax: Axes, fmt: str = "{:.2f}") -> Axes:
    """Write each bar's value above it."""
    for container in ax.containers:
        ax.bar_label(container, labels=[fmt.format(v) for v in container.datavalues], padding=2, fontsize=8)
    return ax
