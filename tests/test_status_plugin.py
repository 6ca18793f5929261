"""docs/status.md: written after a run that executed every chapter in solutions/, and only then.

pytester runs a small project whose `.ipynb` files are collected by a stand-in for nbval (one item per
"cell", passing or failing as the file says), so no kernel starts."""

from datetime import datetime, timezone

import pytest

from aieng import status_plugin
from aieng.status_plugin import ChapterRun

pytest_plugins = ["pytester"]

_FAKE_NBVAL = '''
import json
import pytest

pytest_plugins = ["aieng.status_plugin"]


class Cell(pytest.Item):
    def __init__(self, *, ok, **kwargs):
        super().__init__(**kwargs)
        self.ok = ok

    def runtest(self):
        assert self.ok, "cell failed"


class Notebook(pytest.File):
    def collect(self):
        for index, ok in enumerate(json.loads(self.path.read_text())):
            yield Cell.from_parent(self, name=f"Cell {index}", ok=ok)


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".ipynb":
        return Notebook.from_parent(parent, path=file_path)
'''


@pytest.fixture
def project(pytester):
    pytester.makeconftest(_FAKE_NBVAL)
    pytester.makeini("[pytest]\n")
    (pytester.path / "solutions").mkdir()
    (pytester.path / "solutions" / "00_setup.ipynb").write_text("[true, true]")
    (pytester.path / "solutions" / "01_ml.ipynb").write_text("[true, false, true]")
    pytester.makepyfile(test_unit="def test_one():\n    assert True\n")
    return pytester


def _status(project):
    return (project.path / "docs" / "status.md").read_text(encoding="utf-8")


def test_a_full_run_writes_each_chapter_with_its_result_and_seconds(project, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://example.invalid/v1")
    monkeypatch.setenv("AIENG_MODEL", "some-model")
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5, failed=1)
    text = _status(project)
    assert "backend http://example.invalid/v1 · some-model" in text
    assert "| [00_setup.ipynb](../solutions/00_setup.ipynb) | ✓ passed |" in text
    assert "| [01_ml.ipynb](../solutions/01_ml.ipynb) | ✗ failed (1 of 3 cells) |" in text
    assert not list((project.path / "docs").glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize("args", [("test_unit.py",), ("solutions/00_setup.ipynb",), ("-k", "setup")],
                         ids=["unit tests only", "one chapter", "a -k selection"])
def test_a_partial_run_leaves_the_status_alone(project, args):
    project.runpytest("-p", "no:cacheprovider", *args)
    assert not (project.path / "docs" / "status.md").exists()


def test_a_chapter_that_fails_keeps_the_date_it_last_passed(project):
    docs = project.path / "docs"
    docs.mkdir()
    (docs / "status.md").write_text(
        "| chapter | result | seconds | last passed |\n|---|---|---|---|\n"
        "| [01_ml.ipynb](../solutions/01_ml.ipynb) | ✓ passed | 3 | 2026-01-02 |\n", encoding="utf-8")
    project.runpytest("-p", "no:cacheprovider")
    text = _status(project)
    assert "| ✗ failed (1 of 3 cells) | 0 | 2026-01-02 |" in text
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert f"| [00_setup.ipynb](../solutions/00_setup.ipynb) | ✓ passed | 0 | {today} |" in text


def test_format_status_and_last_passed_read_each_other():
    finished = datetime(2026, 3, 4, 5, 6, tzinfo=timezone.utc)
    runs = [ChapterRun("00_setup.ipynb", passed=3, seconds=41.6), ChapterRun("05_rag.ipynb", passed=2, failed=1)]
    text = status_plugin.format_status(runs, finished=finished, backend="local · m", commit="abc123",
                                       previous={"05_rag.ipynb": "2026-02-01"})
    assert "Run finished 2026-03-04 05:06 UTC · backend local · m" in text and "commit abc123" in text
    assert "| 42 | 2026-03-04 |" in text
    assert status_plugin.last_passed(text) == {"00_setup.ipynb": "2026-03-04", "05_rag.ipynb": "2026-02-01"}
    # A chapter with no passing cell at all (its kernel never started) is not "passed".
    assert not ChapterRun("02_prompting.ipynb").ok
