"""The take-home's tickets (data/assessment/tickets.jsonl) and the public hidden-test sample hold together."""

import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from aieng import data
from aieng.files import ROOT, read_jsonl
from aieng.grading import task

SAMPLE = ROOT / "assessment" / "hidden-tests-sample" / "tickets.jsonl"


@pytest.fixture(scope="module")
def tickets() -> pd.DataFrame:
    return task.load_tickets("all")


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.DataFrame(read_jsonl(SAMPLE))


def test_columns_ids_and_values_are_as_documented(tickets, sample):
    assert list(tickets.columns) == ["id", "split", "created_at", "channel", "tier", "subject", "body", "intent",
                                     "priority"]
    assert len(tickets) == 78 and tickets["id"].is_unique and tickets["id"].str.fullmatch(r"A-\d{4}").all()
    assert sample["id"].str.fullmatch(r"H-\d{4}").all() and len(sample) == 30
    for frame in (tickets, sample):
        assert set(frame["intent"]) == set(data.INTENTS)
        assert set(frame["priority"]) <= set(data.PRIORITIES)
        assert set(frame["channel"]) <= {"email", "chat", "web_form", "social"}
        assert frame["created_at"].str.startswith("2026-11-").all()
        assert (frame["body"].str.split().str.len() >= 5).all()


def test_splits_hold_every_queue_and_the_documented_sizes(tickets):
    assert tickets["split"].value_counts().to_dict() == {"dev": 42, "test": 36}
    for split in task.SPLITS:
        assert set(task.load_tickets(split)["intent"]) == set(data.INTENTS), f"a queue is missing from {split}"
    with pytest.raises(ValueError, match="dev, test"):
        task.load_tickets("validation")


def test_no_ticket_repeats_a_course_ticket_or_crosses_splits(tickets, sample):
    course = pd.concat([data.load_tickets(s) for s in data.SPLITS], ignore_index=True)
    ids = set(course["id"])
    assert not ids & set(tickets["id"]) and not ids & set(sample["id"])
    texts = lambda frame: list(task.ticket_text(frame))  # noqa: E731
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(texts(course) + texts(tickets) + texts(sample))
    pairs = {"course vs take-home": (course, tickets), "dev vs test": (tickets[tickets.split == "dev"],
                                                                       tickets[tickets.split == "test"]),
             "take-home vs hidden sample": (tickets, sample), "course vs hidden sample": (course, sample)}
    for name, (a, b) in pairs.items():
        similarity = cosine_similarity(vectorizer.transform(texts(a)), vectorizer.transform(texts(b)))
        assert similarity.max() < 0.6, f"{name}: a near-duplicate pair (cosine {similarity.max():.2f})"


MARKS = ("assessment/tickets", '"assessment"', "grading.task")  # how code would reach the take-home's tickets


def test_the_chapters_never_read_the_take_home_file():
    readers = [p for p in list((ROOT / "solutions").glob("*.ipynb")) + list((ROOT / "aieng").glob("*.py"))
               if any(k in p.read_text(encoding="utf-8") for k in MARKS)]
    assert not readers, f"{[p.name for p in readers]} mention the take-home's data"
