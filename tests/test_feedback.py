"""aieng.feedback: the app's feedback file is appended safely, validated, and read back whole."""

import json
import multiprocessing
from dataclasses import replace

import pytest

from aieng import data, feedback
from aieng.files import ROOT
from aieng.feedback import FeedbackEntry, MalformedFeedback

GOOD = {
    "created_at": "2026-10-05T08:12:41Z", "ticket": "I was charged twice for March.", "proposed_intent": "billing",
    "draft_reply": "Sorry about the double charge: we refund the duplicate in 5 to 10 business days.",
    "rating": "up", "comment": "", "corrected_intent": None, "prompt_version": "triage-v1",
    "model": "SmolLM2-135M-Instruct",
}


def entry(**changes) -> FeedbackEntry:
    return FeedbackEntry(**{**GOOD, **changes})


def test_fields_are_those_of_the_seed_file_plus_the_pipeline_and_the_seed_file_loads():
    seed = data.load_seed_feedback()
    assert feedback.REQUIRED_FIELDS == tuple(seed.columns)
    assert feedback.FIELDS == (*seed.columns, "router_id", "pipeline_id")
    loaded = feedback.load_feedback(data.DATA_DIR / "seed_feedback.jsonl")
    assert len(loaded) == len(seed) and loaded["rating"].tolist() == seed["rating"].tolist()
    # the pilot's chat model routed: each seed vote belongs to the prompted pipeline of its prompt version
    assert (loaded["pipeline_id"] == "prompted:" + seed["prompt_version"]).all()


def test_append_then_load_round_trips(tmp_path):
    path = tmp_path / "deep" / "folder" / "feedback.jsonl"  # folders are created
    first = entry()
    second = entry(rating="down", comment="wrong queue, this is a bank feed",
                   corrected_intent="bank_feeds", ticket="Barclays stopped syncing\nsince Friday ü")
    feedback.append_feedback(first, path)
    feedback.append_feedback(second, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["corrected_intent"] == "bank_feeds"
    loaded = feedback.load_feedback(path)
    assert list(loaded.columns) == list(feedback.FIELDS)
    assert [FeedbackEntry.from_dict(r) for r in loaded.to_dict("records")] == [first, second]
    assert loaded.loc[0, "corrected_intent"] is None


def test_no_file_gives_an_empty_frame_with_the_columns(tmp_path):
    empty = feedback.load_feedback(tmp_path / "nothing_yet.jsonl")
    assert empty.empty and list(empty.columns) == list(feedback.FIELDS)


def _append_many(path, worker, n_entries, barrier):
    barrier.wait()  # all writers start together, so their appends really overlap
    for i in range(n_entries):
        # ~6 KB a line: longer than a pipe buffer, so a torn write would show
        vote = entry(ticket=f"worker {worker} entry {i} " + "x" * 6000, comment=f"{worker}:{i}")
        feedback.append_feedback(vote, path)


def test_concurrent_appends_from_several_processes_lose_nothing(tmp_path):
    path = tmp_path / "feedback.jsonl"
    n_workers, n_entries = 4, 50
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    barrier = context.Barrier(n_workers)
    workers = [context.Process(target=_append_many, args=(path, w, n_entries, barrier)) for w in range(n_workers)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert all(p.exitcode == 0 for p in workers), [p.exitcode for p in workers]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == n_workers * n_entries
    comments = {json.loads(line)["comment"] for line in lines}  # every line parses on its own
    assert comments == {f"{w}:{i}" for w in range(n_workers) for i in range(n_entries)}
    assert len(feedback.load_feedback(path)) == n_workers * n_entries


def test_appending_never_overwrites_and_never_merges_lines(tmp_path):
    path = tmp_path / "feedback.jsonl"
    kept = json.dumps(GOOD)
    path.write_text(kept, encoding="utf-8")  # a hand-edited file whose last line lacks its newline
    feedback.append_feedback(entry(rating="down"), path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == kept and json.loads(lines[1])["rating"] == "down"


@pytest.mark.parametrize("changes, message", [
    ({"proposed_intent": "billling"}, "unknown proposed_intent 'billling'; choose one of: billing"),
    ({"corrected_intent": "refunds"}, "unknown corrected_intent 'refunds'"),
    ({"rating": "thumbs_up"}, "rating must be 'up' or 'down', got 'thumbs_up'"),
    ({"rating": 5}, "rating must be 'up' or 'down', got 5"),
    ({"ticket": "   "}, "ticket must be a non-empty string"),
    ({"comment": None}, "comment must be a string"),
    ({"created_at": "yesterday"}, "created_at 'yesterday' is not an ISO 8601 timestamp"),
    ({"created_at": "2026-10-05T08:12:41"}, "has no time zone"),
])
def test_an_invalid_entry_is_rejected_with_a_clear_message(changes, message):
    with pytest.raises(MalformedFeedback) as caught:
        entry(**changes)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)  # callers may catch it as a plain ValueError


def test_several_problems_are_reported_together():
    with pytest.raises(MalformedFeedback, match="proposed_intent.*rating"):
        entry(proposed_intent="nope", rating="meh")


def test_missing_and_unknown_fields_are_named():
    record = {k: v for k, v in GOOD.items() if k != "model"}
    with pytest.raises(MalformedFeedback, match="missing field\\(s\\) model"):
        FeedbackEntry.from_dict(record)
    with pytest.raises(MalformedFeedback, match="unknown field\\(s\\) stars"):
        FeedbackEntry.from_dict({**GOOD, "stars": 4})


def test_a_missing_correction_read_back_as_nan_counts_as_none():
    assert FeedbackEntry.from_dict({**GOOD, "corrected_intent": float("nan")}).corrected_intent is None


def test_only_entries_are_appended(tmp_path):
    path = tmp_path / "feedback.jsonl"
    with pytest.raises(TypeError, match="FeedbackEntry"):
        feedback.append_feedback(GOOD, path)
    assert not path.exists()


def test_malformed_lines_are_reported_with_their_line_numbers(tmp_path):
    path = tmp_path / "feedback.jsonl"
    good = json.dumps(GOOD)
    path.write_text("\n".join([
        good,
        '{"created_at": "2026-10-05T09:00:00Z", "ticket": "cut off mid',  # line 2: a torn line
        "",                                                                  # line 3: blank, skipped
        json.dumps({**GOOD, "rating": "sideways"}),                          # line 4: bad value
        json.dumps({k: v for k, v in GOOD.items() if k != "ticket"}),        # line 5: missing field
        good,
    ]) + "\n", encoding="utf-8")
    with pytest.raises(MalformedFeedback) as caught:
        feedback.load_feedback(path)
    message = str(caught.value)
    assert "3 malformed line(s)" in message
    assert "line 2: not valid JSON" in message
    assert "line 4: rating must be 'up' or 'down', got 'sideways'" in message
    assert "line 5: missing field(s) ticket" in message
    with pytest.warns(UserWarning, match="line 2"):
        valid = feedback.load_feedback(path, on_error="warn")
    assert len(valid) == 2


def test_feedback_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(feedback.FEEDBACK_PATH_ENV, raising=False)
    monkeypatch.delenv("AIENG_WORKSPACE", raising=False)  # a learner's setting: the course's workspace/
    assert feedback.feedback_path() == feedback.FEEDBACK_PATH
    assert feedback.FEEDBACK_PATH == ROOT / "workspace" / "feedback" / "triage_feedback.jsonl"
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / "ws"))  # the test run's setting, read at each call
    assert feedback.feedback_path() == feedback.FEEDBACK_PATH == tmp_path / "ws" / "feedback" / "triage_feedback.jsonl"
    monkeypatch.setenv(feedback.FEEDBACK_PATH_ENV, str(tmp_path / "mine.jsonl"))
    assert feedback.feedback_path() == tmp_path / "mine.jsonl"


