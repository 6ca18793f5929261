"""The course as a readable site: every chapter with the outputs `make test` produced, offline (`make site`).

    build_site(executed, out)   render build/executed/NN_name.ipynb into out/NN_name.html plus out/index.html
    check_site(out)             what is wrong with a built site: pages missing or without outputs,
                                tracebacks, links that lead nowhere, scripts or styles from the internet
    python -m aieng.site        both, as `make site` runs them (--allow-missing builds what is there)

The notebooks are the ones nbval executed during `make test` (aieng/executed_plugin.py keeps them), so
nothing runs twice. Why nbconvert: Jupyter Book 2 (mystmd) downloads its site theme from the theme
service and GitHub when it builds, neither of which a course machine may reach (PyPI, Debian and npm only);
Jupyter Book 1 builds offline but adds the whole Sphinx stack to requirements.txt. nbconvert is installed
already (JupyterLab needs it) and renders executed notebooks with their outputs and plots; this module
adds the course map, previous/next links and local copies of the scripts that draw diagrams (mermaid) and
formulas (MathJax), fetched once from the npm registry (aieng/web_assets.py).
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat

from aieng import course_map, web_assets
from aieng.executed_plugin import EXECUTED_DIR, METADATA_KEY
from aieng.files import ROOT, shown, write_atomic

__all__ = ["SITE_DIR", "SiteBuild", "PageFacts", "read_page", "missing_message", "build_site", "check_page",
           "check_site", "rewrite_links", "main"]

SITE_DIR = ROOT / "build" / "site"
_TEMPLATES = ROOT / "aieng" / "templates"  # the nbconvert templates of the pages
_TRACEBACK = ("Traceback (most recent call last)", "\x1b[", "&#27;[", "&#x1b;[")
_LINK = re.compile(r'\b(?P<attr>href|src)="(?P<url>[^"]*)"')
_REMOTE_CSS = re.compile(r"""(?:@import\s+|url\()\s*["']?(?:https?:)?//[^)"';\s]*""")
_REMOTE_IMPORT = re.compile(r"""(?:@import\s+(?:url\()?|import\s*\(?)\s*["']?(?:https?:)?//""")


@dataclass(frozen=True)
class SiteBuild:
    """What `build_site` made: the folder, the chapter pages written, and a message per chapter left out."""

    out_dir: Path
    pages: tuple[Path, ...]
    missing: tuple[str, ...]


# One chapter with the plugin that keeps it: tests/conftest.py, which registers it, loads only when tests/ is run.
_RUN_ONE = "AIENG_CHECKS_STRICT=1 .venv/bin/python -m pytest -p aieng.executed_plugin --nbval-lax solutions/{file}"


def missing_message(chapter: course_map.Chapter, executed: Path) -> str:
    """Why a chapter has no executed copy in `executed`, and the command that makes one."""
    failed = (executed / chapter.file).with_suffix(".failed.txt")
    if failed.exists():
        return failed.read_text(encoding="utf-8").strip()
    return (f"{chapter.file}: no executed copy in {shown(executed)}/. Run `make test` (it executes every chapter), "
            f"or this chapter alone: {_RUN_ONE.format(file=chapter.file)}")


def _page(chapter: course_map.Chapter) -> str:
    """The page a chapter's notebook becomes: 05_rag.ipynb -> 05_rag.html."""
    return chapter.file.replace(".ipynb", ".html")


def _ran_line(notebook: nbformat.NotebookNode) -> str:
    ran = notebook.metadata.get(METADATA_KEY)
    if not ran:
        return "Outputs as saved in the notebook."
    return (f"Executed by the test run on {ran.get('at', '?')} · backend {ran.get('backend', '?')} · "
            f"commit {ran.get('commit', '?')}")


def _ran_short(notebook: nbformat.NotebookNode) -> str:
    ran = notebook.metadata.get(METADATA_KEY)
    return f"{ran.get('at', '?')} · {ran.get('backend', '?')}" if ran else "outputs as saved"


def _stale(notebook: nbformat.NotebookNode, chapter: course_map.Chapter) -> bool:
    """True when solutions/ holds a different version of the chapter than the one that was executed."""
    source = ROOT / "solutions" / chapter.file
    if not source.exists():
        return False
    current = nbformat.read(source, as_version=4)
    return [c.source for c in current.cells] != [c.source for c in notebook.cells]


def rewrite_links(page: str, out_dir: Path, chapter_files: dict[str, str]) -> str:
    """`page` with links between chapters pointing at their pages (`chapter_files`: notebook name -> page name)
    and links to other course files pointing at copies made in out_dir/files/."""

    def rewrite(match: re.Match) -> str:
        url = match["url"]
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("_static/"):
            return match[0]
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        name = unquote(parts.path)
        if name in chapter_files:
            return f'{match["attr"]}="{chapter_files[name]}{fragment}"'
        target = (ROOT / "solutions" / name).resolve()
        if target.is_file() and ROOT in target.parents:
            relative = target.relative_to(ROOT)
            copy = out_dir / "files" / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, copy)
            return f'{match["attr"]}="files/{relative.as_posix()}{fragment}"'
        return match[0]  # left as written: check_site reports it if it leads nowhere

    return _LINK.sub(rewrite, page)


def _exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(_TEMPLATES)])
    exporter.template_file = "aieng_site.html.j2"
    return exporter


