"""Checks for chapter 09 (the capstone: a new queue carried through both workflows)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from aieng.checks._result import Result, fail, is_stub, ok, require_callable, todo

__all__ = ["new_queue_descriptions", "labels_for_new_queue", "new_queue_scores", "queue_gate"]

_LEAK_MIN_CHARS = 30      # a description line this long found inside a held-out ticket is a copy
MIN_VALIDATION_RECALL = 0.5   # Exercise 9.1: at least half the new queue's validation tickets reach it
MAX_VALIDATION_DROP = 0.05    # ... while the 11 old queues lose at most this much validation accuracy


def _call(fn: Callable, *args: Any, **kwargs: Any) -> tuple[Any, Exception | None]:
    try:
        return fn(*args, **kwargs), None
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        return None, err


# ---------------------------------------------------------------- Exercise 9.1

def new_queue_descriptions(path: Any) -> Result:
    """Exercise 9.1: your description file routes the new queue's validation tickets to it, and keeps the others.

    Scores the zero-label router built from your file on the validation split plus the new queue's
    validation tickets: at least half of the new queue's tickets must reach it, and the 11 old
    queues may lose at most 0.05 accuracy against the shipped descriptions (queues-v2)."""
    from aieng import capstone, classic, data, routers

    if is_stub(path):
        return todo("9.1", "MY_QUEUES")
    if not isinstance(path, (str, Path)):
        raise TypeError("Pass the path of your description file: checks.new_queue_descriptions(MY_QUEUES).")
    path = Path(path)
    if not path.exists():
        return fail("9.1", f"There is no file at {path}.",
                    hint="Rerun the cell above: it copies prompts/queues-v2.md there for you to edit.")
    if not any(line.startswith(f"- {capstone.NEW_QUEUE}:") for line in path.read_text(encoding="utf-8").splitlines()):
        return todo("9.1", f"the descriptions in {path.name} (no '- {capstone.NEW_QUEUE}: ...' line yet)")
    try:
        mine = capstone.description_router(path)
    except ValueError as err:
        return fail("9.1", f"Your file does not parse: {err}",
                    hint="Keep the front matter and every queue's lines; add lines starting with "
                         f"'- {capstone.NEW_QUEUE}: ', with the queue names exactly as they are.")
    held_out = pd.concat([data.load_tickets("validation"), data.load_tickets("test"),
                          capstone.load_new_queue("validation"), capstone.load_new_queue("test")])
    held_out_texts = [text.casefold() for text in classic.ticket_text(held_out)]
    for line in mine.descriptions[capstone.NEW_QUEUE]:
        if len(line) >= _LEAK_MIN_CHARS and any(line.casefold() in text for text in held_out_texts):
            return fail("9.1", f"The {capstone.NEW_QUEUE} line {line[:50]!r}... is copied from a validation or "
                        "test ticket.", hint="Write from the new queue's train tickets only: a description copied "
                        "from the tickets you measure on scores what it has seen, not what it will meet.")
    old = data.load_tickets("validation")
    new = capstone.load_new_queue("validation").drop(columns="split")
    report = routers.evaluate(mine, pd.concat([old, new], ignore_index=True)).predictions
    is_new = (report["gold"] == capstone.NEW_QUEUE).to_numpy()
    recall = float(report.loc[is_new, "correct"].mean())
    old_accuracy = float(report.loc[~is_new, "correct"].mean())
    shipped = routers.evaluate(routers.DescriptionRouter.from_version("v2"), old).accuracy
    stolen = report.loc[~is_new & (report["queue"] == capstone.NEW_QUEUE), "gold"].value_counts()
    scores = (f"{recall:.0%} of the {int(is_new.sum())} new-queue validation tickets reach {capstone.NEW_QUEUE}; "
              f"the 11 old queues score {old_accuracy:.3f} (queues-v2 alone: {shipped:.3f})")
    if recall < MIN_VALIDATION_RECALL:
        return fail("9.1", f"Too few reach the new queue: {scores}.",
                    hint="Read the new queue's train tickets (load_new_queue('train')) and describe the problems "
                         "they bring in the customers' words, one line per kind of problem.")
    if old_accuracy < shipped - MAX_VALIDATION_DROP:
        taken = ", ".join(f"{queue} {count}" for queue, count in stolen.head(3).items())
        return fail("9.1", f"The new lines pull in other queues' tickets: {scores}; taken from: {taken}.",
                    hint="A line that sounds like another queue (an app error, a card charge) attracts its tickets. "
                         "Make each line say what only the new queue is about.")
    return ok("9.1", f"{scores}.")


# ---------------------------------------------------------------- Exercise 9.2

def _tiny_queue() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.DataFrame({"id": ["T-1", "T-2", "T-3"], "subject": ["a", "b", "c"],
                          "body": ["charged twice", "cannot log in", "bank feed stopped"],
                          "intent": ["billing", "account_access", "bank_feeds"], "priority": ["normal"] * 3})
    new = pd.DataFrame({"id": ["X-1", "X-2", "X-3", "X-4"], "subject": ["r", "m", "v", "t"],
                        "body": ["receipt did not attach", "mileage rate", "approve claims", "reimburse me"],
                        "intent": ["expenses"] * 4, "priority": ["normal"] * 4,
                        "split": ["train", "train", "validation", "test"]})
    return train, new


def labels_for_new_queue(fn: Callable[..., pd.DataFrame]) -> Result:
    """Exercise 9.2: `fn(train, new_queue)` returns the train split plus the new queue's train tickets only."""
    require_callable(fn, "labels_for_new_queue", "with_new_queue")
    train, new = _tiny_queue()
    got, err = _call(fn, train.copy(), new.copy())
    shown = "with_new_queue(train of 3 tickets, new queue with 2 train, 1 validation, 1 test ticket)"
    if err is not None:
        return fail("9.2", f"{shown} raised {type(err).__name__}: {err}",
                    hint="Select the new queue's rows whose split is 'train', then pd.concat them under train.")
    if is_stub(got):
        return todo("9.2", "with_new_queue")
    if not isinstance(got, pd.DataFrame):
        return fail("9.2", f"{shown} returned a {type(got).__name__}, not a DataFrame.",
                    hint="Return one DataFrame of tickets, as data.load_tickets does.")
    missing = {"subject", "body", "intent"} - set(got.columns)
    if missing:
        return fail("9.2", f"{shown} has no column {', '.join(sorted(missing))}.",
                    hint="ClassicRouter.train reads subject, body and intent: keep the ticket columns.")
    ids = list(got["id"]) if "id" in got.columns else []
    if any(i in ids for i in ("X-3", "X-4")):
        return fail("9.2", f"{shown} holds the new queue's validation or test tickets: ids {sorted(set(ids) - {'T-1', 'T-2', 'T-3', 'X-1', 'X-2'})}.",
                    hint="A ticket you train on cannot measure the model any more: keep only the 'train' split.")
    if len(got) != len(train) + 2 or set(ids) != {"T-1", "T-2", "T-3", "X-1", "X-2"}:
        return fail("9.2", f"{shown} returned {len(got)} tickets (ids {ids}); the model needs every old train "
                    "ticket and every new-queue train ticket, once each.",
                    hint="Concatenate: the old train split keeps its rows, the new queue adds its train rows.")
    if set(got.loc[got["id"].isin(["X-1", "X-2"]), "intent"]) != {"expenses"}:
        return fail("9.2", f"{shown} changed the label of the new tickets.", hint="Keep each ticket's intent.")
    return ok("9.2", "the classic model gets every old train ticket and the new queue's train tickets, nothing held out.")


