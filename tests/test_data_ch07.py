"""data/error_analysis/trace_notes.csv: the seeded error-analysis notes of chapter 07."""

from __future__ import annotations

import pandas as pd
import pytest

from aieng import agent_evals, data, trace_analysis

NOTES = trace_analysis.load_notes()


def test_one_note_per_trace_each_with_a_failure_mode():
    assert list(NOTES.columns) == trace_analysis.NOTE_COLUMNS
    assert NOTES["id"].is_unique and len(NOTES) >= 20
    assert set(NOTES["kind"]) == {"ticket", "agent_task"}
    assert (NOTES["note"].str.len().between(20, 200)).all(), "a note is one line on the first thing that went wrong"
    assert (NOTES["failure_mode"].str.fullmatch(r"[a-z_]+")).all()


def test_the_notes_are_keyed_by_the_ids_chapter_07_traces():
    tickets = data.load_tickets("validation")
    ticket_ids = NOTES.loc[NOTES["kind"] == "ticket", "id"].tolist()
    assert ticket_ids == tickets["id"].head(len(ticket_ids)).tolist()   # the notebook's first N_TICKETS, in order
    task_ids = NOTES.loc[NOTES["kind"] == "agent_task", "id"].tolist()
    eval_ids = [task["id"] for task in agent_evals.load_tasks("eval")]
    assert task_ids and set(task_ids) <= set(eval_ids)


def test_the_agent_notes_are_the_runs_chapter_07_traces_and_about_thirty_in_all():
    """One note per agent task the chapter traces (its AGENT_TASK_IDS), no more and no fewer."""
    import ast
    import json

    from aieng.files import ROOT

    cells = json.loads((ROOT / "solutions" / "07_observability.ipynb").read_text(encoding="utf-8"))["cells"]
    setup = next("".join(c["source"]) for c in cells if "AGENT_TASK_IDS =" in "".join(c["source"]))
    line = next(line for line in setup.splitlines() if line.startswith("AGENT_TASK_IDS ="))
    traced = ast.literal_eval(line.split("=", 1)[1].split("#")[0].strip())
    assert NOTES.loc[NOTES["kind"] == "agent_task", "id"].tolist() == traced
    assert 28 <= len(NOTES) <= 35, "the error analysis reads about 30 traces"


def test_wrong_queue_notes_match_the_gold_queues():
    """A note that says the router chose another queue must name a ticket whose gold queue is not that one."""
    tickets = data.load_tickets("validation").set_index("id")
    wrong = NOTES[NOTES["failure_mode"] == "wrong_queue"]
    for row in wrong.itertuples():
        routed = row.note.split("sent it to ")[1].split(";")[0]
        assert routed in data.INTENTS and routed != tickets.loc[row.id, "intent"], row.id
        assert tickets.loc[row.id, "intent"] in row.note, f"{row.id}: the note names the right queue"


def test_load_notes_rejects_a_broken_file(tmp_path):
    path = tmp_path / "notes.csv"
    NOTES.drop(columns="failure_mode").to_csv(path, index=False)
    with pytest.raises(ValueError, match="failure_mode"):
        trace_analysis.load_notes(path)
    pd.concat([NOTES, NOTES.head(1)]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="more than once"):
        trace_analysis.load_notes(path)
    NOTES.assign(failure_mode=[""] + NOTES["failure_mode"].tolist()[1:]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no failure_mode"):
        trace_analysis.load_notes(path)
