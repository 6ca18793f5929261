"""The regression gate for the triage prompt: scores a prompt version fresh, through the model.

    .venv/bin/python -m pytest tests/test_prompt_gate.py                                   # shipped version
    AIENG_PROMPT_VERSION=v1 .venv/bin/python -m pytest tests/test_prompt_gate.py -k current   # another one

`test_current_prompt_passes_the_gate` fails when the version under test scores below
gate.THRESHOLD on the fixed gate set; `test_gate_rejects_the_known_bad_prompt` proves the gate
fails the deliberately worse version, scored fresh (nothing is read from stored results), and the
unit tests prove it passes answers that meet the bar and fails every constant answer.

On the bundled SmolLM2-135M no prompt version reaches the bar (it cannot choose a queue: chapters
02 and 04 measure it), so there the shipped version's run is reported as an expected failure with
its score. Any other version (a change under review), and any other endpoint (OPENAI_BASE_URL),
gets a hard pass or fail.
"""

import pandas as pd
import pytest

from aieng import data, gate, prompts, triage

BAD_VERSION = "v0-bad"


def test_the_gate_set_is_fixed_small_and_covers_every_queue():
    first, second = gate.gate_set(), gate.gate_set()
    assert list(first["item_id"]) == list(second["item_id"])
    assert 20 <= len(first) <= 30 and abs(len(first) - gate.GATE_SIZE) <= 2
    assert set(first["gold_intent"]) == set(data.INTENTS)


def test_the_threshold_sits_above_the_trivial_baselines():
    items = gate.gate_set()
    majority = items["gold_intent"].value_counts().index[0]
    polite = "Thanks for reaching out. Our support team will look into this and get back to you today."
    for intent, reply in [(majority, polite), ("feature_request", polite), (majority, "")]:
        constant = items.assign(intent=intent, draft_reply=reply)
        result = gate.evaluate(constant, prompt_version="constant", model="none")
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
    assert gate.evaluate(right, prompt_version="reference", model="none").score == 1.0
    half_wrong = right.assign(intent=["feature_request" if i % 2 else g for i, g in enumerate(right["gold_intent"])])
    assert gate.evaluate(half_wrong, prompt_version="reference", model="none").passed  # 0.5+ still passes


def test_the_version_under_test_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(gate.PROMPT_VERSION_ENV, raising=False)
    assert gate.prompt_version_under_test() == triage.DEFAULT_PROMPT_VERSION
    monkeypatch.setenv(gate.PROMPT_VERSION_ENV, "v1")
    assert gate.prompt_version_under_test() == "v1"


def test_current_prompt_passes_the_gate(llm):
    version = gate.prompt_version_under_test()
    assert version in prompts.versions("triage"), f"{gate.PROMPT_VERSION_ENV}={version!r} names no prompt version"
    result = gate.run_gate(llm.client, llm.model, version)
    if llm.is_local and version == triage.DEFAULT_PROMPT_VERSION and not result.passed:
        pytest.xfail(f"{result}. The bundled 135M model cannot choose a queue, so no prompt reaches the bar "
                     "on it; set OPENAI_BASE_URL to gate against a model that can.")
    failing = result.rows.loc[~result.rows["passed"], ["item_id", "gold_intent", "intent"]]
    assert result.passed, f"{result}\nfailing tickets:\n{failing.to_string(index=False)}"


def test_gate_rejects_the_known_bad_prompt(llm):
    result = gate.run_gate(llm.client, llm.model, BAD_VERSION)
    assert isinstance(result.rows, pd.DataFrame) and len(result.rows) == len(gate.gate_set())  # every ticket, fresh
    assert not result.passed, f"the gate let the known-bad prompt through: {result}"