# ---------------------------------------------------------------- Exercise 9.3

# (gold, predicted, queue) and the expected recall, precision, old_accuracy.
_SCORE_CASES = [
    ((["expenses", "expenses", "billing", "payroll"], ["expenses", "billing", "billing", "expenses"], "expenses"),
     {"recall": 0.5, "precision": 0.5, "old_accuracy": 0.5}),
    ((["expenses", "billing", "billing", "bank_feeds", "payroll"],
      ["expenses", "billing", "invoicing", "bank_feeds", "payroll"], "expenses"),
     {"recall": 1.0, "precision": 1.0, "old_accuracy": 0.75}),
    ((["expenses", "expenses", "billing"], ["billing", "billing", "billing"], "expenses"),
     {"recall": 0.0, "precision": 0.0, "old_accuracy": 1.0}),
]
_SCORE_HINTS = {
    "recall": "Recall: of the tickets that belong to the queue, the share routed there.",
    "precision": "Precision: of the tickets routed to the queue, the share that belong there (0.0 when none was "
                 "routed there).",
    "old_accuracy": "Old accuracy: accuracy over the tickets whose true queue is not the new one only.",
}


def new_queue_scores(fn: Callable[..., dict]) -> Result:
    """Exercise 9.3: `fn(gold, predicted, queue)` gives the new queue's recall and precision and the old queues' accuracy."""
    require_callable(fn, "new_queue_scores", "queue_scores")
    for args, want in _SCORE_CASES:
        got, err = _call(fn, *args)
        shown = f"queue_scores({args[0]}, {args[1]}, {args[2]!r})"
        if err is not None:
            return fail("9.3", f"{shown} raised {type(err).__name__}: {err}",
                        hint="Guard the divisions: a queue nobody routed to has precision 0.0.")
        if is_stub(got):
            return todo("9.3", "queue_scores")
        if not isinstance(got, dict) or set(want) - set(got):
            return fail("9.3", f"{shown} returned {got!r:.120}; it needs the keys recall, precision, old_accuracy.",
                        hint="Return a dict with those three keys, each a number between 0 and 1.")
        for key, value in want.items():
            if not isinstance(got[key], (int, float)) or not math.isclose(float(got[key]), value, abs_tol=1e-9):
                return fail("9.3", f"{shown} gave {key} = {got[key]!r}, which does not follow its definition.",
                            hint=_SCORE_HINTS[key])
    return ok("9.3", "queue_scores measures the new queue (recall, precision) and what the old queues kept.")


