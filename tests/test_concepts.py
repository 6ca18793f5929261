"""The questions that end every chapter: each solution answer passes, a wrong one fails with a hint that does
not give the answer away, a question about the learner's run is checked against the results store, and
`aieng.progress` counts the check like any other exercise."""

import ast
import re

import nbformat
import pytest

from aieng import checks, concepts, progress, results
from aieng.concept_questions import QUIZZES
from aieng.errors import ExerciseCheckFailed
from aieng.exercises import ROOT

pytestmark = pytest.mark.usefixtures("learner_mode")

CHAPTERS = [f"{n:02d}" for n in range(10)]
# Chapters whose notebooks do not hold the questions' cells yet; each still has its questions in the module.

def _notebook(folder: str, chapter: str) -> nbformat.NotebookNode:
    (path,) = sorted((ROOT / folder).glob(f"{chapter}_*.ipynb"))
    return nbformat.read(path, as_version=4)


def _solution_entries(chapter: str) -> dict[str, ast.expr]:
    """The `answers = {...}` of the chapter's solution notebook, as key -> the expression written there."""
    cell = next(c for c in _notebook("solutions", chapter).cells
                if c.cell_type == "code" and "\nanswers = {" in "\n" + c.source)
    tree = ast.parse(cell.source)
    assign = next(node for node in tree.body if isinstance(node, ast.Assign))
    return {key.value: value for key, value in zip(assign.value.keys, assign.value.values)}


def _store(tmp_path, monkeypatch, *records: dict) -> None:
    """A results store in a temporary workspace holding `records` (each as `results.record` takes it)."""
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))
    base = {"workflow": "ai", "task": "routing", "metric": "accuracy", "model": "test"}
    for fields in records:
        results.record(**{**base, **fields})


def _chapter_records(accuracy=0.7, prompted=(0.04, 0.01, 0.08), shipped=(0.6, 0.54, 0.66), recall=0.8):
    return [
        {"approach": "tfidf:chapter-01", "family": "classic", "workflow": "ml", "chapter": "01", "value": accuracy,
         "interval": (accuracy - 0.05, accuracy + 0.05), "n": 200},
        {"approach": "prompted:triage-v2", "family": "prompted", "chapter": "02", "value": prompted[0],
         "interval": prompted[1:], "n": 200},
        {"approach": "embedding-zero:v2", "family": "embedding", "chapter": "02", "value": shipped[0],
         "interval": shipped[1:], "n": 200, "extra": {"shipped": True}},
        {"approach": "rag-retrieval:hybrid-by-heading", "family": "rag", "chapter": "05", "task": "answering",
         "metric": "recall@5 (retrieval)", "value": recall, "interval": (recall - 0.1, recall + 0.1), "n": 50},
    ]


def _right_answers(chapter: str) -> dict[str, object]:
    return {q.key: concepts.right_answer(q) for q in QUIZZES[chapter].questions}


# --- the questions themselves ------------------------------------------------------------------------


def test_every_chapter_has_three_or_four_questions_numbered_as_its_next_exercise():
    assert sorted(QUIZZES) == CHAPTERS
    for chapter, quiz in QUIZZES.items():
        assert 3 <= len(quiz.questions) <= 4, chapter
        assert quiz.exercise.split(".")[0] == str(int(chapter)), quiz.exercise
        assert len({q.key for q in quiz.questions}) == len(quiz.questions), chapter
        for q in quiz.questions:
            assert q.why and q.hint, (chapter, q.key)
            if q.facts:
                assert not q.answer and q.facts in concepts._FACTS, (chapter, q.key)
            else:
                assert q.answer in "ABCD"[: len(q.choices)] and len(q.answer) == 1, (chapter, q.key)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_exercise_number_is_free_in_the_chapter(chapter):
    quiz = QUIZZES[chapter]
    own = [c for c in _notebook("solutions", chapter).cells if c.cell_type == "markdown"
           and f"Exercise {quiz.exercise}" in c.source and not c.source.startswith("## Check your understanding")]
    assert not own, f"{chapter} already has an Exercise {quiz.exercise}: number its questions differently"


