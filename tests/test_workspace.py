import json

import pytest

from aieng import workspace
from aieng.files import ROOT


def _chapter(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)


def test_missing_chapters_are_copied(tmp_path):
    source, target = tmp_path / "notebooks", tmp_path / "workspace"
    _chapter(source, "00_setup.ipynb", "v1")
    copied, kept = workspace.sync(source, target)
    assert [p.name for p in copied] == ["00_setup.ipynb"] and kept == []
    assert (target / "00_setup.ipynb").read_text() == "v1"


def test_learner_work_is_never_overwritten_and_a_new_version_lands_beside_it(tmp_path):
    source, target = tmp_path / "notebooks", tmp_path / "workspace"
    _chapter(source, "00_setup.ipynb", "v1")
    workspace.sync(source, target)
    (target / "00_setup.ipynb").write_text("my answers")
    assert workspace.sync(source, target) == ([], [])  # nothing new: nothing happens
    _chapter(source, "00_setup.ipynb", "v2")
    copied, kept = workspace.sync(source, target)
    assert (target / "00_setup.ipynb").read_text() == "my answers"
    assert [p.name for p in kept] == ["00_setup.ipynb"]
    assert len(copied) == 1 and copied[0].read_text() == "v2" and copied[0].name.startswith("00_setup.new-")
    assert workspace.sync(source, target)[0] == []  # the new version is not copied twice


def test_a_learner_copy_is_made_once_and_never_overwritten(tmp_path, monkeypatch):
    monkeypatch.setenv(workspace.WORKSPACE_ENV, str(tmp_path / "ws"))
    template = tmp_path / "template.md"
    template.write_text("shipped", encoding="utf-8")
    copy = workspace.learner_copy("mine.md", template)
    assert copy == tmp_path / "ws" / "mine.md" and copy.read_text() == "shipped"
    copy.write_text("my edits", encoding="utf-8")
    template.write_text("shipped, newer", encoding="utf-8")
    assert workspace.learner_copy("mine.md", template).read_text() == "my edits"


def _sync_or_fail(source, target):
    try:
        return workspace.sync(source, target)
    except Exception as err:  # noqa: BLE001 - any exception here is the crash `make lab` must not have
        pytest.fail(f"a damaged .copied.json stopped the copy with {type(err).__name__}: {err}")


def test_a_corrupt_record_is_replaced_with_one_line_and_no_learner_file_is_touched(tmp_path, capsys):
    source, target = tmp_path / "notebooks", tmp_path / "workspace"
    _chapter(source, "00_setup.ipynb", "v1")
    _chapter(source, "01_ml.ipynb", "v1 of 01")
    workspace.sync(source, target)
    (target / "01_ml.ipynb").write_text("my answers")
    (target / ".copied.json").write_text('{"00_setup.ipynb": "ab12')  # cut off mid-write
    copied, kept = _sync_or_fail(source, target)
    message = capsys.readouterr().err.strip()
    assert ".copied.json is unreadable" in message and "\n" not in message
    assert (target / "01_ml.ipynb").read_text() == "my answers"  # the learner's work stays
    assert [p.name for p in kept] == ["01_ml.ipynb"] and len(copied) == 1  # 01 may differ: the course's lands beside
    assert copied[0].name.startswith("01_ml.new-")  # an untouched 00 is recognised, nothing lands beside it
    assert set(json.loads((target / ".copied.json").read_text())) == {"00_setup.ipynb"}  # the record is whole again


def test_a_record_of_the_wrong_shape_is_replaced_too(tmp_path, capsys):
    source, target = tmp_path / "notebooks", tmp_path / "workspace"
    _chapter(source, "00_setup.ipynb", "v1")
    target.mkdir()
    (target / ".copied.json").write_text("[1, 2]")
    assert _sync_or_fail(source, target) == ([target / "00_setup.ipynb"], [])
    assert "unreadable" in capsys.readouterr().err


def test_sync_goes_to_the_workspace_the_environment_names(tmp_path, monkeypatch):
    source = tmp_path / "notebooks"
    _chapter(source, "00_setup.ipynb", "v1")
    monkeypatch.setenv(workspace.WORKSPACE_ENV, str(tmp_path / "elsewhere"))
    copied, _ = workspace.sync(source)
    assert copied == [tmp_path / "elsewhere" / "00_setup.ipynb"]


def test_every_artifact_folder_follows_the_workspace_of_the_moment(tmp_path, monkeypatch):
    """The test run (and a learner who sets AIENG_WORKSPACE) must never write into the course's workspace/."""
    from aieng import retrieval

    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))
    assert retrieval.CHROMA_DIR == retrieval.chroma_dir() == tmp_path / "chroma"
    assert workspace.artifact_path("x.json") == tmp_path / "artifacts" / "x.json"


def test_no_chapter_builds_a_workspace_path_itself():
    """Chapters ask `aieng.workspace` for their folders; a path built from ROOT would ignore AIENG_WORKSPACE."""
    import re

    built = re.compile(r"ROOT\s*/\s*[\"']workspace[\"']")
    offenders = [p.name for p in sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "apps").glob("*.py"))
                 if built.search(p.read_text(encoding="utf-8").replace('\\"', '"'))]
    assert not offenders, f"these build ROOT / 'workspace' themselves; use aieng.workspace.workspace_dir(): {offenders}"
