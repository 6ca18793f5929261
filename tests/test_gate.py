"""The regression gate for the triage pipeline (router + prompt version), scored fresh through the model.

    make gate                                   # the shipped pipeline, and the known-bad one must fail
    make gate ROUTER=prompted PROMPT=v2         # another pipeline under review
    AIENG_ROUTER=prompted AIENG_PROMPT_VERSION=v2 .venv/bin/python -m pytest tests/test_gate.py -k under_test

`test_the_pipeline_under_test_passes_the_gate` fails when the pipeline under test (by default the
shipped one: the router the evals picked + the shipped drafting prompt) scores below
gate.THRESHOLD on the fixed gate set; `test_the_gate_rejects_the_known_bad_pipeline` proves the
gate fails the deliberately worse pipeline, scored fresh (nothing is read from stored results),
and the unit tests prove it passes answers that meet the bar and fails every constant answer.
"""

import math

import pandas as pd
import pytest

from aieng import data, gate, prompts, routers, triage


def test_the_gate_set_is_fixed_and_covers_every_queue():
    first, second = gate.gate_set(), gate.gate_set()
    assert list(first["item_id"]) == list(second["item_id"])
    assert abs(len(first) - gate.GATE_SIZE) <= 2
    assert set(first["gold_intent"]) == set(data.INTENTS)
    assert set(first["item_id"]) <= set(data.load_tickets("test")["id"])


def test_the_threshold_sits_above_the_trivial_baselines():
    items = gate.gate_set()
    majority = items["gold_intent"].value_counts().index[0]
    polite = "Thanks for reaching out. Our support team will look into this and get back to you today."
    for intent, reply in [(majority, polite), ("feature_request", polite), (majority, "")]:
        constant = items.assign(intent=intent, draft_reply=reply)
        result = gate.evaluate(constant, pipeline_id="constant", model="none")
        assert not result.passed, f"a constant answer ({intent!r}, {reply[:20]!r}) passes the gate: {result}"


def test_a_ticket_passes_only_with_the_right_intent_and_a_reply_that_follows_the_rules():
    good = "Thanks for writing in. Our Billing team will check the double charge today."
    assert gate.item_passes({"intent": "billing", "gold_intent": "billing", "draft_reply": good})
    assert not gate.item_passes({"intent": "payroll", "gold_intent": "billing", "draft_reply": good})
    assert not gate.item_passes({"intent": "billing", "gold_intent": "billing", "draft_reply": "Thanks!"})
    assert not gate.item_passes({"intent": "billing", "gold_intent": "billing", "draft_reply": "Hi [Name], " + good})
    assert not gate.item_passes({"intent": None, "gold_intent": "billing", "draft_reply": ""})


def test_the_gate_passes_answers_that_meet_the_bar():
    items = gate.gate_set()
    good = "Thanks for writing in. The right team has your ticket and will reply today with next steps."
    right = items.assign(intent=items["gold_intent"], draft_reply=good)
    assert gate.evaluate(right, pipeline_id="reference", model="none").score == 1.0
    half_wrong = right.assign(intent=["feature_request" if i % 2 else g for i, g in enumerate(right["gold_intent"])])
    assert gate.evaluate(half_wrong, pipeline_id="reference", model="none").passed  # 0.5+ still passes


def test_the_result_splits_the_score_and_records_looping_drafts():
    good = "Thanks for writing in. The right team has your ticket and will reply today with next steps."
    rows = pd.DataFrame({"gold_intent": ["billing", "billing", "payroll", "payroll"],
                         "intent": ["billing", "payroll", "payroll", None],
                         "draft_reply": [good, good, "Thanks!", ""],
                         "draft_looped": [True, False, False, False]})
    result = gate.evaluate(rows, pipeline_id="p", model="m")
    assert (result.score, result.intent_accuracy, result.reply_ok_share) == (0.25, 0.5, 0.5)
    assert result.n_errors == 1
    assert result.looped_share == pytest.approx(1 / 3)  # of the three valid drafts, one looped
    assert "looped 33%" in str(result) and "FAIL p on m" in str(result)
    assert math.isnan(gate.evaluate(rows.drop(columns="draft_looped"), pipeline_id="p", model="m").looped_share)


def test_the_shipped_and_known_bad_pipelines_are_named_by_router_and_prompt():
    chosen = routers.load_choice()["chosen_id"]
    assert gate.SHIPPED.id == f"{chosen} + triage-{triage.DEFAULT_PROMPT_VERSION}"
    assert gate.KNOWN_BAD.id == "prompted:triage-v0-bad"
    other = gate.Pipeline(routers.DescriptionRouter.from_version("v1"), "v3")
    assert other.id == "embedding-zero:queues-v1 + triage-v3"


def test_the_pipeline_under_test_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(gate.ROUTER_ENV, raising=False)
    monkeypatch.delenv(gate.PROMPT_VERSION_ENV, raising=False)
    assert gate.pipeline_under_test() == gate.SHIPPED
    monkeypatch.setenv(gate.ROUTER_ENV, "prompted")
    monkeypatch.setenv(gate.PROMPT_VERSION_ENV, "v2")
    assert gate.pipeline_under_test().id == "prompted:triage-v2"
    monkeypatch.setenv(gate.ROUTER_ENV, "embedding-zero:v1")
    assert gate.pipeline_under_test().router.id == "embedding-zero:queues-v1"
    monkeypatch.setenv(gate.ROUTER_ENV, "embeding-zero:v1")
    with pytest.raises(ValueError, match=r"AIENG_ROUTER='embeding-zero:v1' names no router.*shipped, prompted"):
        gate.pipeline_under_test()


@pytest.mark.model
def test_the_pipeline_under_test_passes_the_gate(llm):
    pipeline = gate.pipeline_under_test()
    assert pipeline.prompt_version in prompts.versions("triage"), (
        f"{gate.PROMPT_VERSION_ENV}={pipeline.prompt_version!r} names no triage prompt version")
    result = gate.run_gate(llm.client, llm.model, pipeline.router, pipeline.prompt_version)
    print(result)
    assert result.pipeline_id == pipeline.id
    failing = result.rows.loc[~result.rows["passed"], ["item_id", "gold_intent", "intent", "draft_reply"]]
    assert result.passed, f"{result}\nfailing tickets:\n{failing.to_string(index=False, max_colwidth=60)}"


@pytest.mark.model
def test_the_gate_rejects_the_known_bad_pipeline(llm):
    result = gate.run_gate(llm.client, llm.model, gate.KNOWN_BAD.router, gate.KNOWN_BAD.prompt_version)
    print(result)
    assert len(result.rows) == len(gate.gate_set())  # every ticket, run fresh
    assert result.pipeline_id == gate.KNOWN_BAD.id
    assert not result.passed, f"the gate let the known-bad pipeline through: {result}"
