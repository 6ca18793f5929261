import nbformat
import pytest

from aieng import exercises
from disk_full import disk_fills_after

SOLUTION_FN = '''def recall_at_k(ranked, gold, k):
    """Docstring stays."""
    # BEGIN SOLUTION
    return gold in ranked[:k]
    # END SOLUTION'''


def test_function_body_becomes_a_stub_that_returns_none():
    stub = exercises.strip_solutions(SOLUTION_FN, "5.1")
    assert "gold in ranked" not in stub and "Docstring stays." in stub
    assert "    ...  # Exercise 5.1: your code here" in stub
    namespace = {}
    exec(stub, namespace)
    assert namespace["recall_at_k"](["a"], "a", 1) is None


def test_top_level_assignments_become_named_stubs():
    source = "x = 1\n# BEGIN SOLUTION\nprompt = 'Classify: ' + x\nlabels, n = ['a'], 2\n# END SOLUTION\nprint(prompt)"
    stub = exercises.strip_solutions(source, "2.1")
    assert "prompt = ...  # Exercise 2.1: your code here" in stub
    assert "labels = ..." in stub and "n = ..." in stub and "print(prompt)" in stub


def test_unbalanced_markers_are_reported():
    with pytest.raises(ValueError, match="without"):
        exercises.strip_solutions("# BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="without"):
        exercises.strip_solutions("x = 1\n# END SOLUTION")


def test_exercise_number_comes_from_the_markdown_above():
    solution = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("### Exercise 3.2: do it"),
        nbformat.v4.new_code_cell("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION",
                                  outputs=[nbformat.v4.new_output("stream", text="1")], execution_count=3),
    ])
    copy = exercises.exercise_notebook(solution)
    assert "Exercise 3.2" in copy.cells[1].source
    assert copy.cells[1].outputs == [] and copy.cells[1].execution_count is None
    assert "return 1" in solution.cells[1].source  # the solution itself is untouched


def test_learner_notebooks_are_what_the_generator_writes_today():
    stale = exercises.stale_notebooks()
    assert not stale, f"notebooks/ is out of date for {stale}: run `make exercises` and commit the result."


def test_solution_notebooks_are_stored_without_outputs():
    for path in sorted((exercises.ROOT / "solutions").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        with_output = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not with_output, f"{path.name} has stored outputs in cells {with_output}: clear them before committing."


def test_every_solution_block_is_closed_and_every_notebook_has_one_exercise():
    for path in sorted((exercises.ROOT / "solutions").glob("*.ipynb")):
        source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert source.count(exercises.BEGIN) == source.count(exercises.END) >= 1, path.name


def test_a_name_the_cell_assigned_above_the_block_keeps_its_value():
    source = "MY_FILE = copy_for_learner()\n# BEGIN SOLUTION\nMY_FILE = 'answer.md'\nOTHER = 1\n# END SOLUTION\ncheck(MY_FILE)"
    stub = exercises.strip_solutions(source, "2.4")
    assert "answer.md" not in stub
    assert stub.splitlines() == ["MY_FILE = copy_for_learner()", "OTHER = ...  # Exercise 2.4: your code here",
                                 "check(MY_FILE)"]
    only_earlier = exercises.strip_solutions("A = 1\n# BEGIN SOLUTION\nA = 2\n# END SOLUTION", "2.4")
    assert only_earlier.splitlines() == ["A = 1", "# Exercise 2.4: your code here"]


def test_an_interrupted_write_leaves_the_previous_learner_copy_whole(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    solution = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SOLUTION_FN + "\n" + "# filler\n" * 400)])
    nbformat.write(solution, tmp_path / "solutions" / "01_x.ipynb")
    old = tmp_path / "notebooks" / "01_x.ipynb"
    old.write_text('{"the": "previous learner copy"}', encoding="utf-8")
    with pytest.raises(OSError), disk_fills_after(2000):
        exercises.write_all(tmp_path)
    assert old.read_text(encoding="utf-8") == '{"the": "previous learner copy"}'
    assert exercises.write_all(tmp_path) == [old] and exercises.stale_notebooks(tmp_path) == []
