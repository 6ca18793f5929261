"""`make check-updates`: its report logic, on crafted inputs (nothing is installed here)."""

from pathlib import Path

import pytest

from aieng import check_updates
from aieng.check_updates import Change, Failure, Requirement
from aieng.errors import AiengError

_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="1" errors="1">
 <testcase classname="tests.test_data" name="test_splits_are_fixed" time="0.1"/>
 <testcase classname="tests.test_retrieval" name="test_index" time="0.2">
  <failure message="TypeError: unexpected keyword 'embedding_function'">Traceback (most recent call last):
  File "/x/.aieng/check-updates/venv/lib/python3.11/site-packages/chromadb/api/client.py", line 9, in create
TypeError: unexpected keyword 'embedding_function'</failure>
 </testcase>
 <testcase classname="tests.test_files" name="test_atomic" time="0.1">
  <error message="OSError: disk full">OSError: disk full</error>
 </testcase>
</testsuite></testsuites>
"""


def test_the_real_requirements_hold_torch_and_llama_cpp_and_free_the_rest():
    requirements = check_updates.read_requirements()
    arguments = check_updates.install_arguments(requirements)
    assert "torch==2.13.0" in arguments and "llama-cpp-python[server]==0.3.36" in arguments
    freed = [a for a in arguments if "==" not in a]
    assert len(freed) == len(requirements) - 2 and "openai" in freed and "chromadb" in freed


def test_an_unpinned_requirement_is_refused_with_its_line(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# a comment\nopenai==3.51.0\nnumpy>=2\n", encoding="utf-8")
    with pytest.raises(AiengError, match=r"line 3: 'numpy>=2' is not pinned with =="):
        check_updates.read_requirements(path)


def test_versions_that_differ_from_the_pins_are_listed_and_a_local_build_tag_is_not_a_change():
    requirements = [Requirement("torch", "", "2.13.0"), Requirement("scikit-learn", "", "1.7.2"),
                    Requirement("llama-cpp-python", "[server]", "0.3.36"), Requirement("rank-bm25", "", "0.2.2")]
    installed = {"torch": "2.13.0+cpu", "scikit_learn": "1.8.0", "llama_cpp_python": "0.3.36"}
    assert check_updates.version_changes(requirements, installed) == [
        Change("scikit-learn", "1.7.2", "1.8.0"), Change("rank-bm25", "0.2.2", "not installed")]


def test_failures_and_errors_are_read_from_junit_as_node_ids_and_a_missing_report_is_a_failure(tmp_path):
    (tmp_path / "tests").mkdir()
    for name in ("test_retrieval.py", "test_files.py"):
        (tmp_path / "tests" / name).write_text("")
    (tmp_path / "unit.xml").write_text(_JUNIT, encoding="utf-8")
    failures = check_updates.read_failures(tmp_path / "unit.xml", root=tmp_path)
    assert [f.test for f in failures] == ["tests/test_retrieval.py::test_index", "tests/test_files.py::test_atomic"]
    assert "site-packages/chromadb" in failures[0].text
    missing = check_updates.read_failures(tmp_path / "ch00.xml", root=tmp_path)
    assert len(missing) == 1 and "pytest wrote no report" in missing[0].text


def test_node_ids_of_classes_and_notebooks_and_what_is_rerun(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "00_setup.ipynb").write_text("{}")
    node_id = check_updates._node_id
    assert node_id("tests.test_x.TestY", "test_z[a.b]", tmp_path) == "tests/test_x.py::TestY::test_z[a.b]"
    assert node_id("solutions.00_setup.ipynb", "Cell 4", tmp_path) == "solutions/00_setup.ipynb::Cell 4"
    failures = [Failure("solutions/00_setup.ipynb::Cell 4", ""), Failure("solutions/00_setup.ipynb::Cell 9", ""),
                Failure("tests/test_x.py::test_a", "")]
    # A notebook's cell needs the cells before it: the notebook is rerun whole, once.
    assert check_updates.rerun_targets(failures) == ["solutions/00_setup.ipynb", "tests/test_x.py::test_a"]


def test_blame_names_the_package_whose_pin_alone_clears_a_failure(monkeypatch):
    changes = [Change("numpy", "2.2.6", "2.4.6"), Change("pandas", "2.3.3", "3.1.1"),
               Change("openai", "3.51.0", "3.57.0"), Change("scipy", "1.15.0", "1.17.1")]
    pins = {c.name: c.pinned for c in changes}
    failures = [Failure("tests/test_feedback.py::test_nan", ""), Failure("tests/test_ch07.py::test_missing_file", "")]
    installs, back = [], []

    def fake_run(command, log, env):
        specs = dict(a.split("==") for a in command if "==" in a)
        installs.append(specs)
        at_pin = [name for name, version in specs.items() if pins[name] == version]
        assert len(at_pin) <= 1, "a trial puts exactly one package back to its pin"
        back[:] = at_pin
        return 1 if at_pin == ["scipy"] else 0  # scipy's old release does not install beside the others

    def fake_pytest(python, arguments, name, env):
        if back == ["openai"]:
            return None  # pytest crashed with this pin: it must not be read as "everything passed"
        still = [failures[1]]  # a missing file fails whatever the versions
        return still if back == ["pandas"] else [*still, failures[0]]

    monkeypatch.setattr(check_updates, "_run", fake_run)
    monkeypatch.setattr(check_updates, "_pytest", fake_pytest)
    fixed_by, untried = check_updates._blame(None, changes, failures, {})
    assert fixed_by == {"tests/test_feedback.py::test_nan": ["pandas"]}
    assert set(untried) == {"openai", "scipy"} and "does not install" in untried["scipy"]
    # After every trial the newest set is put back, with dependencies (an old pandas may need pytz).
    newest = {c.name: c.installed for c in changes}
    assert installs[1::2] == [newest] * 4


def test_the_report_names_versions_failures_and_what_broke_them():
    changes = [Change("pandas", "2.3.3", "3.1.1")]
    failures = [Failure("tests/test_feedback.py::test_nan", "assert nan is None\nmore"),
                Failure("tests/test_ch07.py::test_missing_file", "FileNotFoundError: 07_observability.ipynb")]
    text = check_updates.format_report(changes, failures, {"tests/test_feedback.py::test_nan": ["pandas"]},
                                       minutes=7.2)
    assert "| pandas | 2.3.3 | 3.1.1 |" in text
    assert "- `tests/test_feedback.py::test_nan`: broken by pandas: passes with that pin put back. " \
           "assert nan is None" in text
    assert "- `tests/test_ch07.py::test_missing_file`: still fails with each changed package put back alone" in text
    untried = check_updates.format_report(changes, failures[:1], {}, minutes=7,
                                          untried={"pandas": "pytest did not start with its pin"})
    assert "- pandas: pytest did not start with its pin" in untried
    clean = check_updates.format_report([], [], {}, minutes=5)
    assert "Everything passed" in clean and "already at its newest release" in clean


def test_the_copy_under_test_is_the_last_commit_or_else_the_folder_itself(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.setattr(check_updates, "SCRATCH", tmp_path)
    tree, source = check_updates._snapshot()
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=check_updates.ROOT, capture_output=True,
                         text=True)
    if top.returncode or Path(top.stdout.strip()).resolve() != check_updates.ROOT.resolve():
        # Not a checkout of its own (a downloaded archive, or make check-updates' own copy): test it as it is.
        assert (tree, source) == (check_updates.ROOT, "the working tree")
        return
    committed = subprocess.run(["git", "show", "HEAD:requirements.txt"], cwd=check_updates.ROOT, capture_output=True,
                               text=True, check=True).stdout
    assert tree == tmp_path / "tree" and source.startswith("commit ")
    assert (tree / "requirements.txt").read_text(encoding="utf-8") == committed
    assert (tree / "aieng" / "check_updates.py").is_file() and not (tree / ".venv").exists()


def test_a_flaky_failure_is_reported_as_such_and_not_blamed():
    failure = Failure("tests/test_x.py::test_timing", "assert 2.1 < 2.0")
    text = check_updates.format_report([Change("numpy", "2.2.6", "2.4.6")], [failure], {}, minutes=4,
                                       flaky=frozenset({failure.test}), source="commit abc1234")
    assert "- `tests/test_x.py::test_timing`: flaky, it passed when rerun unchanged." in text
    assert "Tested: commit abc1234." in text and "broken by" not in text