def test_right_answers_are_not_always_the_same_letter():
    letters = [q.answer for quiz in QUIZZES.values() for q in quiz.questions if q.answer]
    assert max(letters.count(letter) for letter in "ABCD") < 0.5 * len(letters)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_wrong_answer_fails_with_a_hint_that_does_not_give_the_answer(chapter, tmp_path, monkeypatch):
    _store(tmp_path, monkeypatch, *_chapter_records())
    for question in QUIZZES[chapter].questions:
        right = concepts.right_answer(question)
        if question.choices:
            wrong = next(letter for letter in "ABCD" if letter != right)
            right_text = question.choices["ABCD".index(right)]
        else:
            wrong, right_text = right + 3, str(right)
        (grade,) = [g for g in concepts.grade(chapter, {question.key: wrong}) if g.key == question.key]
        assert grade.status == concepts.WRONG and question.hint in grade.line, grade
        assert right_text not in grade.line and question.why not in grade.line, grade
        if question.choices:
            assert not re.search(rf"(?<![\w']){right}(?![\w'])", grade.line), f"{grade.line!r} names {right!r}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_right_answers_pass_and_say_why(chapter, tmp_path, monkeypatch, capsys):
    _store(tmp_path, monkeypatch, *_chapter_records())
    result = checks.understanding(chapter, _right_answers(chapter))
    assert result.passed, str(result)
    assert str(result).startswith(f"✓ Exercise {QUIZZES[chapter].exercise}: all ")
    assert all(q.why in str(result) for q in QUIZZES[chapter].questions)
    concepts.show(chapter)  # every question prints, with its choices
    shown = capsys.readouterr().out
    assert all(f"{q.key}. " in shown for q in QUIZZES[chapter].questions)
    assert all(f"{letter}) {choice[:30]}" in shown for q in QUIZZES[chapter].questions
               for letter, choice in zip("ABCD", q.choices))


# --- the notebooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_ends_with_the_questions_then_progress_then_navigation(chapter):
    for folder in ("solutions", "notebooks"):
        cells = _notebook(folder, chapter).cells
        code = [c.source for c in cells if c.cell_type == "code"]
        assert code[-1] == f'from aieng import progress\n\nprogress.show("{chapter}")', (folder, code[-1])
        assert code[-2] == f'checks.understanding("{chapter}", answers)', (folder, code[-2])
        assert code[-4] == f'from aieng import concepts\n\nconcepts.show("{chapter}")', (folder, code[-4])
        last_code = max(i for i, c in enumerate(cells) if c.cell_type == "code")
        after = cells[last_code + 1:]  # nothing after the progress cell but the navigation, if the chapter has one
        assert all(c.cell_type == "markdown" and c.source.startswith("---") for c in after) and len(after) <= 1
    stub = [c.source for c in _notebook("notebooks", chapter).cells if c.cell_type == "code"][-3]
    assert stub == f"answers = ...  # Exercise {QUIZZES[chapter].exercise}: your code here"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_solution_notebook_answers_are_the_right_ones(chapter, tmp_path, monkeypatch):
    entries = _solution_entries(chapter)
    assert set(entries) == {q.key for q in QUIZZES[chapter].questions}
    for question in QUIZZES[chapter].questions:
        if question.facts:  # computed in the notebook from its own variables; the store check is tested below
            assert not isinstance(entries[question.key], ast.Constant), (chapter, question.key)
        else:
            assert ast.literal_eval(entries[question.key]) == question.answer, (chapter, question.key)


