"""Chapter 09's plumbing: the comparison of every approach from the results store, the two workflows'
ledgers, and the new queue the capstone exercise adds.

    from aieng import capstone
    table = capstone.comparison_table()        # one row per recorded approach, plus one per missing family
    capstone.plot_comparison(table)            # minutes to prototype, labels, quality (95% CI), latency, cost
    minutes = capstone.workflow_minutes()      # where the minutes went in each workflow (the ledgers)
    tickets = capstone.load_new_queue("train") # the new queue's labelled tickets (data/capstone/)

Nothing here types a number: every figure comes from what the chapters recorded (`aieng.results`)
or saved in their ledgers (`aieng.ledger`). A family no chapter has recorded yet is a row marked
missing, naming the chapter to run.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aieng import data, ledger, prompts, results, routers
from aieng.files import read_jsonl, shown, write_atomic
from aieng.workspace import artifact_path

__all__ = [
    "NEW_QUEUE", "NEW_QUEUE_PATH", "QUEUES", "AI_LEDGER_NAME", "HOSTED_PRICES", "LAYERS",
    "load_new_queue", "description_router", "comparison_table", "plot_comparison", "ai_ledger_path",
    "workflow_minutes", "plot_value_shift", "save_snapshot", "load_snapshot",
]

NEW_QUEUE = "expenses"  # the queue Ledgerloop opens for its new Expenses add-on
NEW_QUEUE_PATH = data.DATA_DIR / "capstone" / "new_queue_tickets.jsonl"
QUEUES = (*data.INTENTS, NEW_QUEUE)  # the 11 queues the course routes to, and the new one
AI_LEDGER_NAME = "ledger-ai.json"  # chapter 02 saves the AI workflow's stages here, beside chapter 01's ledger.json
# A hosted reference for the cost column: list prices in USD per million tokens (input, output), as chapter 02's
# table; prices change, so check the provider's page before relying on a figure.
HOSTED_PRICES = {"model": "gpt-4o-mini", "usd_per_million_input": 0.15, "usd_per_million_output": 0.60}
# Where a ledger stage belongs: the layers of the value shift (model work, data work, the application, evaluation).
LAYERS = {
    "collect": "data", "label": "data", "featurize": "model", "train": "model", "fine-tune": "model",
    "evaluate": "evaluation", "productize": "application", "prompt": "application", "descriptions": "application",
    "prototype": "application", "retrieval": "application", "agent": "application",
}
_SNAPSHOT = "capstone/table.json"


# ---------------------------------------------------------------- the new queue

def load_new_queue(split: str | None = None) -> pd.DataFrame:
    """The new queue's labelled tickets (intent `expenses`), one row each; `split` picks train, validation or test.

    Columns as `data.load_tickets`, plus `split`. These tickets are in no split of `data/tickets/`, so
    every other chapter's numbers stay as they are."""
    if split is not None and split not in data.SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of: {', '.join(data.SPLITS)}, or None for all.")
    rows = read_jsonl(NEW_QUEUE_PATH, hint="Restore it with `git checkout -- data/capstone/`.")
    tickets = pd.DataFrame(rows)
    return tickets if split is None else tickets[tickets["split"] == split].reset_index(drop=True)


