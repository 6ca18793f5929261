"""Which router the product ships: every candidate scored on the validation split, the best one chosen.

    python -m aieng.router_choice           # measure the candidates, write prompts/router-choice.json

Chapter 02 makes this decision in the open; this module makes it repeatable, so the app and the
regression gate use the router the evals picked on a fresh clone before any chapter ran, and a
test regenerates the file and compares it with the committed one (like the notebooks sync test).

The rule: the highest validation accuracy among the candidates that stay within the AI path's
label budget (`MAX_LABELS`); a tie goes to the router with fewer labels. The prompted router is
measured through the model the backend reaches; the rest run on the CPU without a model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aieng import data, routers

__all__ = ["CANDIDATES", "MAX_LABELS", "measure", "choose", "write"]

CANDIDATES: list[dict[str, Any]] = [
    {"kind": "prompted", "version": "v2"},           # the chat model routes (11 few-shot labels)
    {"kind": "embedding-zero", "version": "v1"},     # zero labels: similarity to the queue descriptions of triage-v2
    {"kind": "embedding-zero", "version": "v2"},     # zero labels: descriptions rewritten in customers' words
    {"kind": "embedding-lr", "n_labels": 11},        # as many labels as the prompt's examples
    {"kind": "embedding-lr", "n_labels": 55},        # five per queue
]
MAX_LABELS = 55  # labels the AI path may spend on its router before the product proves out


def measure(client: Any = None, model: str | None = None, *, split: str = "validation",
            candidates: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each candidate's spec, id, labels and validation accuracy and macro-F1 (rounded to 3 places).

    Without `client`/`model` the prompted candidate is left out."""
    tickets = data.load_tickets(split)
    rows = []
    for spec in candidates or CANDIDATES:
        if spec["kind"] == "prompted" and client is None:
            continue
        router = routers.from_spec(spec, client=client, model=model)
        report = routers.evaluate(router, tickets)
        rows.append({"spec": spec, "id": report.router_id, "labels_used": report.labels_used,
                     "accuracy": round(report.accuracy, 3), "macro_f1": round(report.macro_f1, 3)})
    return rows


def choose(measured: list[dict[str, Any]], *, model: str, split: str = "validation") -> dict[str, Any]:
    """The choice record: the winning spec and id, the rule, and every candidate's figures."""
    eligible = [row for row in measured if row["labels_used"] <= MAX_LABELS]
    if not eligible:
        raise ValueError(f"No candidate uses at most {MAX_LABELS} labels; nothing to choose from.")
    best = max(eligible, key=lambda row: (row["accuracy"], -row["labels_used"]))
    return {"chosen": best["spec"], "chosen_id": best["id"], "split": split, "measured_with": model,
            "rule": f"highest {split} accuracy with at most {MAX_LABELS} labels; ties go to fewer labels",
            "candidates": measured}


def write(choice: dict[str, Any], path: Path = routers.CHOICE_PATH) -> Path:
    """Write `choice` as JSON to `path` atomically (a temporary file, then a rename)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(choice, out, indent=2)
        out.write("\n")
    os.replace(temporary, path)
    return path


def main() -> int:
    """Measure the candidates through the backend, print them, write the choice file."""
    from aieng import backend

    llm = backend.connect()
    choice = choose(measure(llm.client, llm.model), model=llm.model)
    for row in choice["candidates"]:
        print(f"{row['id']:<36} accuracy {row['accuracy']:.3f}  macro-F1 {row['macro_f1']:.3f}  {row['labels_used']} labels")
    print(f"chosen: {choice['chosen_id']} -> {write(choice)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
