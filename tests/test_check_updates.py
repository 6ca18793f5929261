"""`make check-updates`: its report logic, on crafted inputs (nothing is installed here)."""

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


def test_failures_and_errors_are_read_from_junit_and_a_missing_report_is_a_failure(tmp_path):
    (tmp_path / "unit.xml").write_text(_JUNIT, encoding="utf-8")
    failures = check_updates.read_failures(tmp_path / "unit.xml")
    assert [f.test for f in failures] == ["tests.test_retrieval::test_index", "tests.test_files::test_atomic"]
    missing = check_updates.read_failures(tmp_path / "ch00.xml")
    assert len(missing) == 1 and "pytest wrote no report" in missing[0].text


def test_the_suspect_is_the_changed_package_in_the_traceback_not_every_change():
    changes = [Change("chromadb", "1.5.9", "1.6.0"), Change("numpy", "2.2.6", "2.3.0")]
    top_levels = {"chromadb": ["chromadb"], "numpy": ["numpy", "numpy.libs"]}
    failure = Failure("tests.test_retrieval::test_index",
                      'File "/v/lib/python3.11/site-packages/chromadb/api/client.py", line 9')
    assert check_updates.suspects(failure, changes, top_levels) == ["chromadb"]
    # A package merely named in the message (not a file of it in the traceback) is not blamed.
    assert check_updates.suspects(Failure("t", "numpy arrays differ"), changes, top_levels) == []


def test_the_report_names_versions_failures_and_culprits():
    changes = [Change("chromadb", "1.5.9", "1.6.0")]
    failure = Failure("tests.test_retrieval::test_index",
                      "TypeError: bad\nFile \"/v/site-packages/chromadb/api.py\", line 1")
    text = check_updates.format_report(changes, [failure], {"chromadb": ["chromadb"]}, minutes=7.2)
    assert "| chromadb | 1.5.9 | 1.6.0 |" in text
    assert "- `tests.test_retrieval::test_index` (in the traceback: chromadb): TypeError: bad" in text
    clean = check_updates.format_report([], [], {}, minutes=5)
    assert "Everything passed" in clean and "already at its newest release" in clean