def test_progress_counts_the_questions_as_an_exercise(tmp_path, monkeypatch):
    chapter = "00"
    quiz = QUIZZES[chapter]
    fresh = progress.read_chapter(ROOT / "notebooks" / "00_setup.ipynb")
    assert {e.number: e.status for e in fresh.exercises}[quiz.exercise] == progress.UNTOUCHED
    notebook = _notebook("notebooks", chapter)
    check_cell = next(c for c in notebook.cells if c.source.startswith("checks.understanding("))
    for answers, status in [({"q1": "A"}, progress.ATTEMPTED), (_right_answers(chapter), progress.PASSED)]:
        printed = str(checks.understanding(chapter, answers))
        check_cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": printed}, execution_count=1)]
        nbformat.write(notebook, tmp_path / "00_setup.ipynb")
        exercises = {e.number: e.status for e in progress.read_chapter(tmp_path / "00_setup.ipynb").exercises}
        assert exercises[quiz.exercise] == status, printed
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))
    assert f"{quiz.exercise}" in progress.format_report(progress.report(tmp_path), tmp_path)


# --- questions about the learner's own run ---------------------------------------------------------------


def test_a_question_about_the_run_is_checked_against_the_store(tmp_path, monkeypatch):
    _store(tmp_path, monkeypatch, *_chapter_records(accuracy=0.75, recall=0.9))
    assert concepts.right_answer(QUIZZES["01"].questions[2]) == 50  # (1 - 0.75) * 200 misrouted
    assert concepts.right_answer(QUIZZES["05"].questions[3]) == 5   # (1 - 0.9) * 50 questions
    grades = {g.key: g.status for g in concepts.grade("01", {"q3": 50})}
    assert grades["q3"] == concepts.RIGHT
    assert {g.key: g.status for g in concepts.grade("01", {"q3": "51"})}["q3"] == concepts.WRONG
    assert {g.key: g.status for g in concepts.grade("01", {"q3": "fifty"})}["q3"] == concepts.WRONG


@pytest.mark.parametrize("prompted, shipped, letter", [
    ((0.04, 0.01, 0.08), (0.6, 0.54, 0.66), "A"),   # the swap: shipped wholly above
    ((0.8, 0.75, 0.85), (0.6, 0.54, 0.66), "B"),    # a larger endpoint that routes
    ((0.58, 0.50, 0.66), (0.6, 0.54, 0.66), "C"),   # overlapping intervals
])
def test_the_interval_question_follows_the_learners_own_intervals(prompted, shipped, letter, tmp_path, monkeypatch):
    _store(tmp_path, monkeypatch, *_chapter_records(prompted=prompted, shipped=shipped))
    assert concepts.right_answer(QUIZZES["02"].questions[2]) == letter


def test_an_empty_store_says_which_chapter_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))
    answers = {q.key: q.answer for q in QUIZZES["01"].questions if q.answer} | {"q3": 12}
    result = checks.understanding("01", answers)
    assert result.status == "fail" and "run chapter 01" in str(result), str(result)
    with pytest.raises(LookupError, match="run chapter 02"):
        concepts.right_answer(QUIZZES["02"].questions[2])
    concepts.show("05")
    assert "run chapter 05" in capsys.readouterr().out


# --- the check's other outcomes ------------------------------------------------------------------------


def test_the_stub_and_an_untouched_template_are_not_attempted():
    assert checks.understanding("05", ...).status == "todo"
    untouched = checks.understanding("05", {q.key: "?" for q in QUIZZES["05"].questions})
    assert untouched.status == "todo" and "Exercise 5.4 not attempted" in str(untouched)


def test_partial_answers_say_which_are_missing_and_misuse_says_what_to_type():
    result = checks.understanding("00", {"q1": "c", "q7": "A"})  # lower case is accepted
    text = str(result)
    assert result.status == "fail" and "right answers: 1 of 4" in text
    assert "q2 … not answered yet" in text and "q7 ✗ is not a question of chapter 00" in text
    with pytest.raises(TypeError, match="answers must be a dict"):
        checks.understanding("00", ["C", "A"])
    with pytest.raises(ValueError, match="Chapters with questions: 00, 01"):
        checks.understanding("10", {})
    assert "not one of the letters" in str(checks.understanding("00", {"q1": "E"}))


def test_under_the_test_run_a_wrong_answer_raises(monkeypatch):
    monkeypatch.setenv(checks.STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed):
        checks.understanding("09", {q.key: "A" for q in QUIZZES["09"].questions})
