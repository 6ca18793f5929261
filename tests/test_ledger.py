"""The workflow ledger records minutes per stage, keeps measured apart from estimated, and round-trips JSON."""

import json

import pytest

from aieng import ledger as ledger_module
from aieng.files import ROOT
from aieng.ledger import COLUMNS, Ledger
from disk_full import disk_fills_after


def _sample() -> Ledger:
    ledger = Ledger()
    ledger.add("ml", "label", 270.0, kind="estimated", note="540 tickets at 0.5 min")
    ledger.add("ml", "train", 0.05, kind="measured")
    ledger.add("ai", "prompt", 12.0, kind="measured")
    return ledger


def test_to_frame_has_the_documented_columns_in_order():
    frame = _sample().to_frame()
    assert list(frame.columns) == COLUMNS
    assert list(frame["stage"]) == ["label", "train", "prompt"]
    assert list(frame["kind"]) == ["estimated", "measured", "measured"]
    assert frame["minutes"].dtype == float


def test_an_empty_ledger_still_has_the_columns():
    frame = Ledger().to_frame()
    assert list(frame.columns) == COLUMNS and len(frame) == 0
    assert Ledger().total_minutes("ml") == 0.0


def test_total_minutes_sums_one_workflow():
    ledger = _sample()
    assert ledger.total_minutes("ml") == pytest.approx(270.05)
    assert ledger.total_minutes("ai") == pytest.approx(12.0)


def test_adding_the_same_stage_again_replaces_it():
    ledger = _sample()
    ledger.add("ml", "label", 100.0, kind="estimated")
    assert len(ledger) == 3
    assert ledger.to_frame()["stage"].tolist() == ["label", "train", "prompt"]
    assert ledger.total_minutes("ml") == pytest.approx(100.05)


@pytest.mark.parametrize("kwargs, message", [
    ({"workflow": "dl", "stage": "x", "minutes": 1, "kind": "measured"}, "Unknown workflow 'dl'"),
    ({"workflow": "ml", "stage": "x", "minutes": 1, "kind": "guessed"}, "Unknown kind 'guessed'"),
    ({"workflow": "ml", "stage": "x", "minutes": -1, "kind": "measured"}, ">= 0"),
    ({"workflow": "ml", "stage": "x", "minutes": float("nan"), "kind": "measured"}, "finite"),
    ({"workflow": "ml", "stage": " ", "minutes": 1, "kind": "measured"}, "non-empty"),
])
def test_bad_entries_are_refused_with_the_value_named(kwargs, message):
    workflow, stage, minutes, kind = kwargs.values()
    with pytest.raises(ValueError, match=message):
        Ledger().add(workflow, stage, minutes, kind=kind)


def test_minutes_must_be_a_number():
    with pytest.raises(TypeError, match="must be a number"):
        Ledger().add("ml", "train", "ten", kind="measured")


def test_save_and_load_round_trip(tmp_path):
    path = _sample().save(tmp_path / "sub" / "ledger.json")
    assert path.exists() and json.loads(path.read_text())["entries"][0]["stage"] == "label"
    loaded = Ledger.load(path)
    assert loaded.to_frame().equals(_sample().to_frame())


def test_load_explains_a_missing_or_broken_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Run chapter 01"):
        Ledger.load(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not a ledger file"):
        Ledger.load(broken)


def test_default_path_is_under_workspace_artifacts(monkeypatch):
    monkeypatch.delenv("AIENG_WORKSPACE", raising=False)  # a learner's setting: the course's workspace/
    assert ledger_module.DEFAULT_PATH == ROOT / "workspace" / "artifacts" / "ledger.json"


def test_default_path_follows_the_workspace_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / "ws"))
    assert ledger_module.DEFAULT_PATH == tmp_path / "ws" / "artifacts" / "ledger.json"
    saved = _sample().save()
    assert saved == tmp_path / "ws" / "artifacts" / "ledger.json"
    assert Ledger.load().to_frame().equals(_sample().to_frame())


def test_an_interrupted_save_leaves_the_previous_ledger_whole(tmp_path):
    path = _sample().save(tmp_path / "ledger.json")
    before = path.read_bytes()
    bigger = _sample()
    for i in range(40):
        bigger.add("ai", f"stage {i}", i, kind="measured", note="a note long enough to make the file grow")
    with pytest.raises(OSError), disk_fills_after(len(before) + 100):
        bigger.save(path)
    assert path.read_bytes() == before
    assert len(Ledger.load(path)) == len(_sample())
