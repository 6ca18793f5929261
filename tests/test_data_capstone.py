"""The capstone's new-queue tickets (data/capstone/new_queue_tickets.jsonl) hold together, stay out of
the course's ticket splits, and read like the rest of the data set."""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from aieng import capstone, data


@pytest.fixture(scope="module")
def new_queue():
    return capstone.load_new_queue()


@pytest.fixture(scope="module")
def course_tickets():
    return pd.concat([data.load_tickets(split) for split in data.SPLITS], ignore_index=True)


def test_new_queue_tickets_have_the_ticket_columns_and_one_new_label(new_queue, course_tickets):
    assert list(new_queue.columns) == [*course_tickets.columns[:9], "split"]
    assert set(new_queue["intent"]) == {capstone.NEW_QUEUE} and capstone.NEW_QUEUE not in data.INTENTS
    assert new_queue["id"].is_unique and new_queue["id"].str.fullmatch(r"X-\d{5}").all()
    assert set(new_queue["priority"]) <= set(data.PRIORITIES)
    assert set(new_queue["channel"]) <= {"email", "chat", "web_form", "social"}
    assert new_queue["body"].str.len().min() > 0
    assert not (new_queue["subject"] + new_queue["body"]).str.contains(r"\{(?:name|company)\}").any()


def test_splits_are_fixed_and_each_large_enough_to_measure(new_queue):
    counts = new_queue["split"].value_counts()
    assert set(counts.index) == set(data.SPLITS)
    assert counts["train"] >= 15 and counts["validation"] >= 5 and counts["test"] >= 15


def test_the_course_splits_do_not_read_the_new_queue(new_queue, course_tickets):
    assert not set(new_queue["id"]) & set(course_tickets["id"])
    assert capstone.NEW_QUEUE not in set(course_tickets["intent"])
    assert not any(path.name.startswith("new_queue") for path in (data.DATA_DIR / "tickets").iterdir())


def test_customers_exist_on_the_plan_the_ticket_states(new_queue):
    customers = data.load_table("customers").set_index("customer_id")
    assert new_queue["customer_id"].isin(customers.index).all()
    assert (customers.loc[new_queue["customer_id"], "plan"].to_numpy() == new_queue["tier"].to_numpy()).all()


def test_texts_vary_in_channel_length_and_wording(new_queue):
    assert new_queue["channel"].nunique() == 4
    words = new_queue["body"].str.split().str.len()
    assert words.min() < 25 and words.max() > 70
    assert new_queue["body"].str.slice(0, 40).is_unique


def test_no_near_duplicate_crosses_train_and_the_held_out_tickets(new_queue):
    text = lambda t: (t["subject"] + " " + t["body"]).tolist()
    train, held_out = new_queue[new_queue["split"] == "train"], new_queue[new_queue["split"] != "train"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(text(new_queue))
    similarity = cosine_similarity(vectorizer.transform(text(held_out)), vectorizer.transform(text(train)))
    worst = np.unravel_index(similarity.argmax(), similarity.shape)
    assert similarity.max() < 0.6, (held_out["id"].iloc[worst[0]], train["id"].iloc[worst[1]])
