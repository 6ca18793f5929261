"""The course site (`make site`, aieng/site.py) and the plugin that keeps the executed notebooks it is built from.

Three layers: the checker on small built sites, good and known-bad (no kernel); the plugin under a real
nbval run of a small notebook in a scratch folder (starts a kernel, no model: `slow`); and, marked `site`,
the real site that `make site` built from the chapters `make test` executed (deselected in the main run,
which has not executed the chapters yet when tests/ runs: `pytest -m site` after `make site slides`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from aieng import course_map, site
from aieng.executed_plugin import METADATA_KEY, executed_notebook
from aieng.files import ROOT

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def chapter_notebook(chapter: course_map.Chapter, *, outputs: bool = True, extra: list | None = None):
    """A small executed chapter: title with a formula and a mermaid diagram, a printed line, a plot, a section."""
    cells = [new_markdown_cell(f"# {chapter.label}\nThe score $p_o$.\n\n```mermaid\nflowchart LR\n  a --> b\n```\n"
                               "Jump to [the plot](#A-plot)."),
             new_code_cell("print('hello')"),
             new_markdown_cell("## A plot"),
             new_code_cell("plot()")]
    cells += extra or []
    notebook = new_notebook(cells=cells)
    results = {0: [new_output("stream", name="stdout", text="hello\n")],
               1: [new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]} if outputs else {}
    return executed_notebook(notebook, results, {"at": "2026-01-01 00:00 UTC", "backend": "test", "commit": "abc"})


def write_chapters(folder: Path, skip: tuple[str, ...] = (), **changes) -> Path:
    """Executed copies of every chapter in `folder`; `changes` maps a chapter id to a notebook to use instead."""
    folder.mkdir(parents=True, exist_ok=True)
    for chapter in course_map.CHAPTERS:
        if chapter.id not in skip:
            notebook = changes.get(f"c{chapter.id}") or chapter_notebook(chapter)
            nbformat.write(notebook, folder / chapter.file)
    return folder


def built(tmp_path: Path, **kwargs) -> tuple[site.SiteBuild, list[str]]:
    result = site.build_site(write_chapters(tmp_path / "executed", **kwargs), tmp_path / "site")
    return result, site.check_site(tmp_path / "site", tuple(c for c in course_map.CHAPTERS
                                                            if c.id not in kwargs.get("skip", ())))


def test_a_good_site_has_every_chapter_navigation_and_local_scripts_only(tmp_path):
    result, problems = built(tmp_path)
    assert problems == []
    assert result.missing == ()
    out = tmp_path / "site"
    pages = [out / c.file.replace(".ipynb", ".html") for c in course_map.CHAPTERS]
    assert list(result.pages) == pages
    for at, page in enumerate(pages):
        text = page.read_text(encoding="utf-8")
        assert ('rel="prev"' in text) == (at > 0) and ('rel="next"' in text) == (at < len(pages) - 1)
        if at:
            assert f'href="{pages[at - 1].name}" rel="prev"' in text
        assert 'src="_static/mermaid/dist/mermaid.min.js"' in text and "_static/mathjax/es5/tex-svg-full.js" in text
        assert "Executed by the test run on 2026-01-01 00:00 UTC" in text
        assert "data:image/png;base64," in text  # plots are embedded in the page
        for word in ("cdnjs", "unpkg", "jsdelivr", "require.min.js"):
            assert word not in text
    index = (out / "index.html").read_text(encoding="utf-8")
    for chapter in course_map.CHAPTERS:
        assert f'href="{chapter.file.replace(".ipynb", ".html")}"' in index
        assert f"<td>{chapter.minutes}</td>" in index
    assert f"<td>{sum(c.minutes for c in course_map.CHAPTERS if c.minutes)}</td>" in index
    assert (out / "_static/mermaid/dist/mermaid.min.js").stat().st_size > 100_000


def test_links_between_chapters_and_to_course_files_resolve(tmp_path):
    nav = new_markdown_cell("← [00](00_setup.ipynb) · [the data card](../data/README.md) · "
                            "[09, its recap](09_capstone.ipynb#A-plot)")
    result, problems = built(tmp_path, c05=chapter_notebook(course_map.chapter("05"), extra=[nav]))
    assert problems == []
    page = (tmp_path / "site" / "05_rag.html").read_text(encoding="utf-8")
    assert 'href="00_setup.html"' in page and 'href="09_capstone.html#A-plot"' in page
    assert 'href="files/data/README.md"' in page and (tmp_path / "site/files/data/README.md").exists()


def test_a_page_with_a_traceback_is_rejected(tmp_path):
    chapter = course_map.chapter("03")
    notebook = chapter_notebook(chapter)
    notebook.cells[1].outputs.append(new_output(
        "error", ename="ValueError", evalue="bad",
        traceback=["\x1b[0;31m---------\x1b[0m", "\x1b[0;31mValueError\x1b[0m  Traceback (most recent call last)"]))
    syntax = chapter_notebook(course_map.chapter("04"))
    syntax.cells[1].outputs = [new_output("error", ename="SyntaxError", evalue="invalid syntax",
                                          traceback=["  Cell In[1], line 1", "    1 +", "SyntaxError: invalid syntax"])]
    _, problems = built(tmp_path, c03=notebook, c04=syntax)
    assert any(p.startswith("03_prototype.html: shows a traceback") for p in problems), problems
    assert "04_evals.html: shows 1 error output(s) of a cell that failed" in problems


def test_a_broken_link_and_a_missing_anchor_are_rejected(tmp_path):
    extra = [new_markdown_cell("See [the notes](no_such_notes.md) and [a section](#No-such-section).")]
    _, problems = built(tmp_path, c04=chapter_notebook(course_map.chapter("04"), extra=extra))
    assert any("04_evals.html: link 'no_such_notes.md' leads nowhere" in p for p in problems), problems
    assert any("'#No-such-section' names an anchor" in p for p in problems), problems
    assert all(p.startswith("04_evals.html") for p in problems)


def test_a_notebook_without_outputs_is_rejected(tmp_path):
    _, problems = built(tmp_path, c02=chapter_notebook(course_map.chapter("02"), outputs=False))
    assert problems == ["02_prompting.html: no output area with content (was the notebook executed?)"]


def test_a_script_from_the_internet_is_rejected(tmp_path):
    built(tmp_path)
    page = tmp_path / "site" / "01_ml_workflow.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</head>", '<script src="https://cdn.example.org/x.js"></script></head>'), encoding="utf-8")
    assert site.check_page(page, needs_outputs=True) == [
        "01_ml_workflow.html: loads <script src='https://cdn.example.org/x.js'> from the internet; use a local copy"]


def test_a_chapter_not_executed_is_named_with_the_command_that_executes_it(tmp_path):
    executed = write_chapters(tmp_path / "executed", skip=("06", "07"))
    (executed / "07_observability.failed.txt").write_text("07_observability.ipynb failed under nbval: Cell 3 (call).\n")
    result = site.build_site(executed, tmp_path / "site")
    assert len(result.pages) == 8
    assert "pytest -p aieng.executed_plugin --nbval-lax solutions/06_agents.ipynb" in result.missing[0]
    assert result.missing[1] == "07_observability.ipynb failed under nbval: Cell 3 (call)."
    assert "06_agents.html was not built (see the message of `make site`)" in site.check_site(tmp_path / "site")
    # the partial site holds together: 05 links on to 08, and nothing links to the pages left out
    assert site.check_site(tmp_path / "site", tuple(c for c in course_map.CHAPTERS if c.id not in ("06", "07"))) == []
    assert 'href="08_fine_tuning.html" rel="next"' in (tmp_path / "site/05_rag.html").read_text(encoding="utf-8")
    assert site.main(["--executed", str(executed), "--out", str(tmp_path / "site")]) == 1
    assert site.main(["--executed", str(executed), "--out", str(tmp_path / "site"), "--allow-missing"]) == 0


def test_a_download_that_does_not_match_its_pinned_checksum_is_refused(monkeypatch, tmp_path):
    from aieng import web_assets

    class Altered:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self) -> bytes:
            return b"not the mermaid tarball"

    monkeypatch.setattr(web_assets, "CACHE", tmp_path)
    monkeypatch.setattr(web_assets.urllib.request, "urlopen", lambda url, timeout: Altered())
    with pytest.raises(web_assets.AssetError, match="does not match its pinned checksum"):
        web_assets.fetch("mermaid")
    assert list(tmp_path.iterdir()) == []


# ---- the plugin, under a real nbval run (a kernel, no model) ----

def _run_nbval(root: Path, *args: str) -> subprocess.CompletedProcess:
    (root / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "aieng.executed_plugin", "--nbval-lax",
                           "-p", "no:cacheprovider", "-q", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def _source_notebook(path: Path, *, failing: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [new_markdown_cell("# 00 · A small chapter"), new_code_cell("print('hello from the kernel')"),
             new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"),
             new_code_cell("1 / 0" if failing else "6 * 7")]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), path)


@pytest.mark.slow
def test_the_plugin_keeps_a_solution_notebook_that_ran_in_full_with_its_outputs(tmp_path):
    _source_notebook(tmp_path / "solutions" / "00_small.ipynb")
    _source_notebook(tmp_path / "notebooks" / "00_small.ipynb")  # an exercise copy: never kept
    run = _run_nbval(tmp_path, "solutions/00_small.ipynb", "notebooks/00_small.ipynb")
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in (tmp_path / "build" / "executed").iterdir()) == ["00_small.ipynb"]
    kept = nbformat.read(tmp_path / "build" / "executed" / "00_small.ipynb", as_version=4)
    code = [c for c in kept.cells if c.cell_type == "code"]
    assert code[0].outputs[0].text == "hello from the kernel\n"
    assert "image/png" in code[1].outputs[0].data
    assert code[2].outputs[0].data["text/plain"] == "42" and [c.execution_count for c in code] == [1, 2, 3]
    assert set(kept.metadata[METADATA_KEY]) == {"at", "backend", "commit"}
    assert nbformat.read(tmp_path / "solutions" / "00_small.ipynb", as_version=4).cells[1].outputs == []


@pytest.mark.slow
def test_the_plugin_keeps_nothing_from_a_partial_run_and_removes_a_failed_chapter(tmp_path):
    _source_notebook(tmp_path / "solutions" / "00_small.ipynb", failing=True)
    kept = tmp_path / "build" / "executed" / "00_small.ipynb"
    kept.parent.mkdir(parents=True)
    kept.write_text("an older run")
    assert _run_nbval(tmp_path, "solutions/00_small.ipynb", "-k", "not 2").returncode == 0
    assert kept.read_text() == "an older run"  # cells picked: not a full run, nothing written
    assert _run_nbval(tmp_path, "solutions/00_small.ipynb").returncode == 1
    assert not kept.exists()
    assert "Cell 2 (call)" in kept.with_suffix(".failed.txt").read_text()


# ---- the real site, after `make test` executed the chapters and `make site` built it ----

@pytest.mark.site
@pytest.mark.slow
def test_the_built_site_has_every_chapter_with_outputs_links_that_resolve_and_no_traceback():
    executed = ROOT / "build" / "executed"
    missing = [site.missing_message(c, executed) for c in course_map.CHAPTERS if not (executed / c.file).exists()]
    assert not missing, "\n".join(missing)
    if not (site.SITE_DIR / "index.html").exists():
        pytest.fail("build/site/ has not been built: run `make site`")
    newest_run = max((executed / c.file).stat().st_mtime for c in course_map.CHAPTERS)
    assert (site.SITE_DIR / "index.html").stat().st_mtime >= newest_run, \
        "build/site/ is older than the executed notebooks: run `make site`"
    assert site.check_site() == []


# ---- in a browser: diagrams and formulas are drawn, slides start, and no request leaves the machine ----

@pytest.mark.slow
def test_in_a_browser_the_diagram_and_formula_render_and_nothing_is_fetched_from_the_network(tmp_path):
    from conftest import ci_skip

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        ci_skip(f"{chromium} is missing: install Debian's chromium (`make browser` does, as root) to run this test.")
    from playwright.sync_api import sync_playwright

    from aieng import slides

    built(tmp_path)
    slides.build_slides(tmp_path / "slides", tmp_path / "executed", tmp_path / "executed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto((tmp_path / "site" / "00_setup.html").as_uri())
            page.wait_for_selector(".jp-Mermaid svg", timeout=30_000)  # mermaid drew the flowchart
            page.wait_for_selector("mjx-container svg", timeout=30_000)  # MathJax typeset $p_o$
            page.goto((tmp_path / "slides" / "00_setup.slides.html").as_uri())
            page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=30_000)
            assert page.evaluate("Reveal.getTotalSlides()") >= 2
        finally:
            browser.close()
    remote = [url for url in requested if not url.startswith(("file:", "data:", "blob:"))]
    assert requested and remote == []
