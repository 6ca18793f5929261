"""prompts/router-choice.json is what the evals pick today (like the notebooks sync test).

The file is committed so the app and the gate work on a fresh clone before any chapter ran; these
tests regenerate the choice from the evals and compare. The embedding candidates run on the CPU
and must match exactly (validation accuracy to 3 places, and the chosen spec); the prompted
candidate goes through the model, so it only has to stay near its recorded accuracy and keep losing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aieng import router_choice, routers

REGENERATE = "Regenerate it with `python -m aieng.router_choice` and commit prompts/router-choice.json."
PROMPTED_TOLERANCE = 0.03  # the chat model's accuracy may drift this much across llama.cpp builds and endpoints


def _key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True)


def differences(fresh: list[dict[str, Any]], committed: dict[str, Any]) -> list[str]:
    """Every way the freshly measured candidates disagree with the committed choice file, in words."""
    recorded = {_key(row["spec"]): row for row in committed["candidates"]}
    problems = []
    for row in fresh:
        old = recorded.get(_key(row["spec"]))
        if old is None:
            problems.append(f"candidate {row['spec']} is not in the file")
            continue
        for field in ("id", "labels_used", "accuracy", "macro_f1"):
            if row[field] != old[field]:
                problems.append(f"{row['id']}: {field} is {row[field]!r} today, {old[field]!r} in the file")
    fresh_keys = {_key(row["spec"]) for row in fresh}
    deterministic = {_key(spec) for spec in router_choice.CANDIDATES if spec["kind"] != "prompted"}
    for key in sorted(deterministic - fresh_keys):
        problems.append(f"candidate {key} was not measured")
    for key in sorted(set(recorded) - {_key(spec) for spec in router_choice.CANDIDATES}):
        problems.append(f"the file holds {key}, which is no longer a candidate")
    return problems


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return routers.load_choice()


@pytest.fixture(scope="module")
def fresh_deterministic(one_torch_thread) -> list[dict[str, Any]]:
    """The candidates that need no model, measured now on the validation split."""
    return router_choice.measure(client=None, model=None)


@pytest.mark.slow
def test_the_embedding_candidates_and_the_choice_match_the_committed_file(committed, fresh_deterministic):
    problems = differences(fresh_deterministic, committed)
    assert not problems, "prompts/router-choice.json is out of date: " + "; ".join(problems) + ". " + REGENERATE
    prompted = [row for row in committed["candidates"] if row["spec"]["kind"] == "prompted"]
    choice = router_choice.choose(fresh_deterministic + prompted, model=committed["measured_with"])
    assert (choice["chosen"], choice["chosen_id"]) == (committed["chosen"], committed["chosen_id"]), (
        f"The evals pick {choice['chosen_id']} today; the file says {committed['chosen_id']}. {REGENERATE}")
    assert choice["rule"] == committed["rule"], f"The rule changed to {choice['rule']!r}. {REGENERATE}"


@pytest.mark.slow
def test_a_stale_or_tampered_file_is_caught(committed, fresh_deterministic):
    """The comparison fails on a known-bad file: a changed accuracy, a missing and an extra candidate."""
    assert not differences(fresh_deterministic, committed)
    tampered = json.loads(json.dumps(committed))
    row = next(r for r in tampered["candidates"] if r["spec"]["kind"] == "embedding-zero")
    row["accuracy"] = round(row["accuracy"] + 0.001, 3)
    assert any(f"{row['id']}: accuracy" in p for p in differences(fresh_deterministic, tampered))
    tampered["candidates"] = [r for r in tampered["candidates"] if r is not row]
    tampered["candidates"].append({**row, "spec": {"kind": "embedding-zero", "version": "v9"}})
    found = differences(fresh_deterministic, tampered)
    assert any("is not in the file" in p for p in found) and any("no longer a candidate" in p for p in found)


@pytest.mark.model
def test_the_prompted_router_stays_near_its_recorded_accuracy_and_still_loses(llm, committed):
    if llm.model != committed["measured_with"]:
        pytest.skip(f"The file was measured with {committed['measured_with']}; this backend serves {llm.model}.")
    specs = [spec for spec in router_choice.CANDIDATES if spec["kind"] == "prompted"]
    assert specs, "router_choice.CANDIDATES has no prompted candidate: the comparison chapter 02 shows is gone."
    recorded = {_key(row["spec"]): row for row in committed["candidates"]}
    winner = next(row for row in committed["candidates"] if row["id"] == committed["chosen_id"])
    for row in router_choice.measure(llm.client, llm.model, candidates=specs):
        old = recorded.get(_key(row["spec"]))
        assert old is not None, f"{row['id']} is not in prompts/router-choice.json. {REGENERATE}"
        assert abs(row["accuracy"] - old["accuracy"]) <= PROMPTED_TOLERANCE, (
            f"{row['id']} scores {row['accuracy']:.3f} on validation today, {old['accuracy']:.3f} in the file "
            f"(more than {PROMPTED_TOLERANCE} apart). {REGENERATE}")
        assert row["accuracy"] < winner["accuracy"], (
            f"{row['id']} ({row['accuracy']:.3f}) no longer loses to {winner['id']} ({winner['accuracy']:.3f}). "
            f"{REGENERATE}")