def test_timestamps_are_valid_utc():
    stamp = feedback.utc_timestamp()
    assert stamp.endswith("Z") and replace(entry(), created_at=stamp).created_at == stamp


def test_an_entry_from_a_triage_result_stores_the_prompt_id_and_drops_a_non_correction():
    from aieng.triage import Triage

    proposal = Triage(intent="billing", priority="normal", draft_reply="We will look into the charge.",
                      prompt_version="v2", model="SmolLM2-135M-Instruct", latency_s=0.4)
    kept = feedback.entry_from_triage(proposal, ticket="Charged twice", rating="up", comment="  fine ",
                                      corrected_intent="billing")
    assert kept.prompt_version == "triage-v2" and kept.corrected_intent is None and kept.comment == "fine"
    fixed = feedback.entry_from_triage(proposal, ticket="Charged twice", rating="down", corrected_intent="plan_change")
    assert fixed.corrected_intent == "plan_change" and fixed.proposed_intent == "billing"
    with pytest.raises(MalformedFeedback, match="rating"):
        feedback.entry_from_triage(proposal, ticket="Charged twice", rating="meh")


def test_an_entry_records_the_pipeline_that_proposed_and_rejects_one_that_does_not_add_up():
    from aieng.triage import Triage

    proposal = Triage(intent="billing", priority="normal", draft_reply="We will look into the charge.",
                      prompt_version="v3", model="SmolLM2-135M-Instruct", latency_s=0.4,
                      router_id="embedding-zero:queues-v2", route_score=0.52)
    vote = feedback.entry_from_triage(proposal, ticket="Charged twice", rating="up")
    assert vote.router_id == "embedding-zero:queues-v2"
    assert vote.pipeline_id == proposal.pipeline_id == "embedding-zero:queues-v2 + triage-v3"
    assert FeedbackEntry.from_dict(json.loads(json.dumps(vote.to_dict()))) == vote  # survives the file
    assert entry().pipeline_id == "prompted:triage-v1"  # no router recorded: the chat model routed
    with pytest.raises(MalformedFeedback, match="pipeline_id 'embedding-zero:queues-v1 \\+ triage-v1' does not match"):
        entry(router_id="prompted:triage-v1", pipeline_id="embedding-zero:queues-v1 + triage-v1")


def test_the_default_file_is_the_one_feedback_path_names(monkeypatch, tmp_path):
    monkeypatch.delenv(feedback.FEEDBACK_PATH_ENV, raising=False)
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / "ws"))
    feedback.append_feedback(entry())
    assert (tmp_path / "ws" / "feedback" / "triage_feedback.jsonl").exists()
    monkeypatch.setenv(feedback.FEEDBACK_PATH_ENV, str(tmp_path / "team.jsonl"))
    feedback.append_feedback(entry())
    assert len(feedback.load_feedback()) == 1 and (tmp_path / "team.jsonl").exists()
