"""docs/glossary.md: terms sorted, each linked to a section that exists in the chapter it names.

Anchors are GitHub's heading slugs (lower case, punctuation dropped, spaces to hyphens), which the
Markdown renderers the course is read in (GitHub, MyST) also use."""

import re
from pathlib import Path

import nbformat
import pytest

from aieng.files import ROOT

GLOSSARY = ROOT / "docs" / "glossary.md"
LATER_CHAPTERS = {"06_agents.ipynb", "07_observability.ipynb", "08_fine_tuning.ipynb", "09_capstone.ipynb"}
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#([^)\s]+))?\)")
_TERM = re.compile(r"^### (.+)$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(notebook_path: Path) -> set[str]:
    notebook = nbformat.read(notebook_path, as_version=4)
    return {slug(m.group(1)) for cell in notebook.cells if cell.cell_type == "markdown"
            for m in re.finditer(r"^#{1,6}\s+(.+)$", cell.source, re.MULTILINE)}


def link_problems(markdown: str, base: Path) -> tuple[list[str], list[str]]:
    """(problems, later chapters not written yet) for every relative link in `markdown`, resolved from `base`."""
    problems, absent = [], []
    for target, anchor in _LINK.findall(markdown):
        if target.startswith(("http://", "https://")):
            continue
        path = (base / target).resolve()
        if not path.exists():
            (absent if path.name in LATER_CHAPTERS else problems).append(f"{target}: no such file")
        elif anchor and path.suffix == ".ipynb" and anchor not in anchors(path):
            problems.append(f"{target}#{anchor}: no heading with that anchor")
    return problems, sorted(set(absent))


def entries(markdown: str) -> list[tuple[str, str]]:
    """(term, text) for each `### term` entry."""
    parts = _TERM.split(markdown)
    return [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def test_slug_matches_githubs_anchors_for_the_course_headings():
    heading = "4 · Exercise 0.1: instructions in a system message"
    assert slug(heading) == "4--exercise-01-instructions-in-a-system-message"
    assert slug("Exercise 5.1: recall@k") == "exercise-51-recallk"


def test_terms_are_sorted_unique_and_each_linked_once():
    found = entries(GLOSSARY.read_text(encoding="utf-8"))
    terms = [term for term, _ in found]
    assert len(terms) >= 60, f"only {len(terms)} terms"
    assert terms == sorted(terms, key=str.casefold), [a for a, b in zip(terms, sorted(terms, key=str.casefold))
                                                       if a != b][:5]
    assert len({t.casefold() for t in terms}) == len(terms), "a term appears twice"
    unlinked = [term for term, text in found if len(re.findall(r"Taught in \[[^]]+\]\(", text)) != 1]
    assert not unlinked, f"terms without exactly one 'Taught in [..](..)' link: {unlinked}"


def test_every_link_names_an_existing_file_and_heading():
    problems, absent = link_problems(GLOSSARY.read_text(encoding="utf-8"), GLOSSARY.parent)
    assert not problems, problems
    if absent:
        print(f"chapters not in solutions/ yet, links not checked: {absent}")


def test_later_chapters_linked_from_the_glossary_exist():
    _, absent = link_problems(GLOSSARY.read_text(encoding="utf-8"), GLOSSARY.parent)
    if absent:
        pytest.skip(f"not in solutions/ yet: {', '.join(absent)}")


def test_a_broken_anchor_a_missing_file_and_unsorted_terms_are_caught(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    bad = ("### Zebra\n\nTaught in [x](../solutions/00_setup.ipynb#no-such-section).\n\n"
           "### Apple\n\nTaught in [y](../solutions/99_nothing.ipynb).\n")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "00_setup.ipynb").write_text(
        nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## 1 · Connect")])))
    problems, absent = link_problems(bad, docs)
    assert problems == ["../solutions/00_setup.ipynb#no-such-section: no heading with that anchor",
                        "../solutions/99_nothing.ipynb: no such file"] and absent == []
    terms = [t for t, _ in entries(bad)]
    assert terms != sorted(terms, key=str.casefold)
