"""`python -m aieng progress` and `progress.show`: verdicts read from saved check-cell outputs, nothing run."""

import subprocess
import sys

import nbformat
import pytest

from aieng import progress
from aieng.exercises import ROOT


def _check_cell(source: str, printed: str | None = None, *, error: str | None = None):
    cell = nbformat.v4.new_code_cell(source)
    if printed is not None:
        cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": printed}, execution_count=1)]
    if error is not None:
        cell.outputs = [nbformat.v4.new_output("error", ename=error, evalue="boom", traceback=[])]
    return cell


def _write(folder, name, cells):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 05 · Retrieval"), *cells])
    nbformat.write(notebook, folder / name)
    return folder / name


def _statuses(chapter):
    return {e.number: e.status for e in chapter.exercises}


def test_each_verdict_is_read_from_the_saved_output(tmp_path):
    path = _write(tmp_path, "05_rag.ipynb", [
        nbformat.v4.new_markdown_cell("### Exercise 5.1: recall@k"),
        _check_cell("checks.recall_at_k(recall_at_k)", "✓ Exercise 5.1: recall_at_k respects the cut-off at k."),
        nbformat.v4.new_markdown_cell("### Exercise 5.2: reciprocal rank"),
        _check_cell("checks.reciprocal_rank(reciprocal_rank)",
                    "✗ Exercise 5.2: reciprocal_rank(['a'], 'a') returned 0.\n  Hint: ranks start at 1."),
        nbformat.v4.new_markdown_cell("### Exercise 5.3: windows"),
        _check_cell("checks.windows(windows)", "… Exercise 5.3 not attempted yet: windows is still the stub."),
        nbformat.v4.new_markdown_cell("### Exercise 5.4: never run"),
        _check_cell("checks.never_run(never_run)"),
    ])
    chapter = progress.read_chapter(path)
    assert chapter.title == "05 · Retrieval" and chapter.chapter == "05" and not chapter.problem
    assert _statuses(chapter) == {"5.1": "passed", "5.2": "attempted", "5.3": "untouched", "5.4": "untouched"}
    assert chapter.n_passed == 1


def test_a_check_that_raised_counts_as_attempted_not_passed(tmp_path):
    path = _write(tmp_path, "05_rag.ipynb", [nbformat.v4.new_markdown_cell("### Exercise 5.1: x"),
                                             _check_cell("checks.recall_at_k(recall_at_k())", error="TypeError")])
    assert _statuses(progress.read_chapter(path)) == {"5.1": "attempted"}


def test_a_tick_printed_outside_a_check_cell_is_not_a_pass(tmp_path):
    # A learner's own print of a verdict-looking line must not count: only cells starting with `checks.` do.
    fake = nbformat.v4.new_code_cell("print('✓ Exercise 5.1: done')")
    fake.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓ Exercise 5.1: done\n")]
    path = _write(tmp_path, "05_rag.ipynb", [nbformat.v4.new_markdown_cell("### Exercise 5.1: x"), fake,
                                             _check_cell("checks.recall_at_k(recall_at_k)")])
    assert _statuses(progress.read_chapter(path)) == {"5.1": "untouched"}


def test_an_exercise_with_two_checks_passes_only_when_both_do(tmp_path):
    path = _write(tmp_path, "02_prompting.ipynb", [
        nbformat.v4.new_markdown_cell("### Exercise 2.2: parse or flag"),
        _check_cell("checks.parse_or_flag(parse_or_flag)", "✓ Exercise 2.2: parses a clean reply."),
        _check_cell("checks.flags_cut_reply(parse_or_flag)", "✗ Exercise 2.2: a cut reply was accepted."),
    ])
    assert _statuses(progress.read_chapter(path)) == {"2.2": "attempted"}


def test_a_corrupt_notebook_gives_a_clear_message_and_the_others_still_report(tmp_path):
    (tmp_path / "04_evals.ipynb").write_text('{"cells": [', encoding="utf-8")
    _write(tmp_path, "05_rag.ipynb", [nbformat.v4.new_markdown_cell("### Exercise 5.1: x"),
                                      _check_cell("checks.recall_at_k(recall_at_k)", "✓ Exercise 5.1: fine.")])
    chapters = progress.report(tmp_path)
    assert [c.chapter for c in chapters] == ["04", "05"]
    assert "04_evals.ipynb is not a readable notebook" in chapters[0].problem
    assert "make lab" in chapters[0].problem and not chapters[0].exercises
    text = progress.format_report(chapters, tmp_path)
    assert "not a readable notebook" in text and "1/1 passed" in text


def test_newer_copies_beside_the_learners_and_other_files_are_left_out(tmp_path):
    _write(tmp_path, "05_rag.ipynb", [_check_cell("checks.a(a)")])
    _write(tmp_path, "05_rag.new-1a2b3c4d.ipynb", [_check_cell("checks.a(a)")])
    _write(tmp_path, "scratch.ipynb", [_check_cell("checks.a(a)")])
    assert [c.path.name for c in progress.report(tmp_path)] == ["05_rag.ipynb"]
    assert [c.path.name for c in progress.report(tmp_path, chapter="04")] == []


def test_an_empty_workspace_says_what_to_run(tmp_path):
    assert "make lab" in progress.format_report(progress.report(tmp_path), tmp_path)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_fresh_exercise_copies_are_all_untouched_and_numbered_by_their_chapter(path):
    chapter = progress.read_chapter(path)
    assert chapter.exercises, f"{path.name}: no exercise found"
    assert {e.status for e in chapter.exercises} == {"untouched"}
    assert all(e.number.split(".")[0] == str(int(chapter.chapter)) for e in chapter.exercises), chapter.exercises


def test_show_prints_one_chapter_or_says_it_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))
    _write(tmp_path, "05_rag.ipynb", [nbformat.v4.new_markdown_cell("### Exercise 5.1: x"),
                                      _check_cell("checks.recall_at_k(recall_at_k)", "✓ Exercise 5.1: fine.")])
    progress.show("05")
    assert "05 · Retrieval: 1/1 passed   ✓ 5.1" in capsys.readouterr().out
    progress.show("07")
    assert "No notebook of chapter 07" in capsys.readouterr().out


def test_the_command_reads_the_workspace_and_executes_nothing(tmp_path):
    _write(tmp_path, "05_rag.ipynb", [nbformat.v4.new_markdown_cell("### Exercise 5.1: x"),
                                      _check_cell("checks.recall_at_k(recall_at_k)", "✓ Exercise 5.1: fine.")])
    before = (tmp_path / "05_rag.ipynb").read_bytes()
    env = {"AIENG_WORKSPACE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "aieng", "progress"], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1/1 passed" in result.stdout and "Not in your workspace yet:" in result.stdout
    assert (tmp_path / "05_rag.ipynb").read_bytes() == before


def test_an_exercise_named_in_a_bold_lead_is_found_but_a_mention_in_prose_is_not(tmp_path):
    path = _write(tmp_path, "08_fine_tuning.ipynb", [
        nbformat.v4.new_markdown_cell("**Exercise 8.1.** Write `sft_example(text, queue)`."),
        _check_cell("checks.sft_example(sft_example)"),
        nbformat.v4.new_markdown_cell("The packaged copy of Exercise 8.1 is used below, and Exercise 8.9 later."),
        _check_cell("checks.drop_near_duplicates(drop_near_duplicates)"),
    ])
    # A mention in prose ("Exercise 8.9 later") names no exercise: both checks stay with 8.1, the last lead above.
    chapter = progress.read_chapter(path)
    assert _statuses(chapter) == {"8.1": "untouched"} and len(chapter.exercises[0].checks) == 2
