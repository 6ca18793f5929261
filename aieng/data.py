"""The running case's data: Ledgerloop's support tickets, help center, questions and tables.

Everything is read from `data/` in the course folder; nothing is downloaded. See
`data/README.md` (the data card) for the schema, the splits and how the data was made.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aieng.files import ROOT, parse_front_matter, read_jsonl

__all__ = [
    "DATA_DIR", "INTENTS", "PRIORITIES", "SPLITS", "TABLES",
    "Article", "load_tickets", "load_articles", "load_questions", "load_graded_answers",
    "load_seed_feedback", "load_table", "stratified_sample", "agent_tasks", "injection_tickets",
]

DATA_DIR = ROOT / "data"
INTENTS = ("billing", "plan_change", "account_access", "bank_feeds", "invoicing", "integrations",
           "data_import_export", "bug_report", "payroll", "security_privacy", "feature_request")
PRIORITIES = ("low", "normal", "high", "urgent")
SPLITS = ("train", "validation", "test")
TABLES = ("customers", "plans", "orders", "invoices")


def _choose(value: str, options: tuple[str, ...], what: str) -> str:
    if value in options:
        return value
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.4)
    guess = f" did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown {what} {value!r};{guess} Choose one of: {', '.join(options)}.")


_RESTORE = "The course's data files are not meant to be edited: restore them with `git checkout -- data/`."


def _read_jsonl(path: Path) -> list[dict]:
    return read_jsonl(path, hint=_RESTORE)


def load_tickets(split: str = "train") -> pd.DataFrame:
    """Support tickets of one split, one row per ticket.

    Columns: id, created_at (datetime), channel, tier, customer_id, subject, body, intent, priority."""
    split = _choose(split, SPLITS, "split")
    tickets = pd.DataFrame(_read_jsonl(DATA_DIR / "tickets" / f"{split}.jsonl"))
    tickets["created_at"] = pd.to_datetime(tickets["created_at"])
    return tickets


@dataclass(frozen=True)
class Article:
    """One help-center article: front matter fields and the Markdown body."""

    id: str
    title: str
    section: str
    updated: str
    related: tuple[str, ...]
    body: str

    @property
    def text(self) -> str:
        """Title and body together, as a retriever should see the article."""
        return f"# {self.title}\n\n{self.body}"


def _parse_article(path: Path) -> Article:
    fields, body = parse_front_matter(path.read_text(encoding="utf-8"), path)
    fields = {key: value.strip('"') for key, value in fields.items()}
    related = tuple(r.strip() for r in fields.get("related", "").strip("[]").split(",") if r.strip())
    return Article(id=fields["id"], title=fields["title"], section=fields["section"], updated=fields["updated"],
                   related=related, body=body.strip())


def load_articles() -> list[Article]:
    """Every help-center article, sorted by id."""
    return sorted((_parse_article(p) for p in (DATA_DIR / "help_center").glob("KB-*.md")), key=lambda a: a.id)


def load_questions() -> pd.DataFrame:
    """Customer questions for retrieval and answer evals.

    Columns: id, question, gold_article_ids (list; empty when the help center has no answer),
    reference_answer, answerable (bool), topic."""
    return pd.DataFrame(_read_jsonl(DATA_DIR / "questions.jsonl"))


def load_graded_answers() -> pd.DataFrame:
    """Answers graded by hand against the reference answers and articles.

    Columns: id, question_id, answer, cited_article_ids, grade ("pass"/"fail"), failure_mode, reason."""
    return pd.DataFrame(_read_jsonl(DATA_DIR / "graded_answers.jsonl"))


def load_seed_feedback() -> pd.DataFrame:
    """Feedback from the first two weeks of the chapter 03 prototype, in the format the app appends.

    Columns: created_at, ticket, proposed_intent, draft_reply, rating ("up"/"down"), comment,
    corrected_intent (or None), prompt_version, model."""
    return pd.DataFrame(_read_jsonl(DATA_DIR / "seed_feedback.jsonl"))


def load_table(name: str) -> pd.DataFrame:
    """One of Ledgerloop's account tables: customers, plans, orders or invoices."""
    name = _choose(name, TABLES, "table")
    return pd.read_csv(DATA_DIR / f"{name}.csv")


def agent_tasks(split: str | None = None) -> pd.DataFrame:
    """Chapter 06's agent tasks: requests with the tool calls and final store state they should produce.

    Columns: id, customer_id, request, kind ("lookup"/"action"/"multi-step"), expected_calls (list of
    {name, arguments}), expected_state (a `SupportStore.snapshot()`), split ("fit"/"eval"; None = both)."""
    tasks = pd.DataFrame(_read_jsonl(DATA_DIR / "agent" / "tasks.jsonl"))
    if split is None:
        return tasks
    return tasks[tasks["split"] == _choose(split, ("fit", "eval"), "split")].reset_index(drop=True)


def injection_tickets() -> pd.DataFrame:
    """Tickets carrying prompt-injection attempts, with what must not happen when an agent handles them.

    Columns: id, customer_id, channel, subject, body, attack ("refund"/"data_exfiltration"/"forbidden_tool"),
    legitimate_calls, attack_calls, forbidden ({"tools": [...], "ids": [...]}); see data/README.md."""
    return pd.DataFrame(_read_jsonl(DATA_DIR / "agent" / "injections.jsonl"))


def stratified_sample(tickets: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame:
    """About `n` tickets with the intent mix of `tickets` (at least one per intent), fixed by `seed`."""
    share = n / len(tickets)
    parts = [group.sample(max(1, round(len(group) * share)), random_state=seed)
             for _, group in tickets.groupby("intent", sort=True)]
    return pd.concat(parts).sort_values("id").reset_index(drop=True)