# ---------------------------------------------------------------- Exercise 9.4

# (candidate, current, min_recall, max_drop) and whether it ships, with the rule the case tests.
_GATE_CASES = [
    (({"recall": 0.8, "precision": 0.7, "old_accuracy": 0.60}, {"old_accuracy": 0.61}, 0.5, 0.03), True,
     "A good recall and a drop within max_drop ships."),
    (({"recall": 0.4, "precision": 0.9, "old_accuracy": 0.62}, {"old_accuracy": 0.61}, 0.5, 0.03), False,
     "A router that misses most of the new queue's tickets does not ship, however the old queues do."),
    (({"recall": 0.9, "precision": 0.3, "old_accuracy": 0.50}, {"old_accuracy": 0.61}, 0.5, 0.03), False,
     "Sending everything to the new queue gives a high recall; the old queues' drop must stop it."),
    (({"recall": 0.5, "precision": 0.5, "old_accuracy": 0.5}, {"old_accuracy": 0.625}, 0.5, 0.125), True,
     "The bars are inclusive: recall equal to min_recall and a drop equal to max_drop still ship."),
]


def queue_gate(fn: Callable[..., bool]) -> Result:
    """Exercise 9.4: `fn(candidate, current, *, min_recall, max_drop)` ships only a router that reaches the
    new queue and keeps the old queues within `max_drop` of the current router."""
    require_callable(fn, "queue_gate", "ships")
    for (candidate, current, min_recall, max_drop), want, hint in _GATE_CASES:
        got, err = _call(fn, candidate, current, min_recall=min_recall, max_drop=max_drop)
        shown = f"ships({candidate}, {current}, min_recall={min_recall}, max_drop={max_drop})"
        if err is not None:
            return fail("9.4", f"{shown} raised {type(err).__name__}: {err}", hint=hint)
        if is_stub(got):
            return todo("9.4", "ships")
        if not isinstance(got, (bool,)) and type(got).__name__ != "bool_":
            return fail("9.4", f"{shown} returned {got!r}, not True or False.", hint="Return a bool: ship or not.")
        if bool(got) != want:
            return fail("9.4", f"{shown} returned {bool(got)}, the wrong verdict.", hint=hint)
    return ok("9.4", "the gate ships a router only when the new queue is reached and the old queues hold.")