def _index_page(rows: list[tuple[course_map.Chapter, str | None, str]]) -> str:
    timed = [c.minutes for c, _, _ in rows if c.minutes]
    body = []
    for chapter, href, ran in rows:
        title = html.escape(chapter.title)
        link = f'<a href="{href}">{title}</a>' if href else f"{title} <em>(not built)</em>"
        minutes = chapter.minutes if chapter.minutes else course_map.TO_BE_TIMED
        body.append(f'<tr><td>{chapter.id}</td><td>{link}</td><td>{minutes}</td>'
                    f'<td class="run">{html.escape(ran)}</td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>AI-engineering workbook · the executed course</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }}
 table {{ border-collapse: collapse; width: 100%; }}
 td, th {{ border-bottom: 1px solid #ddd; padding: 0.4em; text-align: left; }}
 td:nth-child(3) {{ text-align: right; }} .run {{ color: #666; font-size: 0.9em; }}
</style></head>
<body><main>
<h1 id="course-map">AI-engineering workbook: the executed course</h1>
<p>Every chapter's solution notebook as the last test run executed it, with its outputs and plots.
Read a chapter's results here without running it; to work through it yourself, run <code>make lab</code>.</p>
<table><thead><tr><th>chapter</th><th>title</th><th>minutes</th><th>executed on · backend</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
<tfoot><tr><td></td><td>all chapters</td><td>{sum(timed)}</td><td></td></tr></tfoot></table>
</main></body></html>
"""


def build_site(executed: Path = ROOT / EXECUTED_DIR, out_dir: Path = SITE_DIR) -> SiteBuild:
    """Render every chapter's executed notebook in `executed` into `out_dir` (emptied first), with an index page.

    A chapter without an executed copy is left out of the pages and named in `missing`, with the command
    that makes it; the index lists it as not built. Scripts come from local copies (out_dir/_static/)."""
    executed, out_dir = Path(executed), Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    web_assets.copy_assets(out_dir, ("mermaid", "mathjax"))
    present = [c for c in course_map.CHAPTERS if (executed / c.file).exists()]
    pages_of = {c.file: _page(c) for c in course_map.CHAPTERS}
    exporter, pages, missing, rows = _exporter(), [], [], []
    for chapter in course_map.CHAPTERS:
        if chapter not in present:
            missing.append(missing_message(chapter, executed))
            rows.append((chapter, None, missing[-1]))
            continue
        notebook = nbformat.read(executed / chapter.file, as_version=4)
        at = present.index(chapter)
        neighbours = {name: {"href": pages_of[c.file], "label": c.label}
                      for name, c in (("prev", present[at - 1] if at else None),
                                      ("next", present[at + 1] if at + 1 < len(present) else None)) if c}
        ran = _ran_line(notebook)
        if _stale(notebook, chapter):
            ran += f" · solutions/{chapter.file} has changed since: run the tests again to refresh this page"
        resources = {"aieng": {"static": "_static", "ran": ran, **neighbours},
                     "metadata": {"name": chapter.label}}
        page, _ = exporter.from_notebook_node(notebook, resources=resources)
        target = out_dir / pages_of[chapter.file]
        write_atomic(target, rewrite_links(page, out_dir, pages_of))
        pages.append(target)
        rows.append((chapter, pages_of[chapter.file], _ran_short(notebook)))
    write_atomic(out_dir / "index.html", _index_page(rows))
    return SiteBuild(out_dir, tuple(pages), tuple(missing))


@dataclass
class PageFacts:
    """What a built page holds: element ids, local links (href/src), remote scripts or styles, output areas."""

    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    outputs_with_content: int = 0
    error_outputs: int = 0
    text: str = ""


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self._output_depth: list[int] = []  # tag depths at which an output area opened
        self._depth = 0
        self._output_has_content = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for key in ("id", "name"):
            if values.get(key) and (key == "id" or tag == "a"):
                self.facts.ids.add(values[key])
        for key in ("href", "src"):
            url = values.get(key, "")
            if not url:
                continue
            remote = bool(urlsplit(url).scheme in ("http", "https") or url.startswith("//"))
            if remote and (tag == "script" or (tag == "link" and "stylesheet" in values.get("rel", ""))
                           or tag in ("img", "iframe")):
                self.facts.remote.append(f"<{tag} {key}={url!r}>")
            elif not remote and not urlsplit(url).scheme:
                self.facts.links.append(url)
        if tag in ("img", "svg") and self._output_depth:
            self._output_has_content = True
        if "aieng-error" in values.get("class", "").split():
            self.facts.error_outputs += 1
        if tag not in ("br", "img", "meta", "link", "input", "hr", "source", "wbr", "area", "col", "embed"):
            self._depth += 1
            if "jp-OutputArea-output" in values.get("class", "").split():
                self._output_depth.append(self._depth)
                self._output_has_content = False

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "img", "meta", "link", "input", "hr", "source", "wbr", "area", "col", "embed"):
            return
        if self._output_depth and self._output_depth[-1] == self._depth:
            self._output_depth.pop()
            self.facts.outputs_with_content += self._output_has_content
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        self.facts.text += data
        if self._output_depth and data.strip():
            self._output_has_content = True


def read_page(page: Path) -> PageFacts:
    """The ids, local links, remote scripts and output areas with content of one built page."""
    raw = page.read_text(encoding="utf-8")
    parser = _PageParser()
    parser.feed(raw)
    parser.close()
    facts = parser.facts
    facts.remote += [f"remote import in {m[0]!r}" for m in _REMOTE_IMPORT.finditer(raw)]
    facts.text = raw  # tracebacks are searched in the raw page too (escaped ANSI codes)
    return facts


def check_page(page: Path, *, needs_outputs: bool, cache: dict[Path, PageFacts] | None = None,
               absent: frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with one built page: no output with content (when `needs_outputs`), a traceback,
    a remote script or style, a local link or anchor that leads nowhere (except to the pages named in
    `absent`, chapters a partial build left out). Empty when all is well."""
    cache = {} if cache is None else cache
    facts = cache.setdefault(page, read_page(page))
    problems = []
    if needs_outputs and not facts.outputs_with_content:
        problems.append(f"{page.name}: no output area with content (was the notebook executed?)")
    if facts.error_outputs:
        problems.append(f"{page.name}: shows {facts.error_outputs} error output(s) of a cell that failed")
    for marker in _TRACEBACK:
        if marker in facts.text:
            problems.append(f"{page.name}: shows a traceback or terminal error codes ({marker!r})")
            break
    problems += [f"{page.name}: loads {item} from the internet; use a local copy" for item in facts.remote]
    for link in facts.links:
        parts = urlsplit(link)
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists() and target.name not in absent:
            problems.append(f"{page.name}: link {link!r} leads nowhere ({shown(target)} does not exist)")
        elif target.suffix == ".css" and (remote := _REMOTE_CSS.search(target.read_text(errors="replace"))):
            problems.append(f"{page.name}: the style sheet {link!r} loads {remote[0]!r} from the internet")
        elif parts.fragment and target.suffix == ".html":
            facts_there = cache.setdefault(target, read_page(target))
            if not {parts.fragment, unquote(parts.fragment)} & facts_there.ids:  # as browsers look them up
                problems.append(f"{page.name}: link {link!r} names an anchor that {target.name} does not have")
    return problems


def check_site(out_dir: Path = SITE_DIR, chapters: tuple[course_map.Chapter, ...] = course_map.CHAPTERS) -> list[str]:
    """Everything wrong with the site in `out_dir`: the index or a page of `chapters` missing, and each page's
    problems. Chapters not in `chapters` may be absent (a partial build), and links to them are not reported."""
    out_dir = Path(out_dir)
    problems, cache = [], {}
    if not (out_dir / "index.html").exists():
        return [f"{shown(out_dir)}/index.html is missing: run `make site`"]
    absent = frozenset(_page(c) for c in course_map.CHAPTERS if c not in chapters)
    problems += check_page(out_dir / "index.html", needs_outputs=False, cache=cache, absent=absent)
    for chapter in chapters:
        page = out_dir / _page(chapter)
        if not page.exists():
            problems.append(f"{page.name} was not built (see the message of `make site`)")
        else:
            problems += check_page(page, needs_outputs=True, cache=cache, absent=absent)
    return problems


def main(argv: list[str] | None = None) -> int:
    """`make site`: build the site, say what is missing and what is wrong; exit 1 when either."""
    parser = argparse.ArgumentParser(prog="python -m aieng.site", description=main.__doc__)
    parser.add_argument("--executed", type=Path, default=ROOT / EXECUTED_DIR, help="folder of executed notebooks")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help="folder to write the site into (emptied first)")
    parser.add_argument("--allow-missing", action="store_true", help="build the chapters there are; exit 0")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    built = build_site(args.executed, args.out)
    for message in built.missing:
        print(f"missing: {message}", file=sys.stderr)
    built_chapters = tuple(c for c in course_map.CHAPTERS if (args.out / _page(c)).exists())
    problems = check_site(args.out, built_chapters if args.allow_missing else course_map.CHAPTERS)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"Site: {shown(args.out / 'index.html')} · {len(built.pages)} of {len(course_map.CHAPTERS)} chapters · "
          f"{time.perf_counter() - started:.1f} s")
    return 1 if problems or (built.missing and not args.allow_missing) else 0


if __name__ == "__main__":
    raise SystemExit(main())
