"""Slides (`make slides`, aieng/slides.py): slide choices applied outside the notebooks, decks that work offline.

The choices and the checker are tested on small notebooks, good and known-bad; marked `site`, the decks
`make slides` built after `make test` executed the chapters (`pytest -m site`, like tests/test_site.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from aieng import course_map, slides
from aieng.files import ROOT

CHOICES = slides.SlideChoices(max_code_lines=3, max_output_lines=2, max_cells_per_slide=3, min_slides=2,
                              skip_cells={"05": ("c-skip",)})


def deck_notebook(title: str = "# 05 · A chapter") -> nbformat.NotebookNode:
    cells = [new_markdown_cell(f"{title}\nWhat you will do."),
             new_code_cell("x = 1"),
             new_markdown_cell("Some words first.\n\n## 1 · Setup\nThe setup.\n```python\n# not a heading\n```"),
             new_code_cell("\n".join(f"line_{n} = {n}" for n in range(6))),
             new_markdown_cell("### Exercise 1.1"),
             new_code_cell("print(x)"), new_code_cell("x"), new_code_cell("x + 1"), new_code_cell("x + 2"),
             new_markdown_cell("## 2 · Results"),
             new_code_cell("y = 2")]
    cells[-1]["id"] = "c-skip"
    cells[5].outputs = [new_output("stream", name="stdout", text="a\nb\nc\nd\n")]
    cells[6].outputs = [new_output("error", ename="E", evalue="e", traceback=["Traceback (most recent call last)"])]
    return new_notebook(cells=cells)


def test_headings_start_slides_long_cells_are_cut_and_the_notebook_is_left_as_it_was():
    notebook = deck_notebook()
    before = nbformat.writes(notebook)
    marked = slides.mark_slides(notebook, CHOICES, "05")
    assert nbformat.writes(notebook) == before
    kinds = [(c.cell_type, c.metadata.slideshow["slide_type"], c.source.splitlines()[0]) for c in marked.cells]
    assert kinds == [
        ("markdown", "slide", "# 05 · A chapter"), ("code", "-", "x = 1"),
        ("markdown", "-", "Some words first."), ("markdown", "slide", "## 1 · Setup"),  # cut before its heading
        ("code", "-", "line_0 = 0"), ("markdown", "subslide", "### Exercise 1.1"),
        ("code", "-", "print(x)"), ("code", "-", "x"), ("code", "subslide", "x + 1"),  # 3 cells on a slide, then on
        ("code", "-", "x + 2"), ("markdown", "slide", "## 2 · Results"), ("code", "skip", "y = 2")]
    assert "# not a heading" in marked.cells[3].source  # a comment in a code fence is no heading
    assert marked.cells[4].source.splitlines()[-1] == "… 3 more lines of code: see the notebook or the site"
    assert marked.cells[6].outputs[0].text.splitlines() == ["a", "b", "… 2 more lines of output: see the notebook or "
                                                            "the site"]
    assert marked.cells[7].outputs == []  # a traceback never reaches a slide


def test_the_choices_file_loads_and_an_unknown_key_is_refused(tmp_path):
    choices = slides.load_choices()
    assert choices.slide_levels == (1, 2) and choices.min_slides >= 1
    bad = tmp_path / "slides.toml"
    bad.write_text('slide_levels = [1]\nmax_lines = 3\n[chapters."05"]\nskip_cells = ["a"]\n')
    with pytest.raises(ValueError, match="unknown key.*max_lines"):
        slides.load_choices(bad)
    bad.write_text('slide_levels = [1]\n[chapters."05"]\nskip_cells = ["a"]\n')
    assert slides.load_choices(bad).skip_cells == {"05": ("a",)}


def test_count_slides_counts_top_level_sections_only(tmp_path):
    deck = tmp_path / "d.html"
    deck.write_text("<div class='slides'><section><section>a</section><section>b</section></section>"
                    "<section>c</section></div>")
    assert slides.count_slides(deck) == 2


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Path:
    """Decks of every chapter from small notebooks: chapters 00-04 executed, the rest from solutions/ copies."""
    root = tmp_path_factory.mktemp("slides")
    for folder, chapters in (("executed", course_map.CHAPTERS[:5]), ("solutions", course_map.CHAPTERS)):
        (root / folder).mkdir()
        for chapter in chapters:
            notebook = deck_notebook(f"# {chapter.label}")
            notebook.cells.append(new_markdown_cell("[Next](09_capstone.ipynb) · [data](../data/README.md)"))
            nbformat.write(notebook, root / folder / chapter.file)
    built = slides.build_slides(root / "out", root / "executed", root / "solutions", CHOICES)
    assert built.without_outputs == tuple(c.file for c in course_map.CHAPTERS[5:])
    return root / "out"


def test_every_chapter_gets_a_deck_with_reveal_js_from_the_local_copy(decks):
    assert slides.check_slides(decks, CHOICES) == []
    for chapter in course_map.CHAPTERS:
        text = (decks / chapter.file.replace(".ipynb", ".slides.html")).read_text(encoding="utf-8")
        assert 'src="_static/reveal.js/dist/reveal.js"' in text and 'href="_static/reveal.js/dist/reveal.css"' in text
        assert 'href="09_capstone.slides.html"' in text and 'href="files/data/README.md"' in text
        for word in ("unpkg", "cdnjs", "jsdelivr", "require.min.js", "jquery"):
            assert word not in text
    assert (decks / "_static/reveal.js/dist/reveal.js").stat().st_size > 10_000
    assert (decks / "_static/reveal.js/plugin/notes/notes.js").exists()
    assert "(no outputs: not executed yet)" in (decks / "index.html").read_text(encoding="utf-8")


def test_a_short_deck_a_remote_reveal_and_a_missing_deck_are_rejected(decks, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(decks, bad)
    cdn = bad / "02_prompting.slides.html"
    cdn.write_text(cdn.read_text(encoding="utf-8").replace('src="_static/reveal.js/dist/reveal.js"',
                                                           'src="https://unpkg.com/reveal.js@5/dist/reveal.js"'))
    (bad / "07_observability.slides.html").unlink()
    theme = bad / "_static/reveal.js/dist/theme/white.css"
    theme.write_text("@import url(https://fonts.googleapis.com/css?family=News+Cycle);\n" + theme.read_text())
    strict = slides.SlideChoices(min_slides=50)
    problems = slides.check_slides(bad, strict)
    assert "07_observability.slides.html was not built: run `make slides`" in problems
    assert "02_prompting.slides.html: does not load reveal.js from _static/reveal.js/" in problems
    assert any(p.startswith("02_prompting.slides.html: loads <script src='https://unpkg.com") for p in problems)
    assert any(p.startswith("00_setup.slides.html:") and "not more than 50" in p for p in problems)
    assert ("00_setup.slides.html: the style sheet '_static/reveal.js/dist/theme/white.css' loads "
            "'url(https://fonts.googleapis.com/css?family=News+Cycle' from the internet") in problems


@pytest.mark.site
@pytest.mark.slow
def test_the_built_decks_have_every_chapter_enough_slides_and_local_reveal_js():
    executed = ROOT / "build" / "executed"
    if not (slides.SLIDES_DIR / "index.html").exists():
        pytest.fail("build/slides/ has not been built: run `make slides`")
    newest_run = max((p.stat().st_mtime for p in executed.glob("*.ipynb")), default=0)
    assert (slides.SLIDES_DIR / "index.html").stat().st_mtime >= newest_run, \
        "build/slides/ is older than the executed notebooks: run `make slides`"
    assert slides.check_slides() == []
