"""Slides of every chapter, built from its notebook with `nbconvert --to slides` (`make slides`).

    load_choices(path)             the slide choices in docs/instructor/slides.toml
    mark_slides(nb, choices, id)   a copy of the notebook with slide types set and long cells cut
    build_slides(out)              out/NN_name.slides.html for every chapter, out/index.html, local reveal.js
    check_slides(out)              what is wrong: a deck missing or too short, reveal.js not local, remote scripts
    python -m aieng.slides         both, as `make slides` runs them

Which notebook: the executed copy the test run kept (build/executed/, see aieng/executed_plugin.py), so
the slides show real outputs; when a chapter has none yet, its solution notebook without outputs, and the
command says so. The slide choices live in docs/instructor/slides.toml, not in the notebooks, so editing
a chapter never fights with its slides: a heading starts a slide, long code and outputs are cut.
reveal.js (and mermaid, MathJax) are copied beside the decks from pinned npm tarballs (aieng/web_assets.py).
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from aieng import course_map, web_assets
from aieng.executed_plugin import EXECUTED_DIR
from aieng.files import ROOT, shown, write_atomic
from aieng.site import check_page, rewrite_links

__all__ = ["SLIDES_DIR", "CHOICES", "SlideChoices", "load_choices", "mark_slides", "SlidesBuild", "build_slides",
           "count_slides", "check_slides", "main"]

SLIDES_DIR = ROOT / "build" / "slides"
CHOICES = ROOT / "docs" / "instructor" / "slides.toml"
_TEMPLATES = ROOT / "aieng" / "templates"  # the nbconvert templates of the decks
_HEADING = re.compile(r"^\s*(#{1,6})\s")


@dataclass(frozen=True)
class SlideChoices:
    """How notebooks become slides: heading levels that start slides and sub-slides, cut-offs, cells to skip."""

    slide_levels: tuple[int, ...] = (1, 2)
    subslide_levels: tuple[int, ...] = (3,)
    max_code_lines: int = 14
    max_output_lines: int = 10
    max_html_chars: int = 4000
    max_cells_per_slide: int = 4
    min_slides: int = 5
    skip_cells: dict[str, tuple[str, ...]] = field(default_factory=dict)  # chapter id -> cell ids


def load_choices(path: Path = CHOICES) -> SlideChoices:
    """The slide choices in `path` (TOML); a key left out keeps its default."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    chapters = raw.pop("chapters", {})
    known = set(SlideChoices.__dataclass_fields__) - {"skip_cells"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{shown(path)}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"the keys are {', '.join(sorted(known))} and [chapters.\"NN\"] skip_cells.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    skips = {str(cid): tuple(spec.get("skip_cells", ())) for cid, spec in chapters.items()}
    return SlideChoices(**values, skip_cells=skips)


def _cut(text: str, limit: int, what: str) -> str:
    lines = text.splitlines()
    if len(lines) <= limit:
        return text
    return "\n".join(lines[:limit] + [f"… {len(lines) - limit} more lines of {what}: see the notebook or the site"])


def _cut_outputs(outputs: list, choices: SlideChoices) -> list:
    kept = []
    for out in outputs:
        if out.output_type == "stream":
            out.text = _cut(out.text, choices.max_output_lines, "output")
        elif out.output_type in ("execute_result", "display_data"):
            data = out.get("data", {})
            if len(data.get("text/html", "")) > choices.max_html_chars and "text/plain" in data:
                data.pop("text/html")
            if "text/plain" in data and not any(k.startswith("image/") or k == "text/html" for k in data):
                data["text/plain"] = _cut(data["text/plain"], choices.max_output_lines, "output")
        elif out.output_type == "error":
            continue  # a deck never shows a traceback; the site and the tests report failing cells
        kept.append(out)
    return kept


def _split_at_headings(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """A Markdown cell cut before each heading it holds (outside code fences), so each heading can open a slide."""
    parts, current, fenced = [], [], False
    for line in cell.source.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and _HEADING.match(line) and any(x.strip() for x in current):
            parts.append(current)
            current = []
        current.append(line)
    parts.append(current)
    pieces = []
    for number, lines in enumerate(parts):
        piece = copy.deepcopy(cell)
        piece.source = "\n".join(lines).strip("\n")
        if number:
            piece.id = f"{cell.get('id', 'cell')}-{number}"
        pieces.append(piece)
    return pieces


def mark_slides(notebook: nbformat.NotebookNode, choices: SlideChoices, chapter_id: str = "") -> nbformat.NotebookNode:
    """A copy of `notebook` with each cell's slide type set by `choices` and long code or outputs cut.

    Markdown cells are first cut before each heading they hold; a slide that reaches `max_cells_per_slide`
    cells goes on in a sub-slide."""
    marked = copy.deepcopy(notebook)
    marked.cells = [piece for cell in marked.cells
                    for piece in (_split_at_headings(cell) if cell.cell_type == "markdown" else [cell])]
    skip = set(choices.skip_cells.get(chapter_id, ()))
    on_slide = 0
    for number, cell in enumerate(marked.cells):
        slide_type = "slide" if number == 0 else "-"
        heading = _HEADING.match(cell.source) if cell.cell_type == "markdown" else None
        if heading and number:
            level = len(heading.group(1))
            slide_type = ("slide" if level in choices.slide_levels
                          else "subslide" if level in choices.subslide_levels else "-")
        if cell.get("id") in skip:
            slide_type = "skip"
        elif slide_type == "-" and on_slide >= choices.max_cells_per_slide:
            slide_type = "subslide"
        on_slide = 1 if slide_type in ("slide", "subslide") else on_slide + (slide_type != "skip")
        if cell.cell_type == "code":
            cell.source = _cut(cell.source, choices.max_code_lines, "code")
            cell.outputs = _cut_outputs(cell.outputs, choices)
        cell.metadata["slideshow"] = {"slide_type": slide_type}
    return marked


@dataclass(frozen=True)
class SlidesBuild:
    """What `build_slides` made: the folder, the decks, and the chapters shown without outputs."""

    out_dir: Path
    decks: tuple[Path, ...]
    without_outputs: tuple[str, ...]


def _deck(chapter: course_map.Chapter) -> str:
    return chapter.file.replace(".ipynb", ".slides.html")


def build_slides(out_dir: Path = SLIDES_DIR, executed: Path = ROOT / EXECUTED_DIR,
                 solutions: Path = ROOT / "solutions", choices: SlideChoices | None = None) -> SlidesBuild:
    """Write a reveal.js deck per chapter into `out_dir` (emptied first), from its executed notebook when there is
    one, else from its solution notebook without outputs; reveal.js and friends are copied into out_dir/_static."""
    from nbconvert import SlidesExporter

    choices = choices or load_choices()
    out_dir, executed, solutions = Path(out_dir), Path(executed), Path(solutions)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    static = web_assets.copy_assets(out_dir, ("reveal.js", "mermaid", "mathjax"))
    exporter = SlidesExporter(template_name="reveal", extra_template_paths=[str(_TEMPLATES)],
                              reveal_url_prefix=static["reveal.js"], reveal_theme="white")  # its fonts ship with it
    exporter.template_file = "aieng_slides.html.j2"
    decks, without, rows = [], [], []
    decks_of = {c.file: _deck(c) for c in course_map.CHAPTERS}
    for chapter in course_map.CHAPTERS:
        source = executed / chapter.file
        if not source.exists():
            source = solutions / chapter.file
            without.append(chapter.file)
        notebook = mark_slides(nbformat.read(source, as_version=4), choices, chapter.id)
        page, _ = exporter.from_notebook_node(notebook, resources={"aieng": {"static": "_static"},
                                                                   "metadata": {"name": chapter.label}})
        target = write_atomic(out_dir / _deck(chapter), rewrite_links(page, out_dir, decks_of))
        decks.append(target)
        rows.append(f'<li><a href="{target.name}">{html.escape(chapter.label)}</a>'
                    + (" (no outputs: not executed yet)" if chapter.file in without else "") + "</li>")
    write_atomic(out_dir / "index.html", "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>Slides · AI-engineering workbook</title></head><body><main><h1>Slides</h1>\n"
                 "<p>One deck per chapter; arrow keys move, S opens the speaker view.</p>\n<ul>\n"
                 + "\n".join(rows) + "\n</ul></main></body></html>\n")
    return SlidesBuild(out_dir, tuple(decks), tuple(without))


def count_slides(deck: Path) -> int:
    """How many top-level slides (`<section>` directly inside `div.slides`) a built deck has."""
    raw = deck.read_text(encoding="utf-8")
    depth, top = 0, 0
    for tag in re.finditer(r"<(/?)section\b", raw):
        if tag.group(1):
            depth -= 1
        else:
            top += depth == 0
            depth += 1
    return top


def check_slides(out_dir: Path = SLIDES_DIR, choices: SlideChoices | None = None) -> list[str]:
    """Everything wrong with the decks in `out_dir`: a chapter's deck missing or with too few slides, reveal.js
    not loaded from the local copy, a remote script or style, a link that leads nowhere, a traceback."""
    choices = choices or load_choices()
    out_dir = Path(out_dir)
    problems = []
    for chapter in course_map.CHAPTERS:
        deck = out_dir / _deck(chapter)
        if not deck.exists():
            problems.append(f"{deck.name} was not built: run `make slides`")
            continue
        slides = count_slides(deck)
        if slides <= choices.min_slides:
            problems.append(f"{deck.name}: {slides} slides, not more than {choices.min_slides} "
                            "(do its Markdown headings match slide_levels in docs/instructor/slides.toml?)")
        if 'src="_static/reveal.js/dist/reveal.js"' not in deck.read_text(encoding="utf-8"):
            problems.append(f"{deck.name}: does not load reveal.js from _static/reveal.js/")
        problems += check_page(deck, needs_outputs=False)
    return problems


def main(argv: list[str] | None = None) -> int:
    """`make slides`: build every chapter's deck, say which have no outputs yet, report problems (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m aieng.slides", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=SLIDES_DIR, help="folder to write the decks into (emptied first)")
    parser.add_argument("--executed", type=Path, default=ROOT / EXECUTED_DIR, help="folder of executed notebooks")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    built = build_slides(args.out, args.executed)
    if built.without_outputs:
        print(f"without outputs (no executed copy in {shown(args.executed)}/; `make test` makes them): "
              f"{', '.join(built.without_outputs)}", file=sys.stderr)
    problems = check_slides(args.out)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"Slides: {shown(args.out / 'index.html')} · {len(built.decks)} decks · "
          f"{time.perf_counter() - started:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
