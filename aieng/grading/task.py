"""The take-home's task: its tickets, its limits and the interface a submission meets (assessment/README.md).

    from aieng.grading import task
    dev = task.load_tickets("dev")        # tune and choose on these
    test = task.load_tickets("test")      # measure once, at the end: the paired comparison
    task.ticket_text(dev)                 # subject and body, as the routers read them

The tickets (data/assessment/tickets.jsonl) came in after customers of Tallybook, an app Ledgerloop
bought, moved over; no chapter reads them. The hidden tickets the hiring team keeps are of the same kind.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aieng import classic
from aieng.files import ROOT, read_jsonl

__all__ = [
    "TICKETS_PATH", "SPLITS", "GATE_ACCURACY", "MS_PER_TICKET_LIMIT", "CHAT_CALLS_LIMIT", "MEMO_WORDS",
    "SUBMISSION_DIR", "FILES", "RESULTS_KEYS", "TEST_KEYS", "PUBLIC_TESTS", "load_tickets", "ticket_text",
]

TICKETS_PATH = ROOT / "data" / "assessment" / "tickets.jsonl"
SPLITS = ("dev", "test")
GATE_ACCURACY = 0.70        # queue accuracy the triage must reach on the new tickets (the shipped router does not)
MS_PER_TICKET_LIMIT = 500   # routing time per ticket on the grader's machine (2 CPU cores, bundled models), median
CHAT_CALLS_LIMIT = 1        # chat-model calls per ticket for routing
MEMO_WORDS = (80, 400)      # the decision memo's length in words
SUBMISSION_DIR = "submission"  # the folder the notebook writes, beside itself
FILES = ("predictions.csv", "results.json", "MEMO.md", "pipeline.py")
RESULTS_KEYS = ("baseline_id", "candidate_id", "selection_split", "labels_used", "label_sources", "test",
                "ms_per_ticket", "chat_calls_per_ticket", "endpoint")
TEST_KEYS = ("n", "baseline_accuracy", "candidate_accuracy", "mean_diff", "ci_low", "ci_high")
PUBLIC_TESTS = ROOT / "assessment" / "tests"


def load_tickets(split: str = "dev", path: Path | None = None) -> pd.DataFrame:
    """The take-home's tickets of one split ("dev" or "test"), or all with split="all".

    Columns: id, split, created_at, channel, tier, subject, body, intent, priority."""
    rows = pd.DataFrame(read_jsonl(path or TICKETS_PATH))
    if split == "all":
        return rows
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; the take-home has: {', '.join(SPLITS)} (or 'all').")
    return rows[rows["split"] == split].reset_index(drop=True)


def ticket_text(tickets: pd.DataFrame) -> pd.Series:
    """Subject and body of each ticket as one text, the way the course's routers read a ticket."""
    return classic.ticket_text(tickets)

