"""The data set holds together: schema, ids, references, splits, no leakage, sane difficulty."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.metrics.pairwise import cosine_similarity

from aieng import data


@pytest.fixture(scope="module")
def splits():
    return {split: data.load_tickets(split) for split in data.SPLITS}


@pytest.fixture(scope="module")
def tickets(splits):
    return pd.concat([t.assign(split=s) for s, t in splits.items()], ignore_index=True)


def test_tickets_have_the_documented_columns_and_values(tickets):
    assert list(tickets.columns[:9]) == ["id", "created_at", "channel", "tier", "customer_id", "subject", "body",
                                         "intent", "priority"]
    assert len(tickets) >= 800 and tickets["id"].is_unique
    assert set(tickets["intent"]) == set(data.INTENTS)
    assert set(tickets["priority"]) <= set(data.PRIORITIES)
    assert set(tickets["channel"]) <= {"email", "chat", "web_form", "social"}
    assert set(tickets["tier"]) <= {"free", "starter", "growth", "scale"}
    assert tickets["body"].str.len().min() > 0


def test_labels_are_skewed_with_some_rare_ones(tickets):
    shares = tickets["intent"].value_counts(normalize=True)
    assert shares.max() > 3 * shares.min() and shares.min() < 0.04


def test_no_placeholder_is_left_unfilled(tickets):
    text = tickets["subject"] + " " + tickets["body"]
    assert not text.str.contains(r"\{(?:name|company|email|order_id|invoice_id)\}").any()


def test_splits_have_fixed_sizes_and_keep_the_label_mix(splits):
    assert len(splits["test"]) >= 200 and len(splits["validation"]) >= 100
    train_mix = splits["train"]["intent"].value_counts(normalize=True)
    for split in ("validation", "test"):
        mix = splits[split]["intent"].value_counts(normalize=True)
        assert (mix - train_mix).abs().max() < 0.03, f"{split} is not stratified"


def test_no_near_duplicate_crosses_train_and_test(splits):
    text = lambda t: (t["subject"] + " " + t["body"]).tolist()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(text(splits["train"]) + text(splits["test"]))
    similarity = cosine_similarity(vectorizer.transform(text(splits["test"])), vectorizer.transform(text(splits["train"])))
    worst = np.unravel_index(similarity.argmax(), similarity.shape)
    assert similarity.max() < 0.6, (splits["test"]["id"].iloc[worst[0]], splits["train"]["id"].iloc[worst[1]])


def test_every_ticket_belongs_to_a_customer_of_its_tier(tickets):
    customers = data.load_table("customers").set_index("customer_id")
    assert tickets["customer_id"].isin(customers.index).all()
    assert (customers.loc[tickets["customer_id"], "plan"].to_numpy() == tickets["tier"].to_numpy()).all()


def test_order_and_invoice_ids_quoted_in_tickets_exist(tickets):
    orders = data.load_table("orders").set_index("order_id")
    invoices = data.load_table("invoices").set_index("invoice_id")
    text = tickets["subject"] + " " + tickets["body"]
    for i, row in tickets.iterrows():
        for order_id in re.findall(r"ORD-\d{5}", text[i]):
            assert orders.loc[order_id, "customer_id"] == row["customer_id"], (row["id"], order_id)
        for invoice_id in re.findall(r"INV-\d{6}", text[i]):
            assert invoices.loc[invoice_id, "customer_id"] == row["customer_id"], (row["id"], invoice_id)


def test_tables_are_consistent():
    customers, orders = data.load_table("customers"), data.load_table("orders")
    invoices, plans = data.load_table("invoices"), data.load_table("plans")
    assert customers["customer_id"].is_unique and orders["order_id"].is_unique and invoices["invoice_id"].is_unique
    assert orders["customer_id"].isin(customers["customer_id"]).all()
    assert invoices["order_id"].isin(orders["order_id"]).all()
    assert set(customers["plan"]) <= set(plans["plan"])


def test_articles_have_front_matter_and_valid_cross_references():
    articles = data.load_articles()
    ids = {a.id for a in articles}
    assert len(articles) >= 40 and len(ids) == len(articles)
    for article in articles:
        assert article.title and article.section and re.fullmatch(r"\d{4}-\d{2}-\d{2}", article.updated)
        assert 200 <= len(article.body.split()) <= 600, article.id
        assert set(article.related) <= ids, article.id
        assert set(re.findall(r"KB-\d{3}", article.body)) <= ids, article.id


def test_questions_reference_existing_articles_and_include_unanswerable_ones():
    questions = data.load_questions()
    ids = {a.id for a in data.load_articles()}
    assert len(questions) >= 100 and questions["id"].is_unique
    assert all(set(gold) <= ids for gold in questions["gold_article_ids"])
    assert (questions["answerable"] == questions["gold_article_ids"].map(bool)).all()
    assert (~questions["answerable"]).sum() >= 10


def test_graded_answers_are_about_a_third_failing_with_reasons():
    graded = data.load_graded_answers()
    questions = set(data.load_questions()["id"])
    assert len(graded) >= 60 and graded["id"].is_unique
    assert graded["question_id"].isin(questions).all()
    assert set(graded["grade"]) == {"pass", "fail"}
    assert 0.25 <= (graded["grade"] == "fail").mean() <= 0.45
    assert (graded["failure_mode"].isna() == (graded["grade"] == "pass")).all()
    assert graded["reason"].str.len().min() > 10


def test_seed_feedback_is_in_the_app_format():
    feedback = data.load_seed_feedback()
    assert len(feedback) >= 30
    assert list(feedback.columns) == ["created_at", "ticket", "proposed_intent", "draft_reply", "rating", "comment",
                                      "corrected_intent", "prompt_version", "model"]
    assert set(feedback["proposed_intent"]) <= set(data.INTENTS)
    assert set(feedback["rating"]) == {"up", "down"}
    assert feedback["corrected_intent"].dropna().isin(data.INTENTS).all()
    assert set(feedback["model"]) == {"pilot-endpoint"}  # not the bundled model: it cannot write these replies


def test_a_tfidf_baseline_is_useful_but_far_from_perfect(splits):
    """The data-set's difficulty contract: 0.65-0.90 test accuracy, 0.10 above the majority class."""
    text = lambda t: t["subject"] + "\n" + t["body"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=10, max_iter=3000, class_weight="balanced")
    model.fit(vectorizer.fit_transform(text(splits["train"])), splits["train"]["intent"])
    accuracy = accuracy_score(splits["test"]["intent"], model.predict(vectorizer.transform(text(splits["test"]))))
    majority = splits["test"]["intent"].value_counts(normalize=True).iloc[0]
    assert 0.65 <= accuracy <= 0.90 and accuracy >= majority + 0.10, (accuracy, majority)


