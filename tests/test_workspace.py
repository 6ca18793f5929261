from aieng import workspace


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