def description_router(path: str | Path) -> routers.DescriptionRouter:
    """The zero-label router for a description file that covers the 11 queues and the new one.

    Same file format as `prompts/queues-v2.md` (`- queue: description`, several lines per queue
    allowed); `routers.DescriptionRouter.from_file` reads only the 11 queues, so this reads the
    twelfth too. Raises ValueError naming the queues that are missing or unknown."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No description file at {shown(path)}. Run the cell that copies prompts/queues-v2.md.")
    prompt = prompts.parse(path.read_text(encoding="utf-8"), path)
    found: dict[str, list[str]] = {}
    for line in prompt.text.splitlines():
        if line.startswith("- ") and ":" in line:
            name, description = line[2:].split(":", 1)
            if description.strip():
                found.setdefault(name.strip(), []).append(description.strip())
    missing = [queue for queue in QUEUES if queue not in found]
    unknown = sorted(set(found) - set(QUEUES))
    if missing or unknown:
        raise ValueError(f"{path.name}: every queue needs at least one line '- queue: description'. "
                         f"Missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'}.")
    return routers.DescriptionRouter({queue: found[queue] for queue in QUEUES}, version=prompt.version)


# ---------------------------------------------------------------- the comparison table

def _usd_per_1000(row: pd.Series, prices: dict[str, Any]) -> float:
    """Token cost of 1,000 requests at the hosted reference price; 0 for approaches that call no chat model."""
    extra = row["extra"] if isinstance(row["extra"], dict) else {}
    prompt_tokens, completion_tokens = extra.get("prompt_tokens"), extra.get("completion_tokens")
    if prompt_tokens is not None and completion_tokens is not None:
        per_request = (prompt_tokens * prices["usd_per_million_input"]
                       + completion_tokens * prices["usd_per_million_output"]) / 1e6
    elif row["tokens_per_request"] is not None and not pd.isna(row["tokens_per_request"]):
        per_request = row["tokens_per_request"] * prices["usd_per_million_output"] / 1e6  # no split: priced high
    elif extra.get("chat_model_calls"):
        return math.nan  # it calls a chat model but its chapter did not count the tokens: not measured, not free
    else:
        return 0.0
    return 1000 * per_request


def comparison_table(frame: pd.DataFrame | None = None, *, prices: dict[str, Any] = HOSTED_PRICES) -> pd.DataFrame:
    """Every approach the course built, from the results store: one row per recorded approach, and one
    row per family no chapter has recorded, with `status` "missing" and the chapter to run.

    Columns: family, approach, workflow, chapter, task, metric, value, ci_low, ci_high, n,
    labels_used, minutes_to_prototype, ms_per_request, usd_per_1000 (tokens at the hosted
    reference price; 0 when no chat model is called; NaN when a record says it calls one,
    `extra={"chat_model_calls": n}`, without counting tokens), cpu_s_per_1000 (the measured latency
    over 1,000 requests), model, status, extra (the record's extra fields). Missing rows hold
    NaN, never a number."""
    frame = results.load() if frame is None else frame
    rows = []
    for _, row in frame.iterrows():
        interval = row["interval"] if isinstance(row["interval"], (tuple, list)) else (math.nan, math.nan)
        ms = row["ms_per_request"] if row["ms_per_request"] is not None else math.nan
        rows.append({"family": row["family"], "approach": row["approach"], "workflow": row["workflow"],
                     "chapter": row["chapter"], "task": row["task"], "metric": row["metric"],
                     "value": float(row["value"]), "ci_low": float(interval[0]), "ci_high": float(interval[1]),
                     "n": int(row["n"]), "labels_used": int(row["labels_used"]),
                     "minutes_to_prototype": (math.nan if row["minutes_to_prototype"] is None
                                              else float(row["minutes_to_prototype"])),
                     "ms_per_request": float(ms), "usd_per_1000": _usd_per_1000(row, prices),
                     "cpu_s_per_1000": float(ms), "model": row["model"], "status": "measured",
                     "extra": row["extra"] if isinstance(row["extra"], dict) else {}})
    for family, chapter in results.missing(frame).items():
        rows.append({"family": family, "approach": f"{family}: missing, run chapter {chapter}", "workflow": "",
                     "chapter": chapter, "task": "", "metric": "", "status": "missing"})
    table = pd.DataFrame(rows, columns=["family", "approach", "workflow", "chapter", "task", "metric", "value",
                                        "ci_low", "ci_high", "n", "labels_used", "minutes_to_prototype",
                                        "ms_per_request", "usd_per_1000", "cpu_s_per_1000", "model", "status", "extra"])
    order = {family: i for i, family in enumerate(results.FAMILIES)}
    table = table.assign(_order=table["family"].map(order)).sort_values(["_order", "approach"], kind="stable")
    return table.drop(columns="_order").set_index("approach")


def _colour(row: pd.Series) -> str:
    from aieng import plots

    if row["status"] == "missing":
        return plots.color_for("baseline")
    if row["family"] in ("embedding", "rag"):
        return plots.color_for("embedding" if row["family"] == "embedding" else "retrieval")
    return plots.color_for(row["workflow"] if row["workflow"] in ("ml", "ai") else "baseline")


def plot_comparison(table: pd.DataFrame) -> Figure:
    """One figure, one panel per question: minutes to a first prototype, labels to build, quality with
    its 95% interval, latency and the cost of 1,000 requests. A missing family is named in its row."""
    panels = [("minutes_to_prototype", "minutes to a first\nprototype (log)", True),
              ("labels_used", "labels to build", False),
              ("value", "quality (its own metric)\n95% interval", False),
              ("ms_per_request", "ms per request (log)", True),
              ("usd_per_1000", f"USD per 1,000 requests\n({HOSTED_PRICES['model']} list price)", False)]
    names = [f"{name}  [{row['chapter']}]" for name, row in table.iterrows()]
    colours = [_colour(row) for _, row in table.iterrows()]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 0.45 * len(table) + 1.8), sharey=True)
    y = np.arange(len(table))
    for ax, (column, title, log) in zip(axes, panels):
        values = table[column].astype(float)
        shown_values = values.fillna(0).clip(lower=1e-3) if log else values.fillna(0)
        ax.barh(y, shown_values.where(values.notna(), 0), color=colours)
        if column == "value":
            has_ci = table["ci_low"].notna()
            mask = has_ci.to_numpy()
            low, high = table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float)
            ax.errorbar(values.to_numpy()[mask], y[mask], fmt="none", ecolor="black", capsize=3,
                        xerr=[(values.to_numpy() - low)[mask], (high - values.to_numpy())[mask]])
            ax.set_xlim(0, 1)
        for i, (_, row) in enumerate(table.iterrows()):
            if row["status"] == "missing" and column == "value":
                ax.text(0.02, i, "missing", va="center", fontsize=8, color="black")
        if log and (values > 0).any():
            ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(y, labels=names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("Every approach the course built, from the results store  [chapter that measured it]")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- the ledgers: where the minutes went

def ai_ledger_path() -> Path:
    """artifacts/ledger-ai.json in the workspace: the AI workflow's stages, saved by chapter 02."""
    return artifact_path(AI_LEDGER_NAME)


def _layer(stage: str) -> str:
    for key, layer in LAYERS.items():
        if stage.startswith(key):
            return layer
    return "application"


def workflow_minutes() -> pd.DataFrame:
    """Both workflows' ledger entries, in order: chapter 01's `ledger.json` (ML) and chapter 02's
    `ledger-ai.json` (AI). Columns: workflow, stage, minutes, kind, note, layer (data, model,
    application, evaluation), cumulative_minutes (within the workflow). Empty when neither exists."""
    frames = []
    for path in (ledger.default_path(), ai_ledger_path()):
        if path.exists():
            frames.append(ledger.Ledger.load(path).to_frame())
    if not frames:
        return pd.DataFrame(columns=[*ledger.COLUMNS, "layer", "cumulative_minutes"])
    entries = pd.concat(frames, ignore_index=True).drop_duplicates(["workflow", "stage"], keep="last")
    entries = entries.assign(layer=entries["stage"].map(_layer))
    return entries.assign(cumulative_minutes=entries.groupby("workflow")["minutes"].cumsum()).reset_index(drop=True)


def plot_value_shift(minutes: pd.DataFrame) -> Figure:
    """Left: each workflow's minutes per layer. Right: the stages in the order they happened, so the
    reader sees where the first thing a user can try sits in each workflow."""
    from aieng import plots

    layer_colours = {"data": "#8c564b", "model": plots.color_for("ml"), "application": plots.color_for("ai"),
                     "evaluation": plots.color_for("judge")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 3.6))
    by_layer = minutes.pivot_table(index="workflow", columns="layer", values="minutes", aggfunc="sum", fill_value=0)
    by_layer = by_layer.reindex(columns=[c for c in layer_colours if c in by_layer.columns])
    by_layer.div(60).plot.barh(stacked=True, ax=left, color=[layer_colours[c] for c in by_layer.columns])
    left.set(title="Where the minutes went, by layer", xlabel="hours (measured and estimated)", ylabel="")
    left.legend(fontsize=8)
    for i, workflow in enumerate(minutes["workflow"].drop_duplicates()):
        stages = minutes[minutes["workflow"] == workflow]
        start = 0.0
        for row in stages.itertuples():
            right.barh(i, max(row.minutes, 1e-3) / 60, left=start / 60, color=layer_colours[row.layer],
                       edgecolor="white", hatch="//" if row.kind == "estimated" else None)
            if row.minutes / 60 > 0.04 * max(minutes["cumulative_minutes"].max() / 60, 1e-9):
                right.text((start + row.minutes / 2) / 60, i, row.stage, ha="center", va="center", fontsize=7)
            start += row.minutes
    right.set_yticks(range(minutes["workflow"].nunique()), labels=list(minutes["workflow"].drop_duplicates()))
    right.set(title="Stages in the order each workflow ran them (hatched: estimated)", xlabel="hours from the start")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- what chapter 09 showed (for the test run)

def save_snapshot(table: pd.DataFrame) -> Path:
    """Save what chapter 09 showed: the approaches, the missing families and when (artifacts/capstone/table.json)."""
    missing = table[table["status"] == "missing"]
    payload = {"saved_at": time.time(), "approaches": [a for a in table.index if a not in missing.index],
               "families": sorted(set(table.loc[table["status"] == "measured", "family"])),
               "missing": dict(zip(missing["family"], missing["chapter"]))}
    return write_atomic(artifact_path(_SNAPSHOT), json.dumps(payload, indent=1))


def load_snapshot() -> dict[str, Any]:
    """What chapter 09 showed when it last ran here: {"saved_at", "approaches", "families", "missing"}."""
    path = artifact_path(_SNAPSHOT)
    if not path.exists():
        raise FileNotFoundError(f"No {shown(path)}: chapter 09 has not run in this workspace. Run it to the end.")
    return json.loads(path.read_text(encoding="utf-8"))