def test_bm25_finds_a_gold_article_for_most_but_not_all_questions():
    from rank_bm25 import BM25Okapi

    articles = data.load_articles()
    tokenize = lambda s: re.findall(r"[a-z0-9]+", s.lower())
    bm25 = BM25Okapi([tokenize(a.text) for a in articles])
    questions = data.load_questions().query("answerable")
    hits = 0
    for _, q in questions.iterrows():
        top5 = np.argsort(bm25.get_scores(tokenize(q["question"])))[::-1][:5]
        hits += bool({articles[i].id for i in top5} & set(q["gold_article_ids"]))
    assert 0.60 <= hits / len(questions) <= 0.90, hits / len(questions)


def test_unknown_names_get_a_suggestion():
    with pytest.raises(ValueError, match="did you mean 'validation'"):
        data.load_tickets("vaild")
    with pytest.raises(ValueError, match="customers, plans, orders, invoices"):
        data.load_table("accounts")


def test_a_bad_line_in_a_data_file_names_the_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "tickets").mkdir()
    good = (data.DATA_DIR / "tickets" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    (tmp_path / "tickets" / "train.jsonl").write_text("\n".join(good + ['{"id": "T-9", "subject": "cut']) + "\n",
                                                      encoding="utf-8")
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"train\.jsonl, line 3: not valid JSON.*git checkout -- data/"):
        data.load_tickets("train")


def test_an_article_whose_front_matter_never_closes_is_named(tmp_path, monkeypatch):
    (tmp_path / "help_center").mkdir()
    (tmp_path / "help_center" / "KB-999.md").write_text("---\nid: KB-999\ntitle: Open\n\nNo closing line.\n",
                                                        encoding="utf-8")
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    with pytest.raises(ValueError, match="KB-999.md has no front matter"):
        data.load_articles()


def test_article_titles_lose_their_quotes_and_keep_their_colons():
    articles = {a.id: a for a in data.load_articles()}
    assert not any(a.title.startswith('"') or a.title.endswith('"') for a in articles.values())
    raw = (data.DATA_DIR / "help_center" / f"{min(articles)}.md").read_text(encoding="utf-8")
    assert articles[min(articles)].body and articles[min(articles)].body in raw
