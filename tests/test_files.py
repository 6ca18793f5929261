"""The shared file helpers: JSON lines that name the bad line, front matter, atomic writes, one course folder."""

import json
import os
from pathlib import Path

import pytest
from disk_full import disk_fills_after

from aieng import evals, files
from aieng.files import BadJsonLine


def _jsonl(path, *lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_jsonl_returns_the_objects_and_skips_blank_lines(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", '{"id": 1}', "", '  ', '{"id": 2, "text": "é"}')
    assert files.read_jsonl(path) == [{"id": 1}, {"id": 2, "text": "é"}]


def test_a_bad_line_names_the_file_the_line_and_what_to_do(tmp_path):
    path = _jsonl(tmp_path / "tickets.jsonl", '{"id": 1}', "", '{"id": 2, "body": "cut off')
    with pytest.raises(BadJsonLine) as caught:
        files.read_jsonl(path)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message and "not valid JSON" in message
    assert "Fix or delete that line" in message
    assert (caught.value.path, caught.value.line) == (path, 3)
    assert isinstance(caught.value, ValueError)  # callers catching ValueError still catch it


def test_a_line_that_is_not_an_object_is_a_bad_line(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", '{"id": 1}', "[1, 2]")
    with pytest.raises(BadJsonLine, match=r"line 2: a JSON list, not an object"):
        files.read_jsonl(path)


def test_a_hint_replaces_the_default_advice(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", "{oops")
    with pytest.raises(BadJsonLine, match="restore it") as caught:
        files.read_jsonl(path, hint="restore it")
    assert "Fix or delete" not in str(caught.value)


def test_numbered_jsonl_collects_every_bad_line_when_asked(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", "{oops", '{"ok": true}', "", "nope", "[3]")
    problems: list[BadJsonLine] = []
    assert files.numbered_jsonl(path, problems=problems) == [(2, {"ok": True}), (5, [3])]
    assert [p.line for p in problems] == [1, 4]


def test_paths_inside_the_course_are_shown_relative_to_it(tmp_path):
    assert files.shown(files.ROOT / "data" / "questions.jsonl") == str(Path("data") / "questions.jsonl")
    assert files.shown(tmp_path / "x.jsonl") == str(tmp_path / "x.jsonl")


def test_front_matter_gives_the_fields_and_the_body():
    fields, body = files.parse_front_matter("---\nid: KB-1\ntitle: Reset: your password \nno colon\n---\n\nBody\n", "a.md")
    assert fields == {"id": "KB-1", "title": "Reset: your password"}
    assert body == "\nBody\n"


def test_front_matter_reads_windows_line_endings():
    fields, body = files.parse_front_matter("---\r\nname: x\r\n---\r\nBody\r\n", "a.md")
    assert fields == {"name": "x"} and body.strip() == "Body"


@pytest.mark.parametrize("raw", ["no front matter\n", "---\nname: x\nnever closed\n", "---\n---\n"])
def test_missing_front_matter_names_the_file(raw):
    with pytest.raises(ValueError, match=r"a\.md has no front matter"):
        files.parse_front_matter(raw, Path("/somewhere/a.md"))


def test_write_atomic_writes_text_and_bytes_and_creates_folders(tmp_path):
    target = tmp_path / "new" / "folder" / "out.json"
    assert files.write_atomic(target, '{"a": 1}') == target
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 1}
    files.write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary file left


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "ledger.json"
    target.write_text("the old, complete file", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_file(target) as out:
            out.write("half of the new fi")
            raise KeyboardInterrupt  # the kernel interrupted mid-write
    assert target.read_text(encoding="utf-8") == "the old, complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]


def test_a_rewritten_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "shared.txt"
    target.write_text("old")
    os.chmod(target, 0o664)
    files.write_atomic(target, "new")
    assert target.stat().st_mode & 0o777 == 0o664


def test_one_course_folder_everywhere():
    from aieng import data, exercises, prompts, workspace

    assert (files.ROOT / "aieng" / "files.py").exists() and (files.ROOT / "solutions").is_dir()
    assert exercises.ROOT == files.ROOT
    assert data.DATA_DIR == files.ROOT / "data" and prompts.PROMPTS_DIR == files.ROOT / "prompts"
    assert workspace.WORKSPACE == files.ROOT / "workspace"


def test_no_module_finds_the_course_folder_on_its_own():
    """Every module takes the course folder from aieng.files; a second way to find it can drift."""
    package = files.ROOT / "aieng"
    mine = {"files.py", "local_server.py"}  # TODO: local_server.state_dir() to take files.ROOT too
    offenders = [p.name for p in package.glob("*.py") if p.name not in mine
                 and ("parents[1]" in p.read_text(encoding="utf-8") or "Path(__file__)" in p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_disk_full_simulation_cuts_a_plain_write_short(tmp_path):
    """The simulation the atomic-write tests rely on: a plain overwrite really is left half-written."""
    target = tmp_path / "plain.txt"
    target.write_text("old")
    with pytest.raises(OSError), disk_fills_after(100):
        target.write_text("x" * 1000)
    assert target.read_text() == "x" * 100


def test_eval_results_go_to_the_workspace_of_the_moment(monkeypatch, tmp_path):
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path / "ws"))
    assert evals.RESULTS_DIR == tmp_path / "ws" / "evals"


def test_a_torn_eval_results_line_is_named_with_its_file_and_line(tmp_path):
    path = evals.save_results([{"id": "T-1", "passed": True}], tmp_path / "runs.jsonl", prompt_version="v1", model="m")
    with open(path, "a", encoding="utf-8") as out:
        out.write('{"id": "T-2", "pass')  # a run cut short
    with pytest.raises(BadJsonLine, match=r"runs\.jsonl, line 2: not valid JSON.*re-run the eval"):
        evals.load_results(path)


def test_an_interrupted_eval_save_leaves_the_earlier_runs_whole(tmp_path):
    path = evals.save_results([{"id": "T-1", "passed": True}], tmp_path / "runs.jsonl", prompt_version="v1", model="m")
    before = path.read_bytes()
    rows = [{"id": f"T-{i}", "reason": "a long enough reason " * 5} for i in range(50)]
    with pytest.raises(OSError), disk_fills_after(len(before) + 200):
        evals.save_results(rows, path, prompt_version="v2", model="m")
    assert path.read_bytes() == before
    assert len(evals.load_results(path)) == 1
