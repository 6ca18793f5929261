"""The classic router: text assembly, training, nested stratified subsets, learning curve, save/load."""

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from aieng import classic, data
from aieng.files import ROOT
from disk_full import disk_fills_after


@pytest.fixture(scope="module")
def train():
    return data.load_tickets("train")


@pytest.fixture(scope="module")
def test_tickets():
    return data.load_tickets("test")


@pytest.fixture(scope="module")
def router(train):
    return classic.train_text_classifier(classic.nested_stratified_order(train).head(300))


def test_ticket_text_is_subject_newline_body():
    tickets = pd.DataFrame({"subject": ["Refund", None], "body": ["charged twice", "hello"]}, index=[5, 7])
    text = classic.ticket_text(tickets)
    assert text.tolist() == ["Refund\ncharged twice", "\nhello"]
    assert text.index.tolist() == [5, 7]


def test_ticket_text_names_missing_columns():
    with pytest.raises(ValueError, match=r"lack column\(s\) \['body'\]"):
        classic.ticket_text(pd.DataFrame({"subject": ["x"]}))
    with pytest.raises(TypeError, match="DataFrame"):
        classic.ticket_text(["a ticket"])


def test_router_is_the_documented_pipeline(router):
    assert isinstance(router, Pipeline)
    tfidf, clf = router.named_steps["tfidf"], router.named_steps["clf"]
    assert tfidf.ngram_range == (1, 2) and tfidf.sublinear_tf
    assert clf.C == 10.0 and clf.class_weight == "balanced"
    assert set(router.classes_) == set(data.INTENTS)


def test_router_beats_the_majority_class_on_test(router, test_tickets):
    accuracy = (router.predict(classic.ticket_text(test_tickets)) == test_tickets["intent"]).mean()
    majority = test_tickets["intent"].value_counts(normalize=True).max()
    assert accuracy > majority + 0.3


def test_router_predicts_from_plain_strings(router):
    (intent,) = router.predict(["I cannot log in, the 2FA code is rejected"])
    assert intent in data.INTENTS


def test_training_needs_two_intents(train):
    with pytest.raises(ValueError, match="at least two intents"):
        classic.train_text_classifier(train[train["intent"] == "billing"])


def test_nested_order_is_stratified_nested_and_seeded(train):
    ordered = classic.nested_stratified_order(train, seed=0)
    assert sorted(ordered["id"]) == sorted(train["id"])
    assert set(ordered["intent"].iloc[: len(data.INTENTS)]) == set(data.INTENTS)
    first_100 = ordered["intent"].iloc[:100].value_counts(normalize=True)
    overall = train["intent"].value_counts(normalize=True)
    assert (first_100 - overall).abs().max() < 0.03
    assert ordered["id"].tolist() == classic.nested_stratified_order(train, seed=0)["id"].tolist()
    assert ordered["id"].tolist() != classic.nested_stratified_order(train, seed=1)["id"].tolist()


def test_learning_curve_calls_fit_on_nested_prefixes(train, test_tickets):
    seen = []

    def fit(subset):
        seen.append(subset)
        return DummyClassifier(strategy="most_frequent").fit(classic.ticket_text(subset), subset["intent"])

    curve = classic.learning_curve(train, test_tickets.head(40), [11, 30], fit, seed=0)
    assert list(curve.columns) == ["n_labels", "accuracy", "macro_f1"]
    assert curve["n_labels"].tolist() == [11, 30] and [len(s) for s in seen] == [11, 30]
    assert seen[0]["id"].tolist() == seen[1]["id"].tolist()[:11]
    assert curve[["accuracy", "macro_f1"]].apply(lambda c: c.between(0, 1)).all().all()


def test_learning_curve_refuses_impossible_sizes(train, test_tickets):
    with pytest.raises(ValueError, match="outside 1..542"):
        classic.learning_curve(train, test_tickets, [10, 10_000], fit=lambda s: None)


def test_save_and_load_round_trip(router, tmp_path):
    path = classic.save_model(router, tmp_path / "a" / "router.joblib")
    again = classic.load_model(path)
    texts = ["Invoice shows the wrong VAT number", "Bank feed stopped syncing"]
    assert again.predict(texts).tolist() == router.predict(texts).tolist()


def test_load_model_explains_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Run chapter 01"):
        classic.load_model(tmp_path / "missing.joblib")


def test_default_model_path_is_under_workspace_artifacts(monkeypatch):
    monkeypatch.delenv("AIENG_WORKSPACE", raising=False)  # a learner's setting: the course's workspace/
    assert classic.DEFAULT_MODEL_PATH == ROOT / "workspace" / "artifacts" / "ticket_router.joblib"


def test_default_model_path_follows_the_workspace_at_call_time(monkeypatch, tmp_path, router):
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / "ws"))
    assert classic.DEFAULT_MODEL_PATH == tmp_path / "ws" / "artifacts" / "ticket_router.joblib"
    assert classic.save_model(router) == classic.DEFAULT_MODEL_PATH
    assert classic.load_model().predict(["Bank feed stopped syncing"]).tolist() == router.predict(
        ["Bank feed stopped syncing"]).tolist()


def test_an_interrupted_save_leaves_the_previous_model_whole(router, tmp_path):
    path = classic.save_model(DummyClassifier(strategy="most_frequent").fit([[0], [1]], ["a", "b"]),
                              tmp_path / "router.joblib")
    before = path.read_bytes()
    with pytest.raises(OSError), disk_fills_after(len(before) + 1000):
        classic.save_model(router, path)  # the trained pipeline is far larger than the limit
    assert path.read_bytes() == before
    assert classic.load_model(path).predict([[0]]).tolist() == ["a"]
