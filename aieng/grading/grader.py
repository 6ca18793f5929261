"""Grade one take-home submission, or a folder of them: run, predict, test, score, report.

    from aieng import grading
    report = grading.grade("alice.ipynb", hidden_tests="hidden/", out="reports/alice")
    report.total, report.max_total, report.status
    table = grading.grade_folder("submissions/", hidden_tests="hidden/")

The steps, in order (docs/hiring.md explains why each is there):

1. The submission is read and hashed; it is never written to. A copy is the only file in a fresh
   run folder, and the notebook runs there in a fresh kernel under time and memory limits.
2. The files the notebook wrote to `submission/` are read back (regular files up to 5 MB, links skipped).
3. The hidden tickets' texts (no ids, no labels), in a second fresh folder, go through the
   submission's `triage(text)` in a fresh process under the same kind of limits.
4. Only now, with both runs over, are the hidden tests copied next to the predictions: the public
   tests and the hiring team's test files run with pytest, and the criteria are scored.
5. A report in Markdown and JSON goes to `out/`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from aieng.files import ROOT, read_jsonl
from aieng.grading import report as report_mod
from aieng.grading import sandbox, score, task

__all__ = ["SAMPLE_HIDDEN", "Report", "GradingError", "HiddenTests", "load_hidden", "grade", "grade_folder"]

SAMPLE_HIDDEN = ROOT / "assessment" / "hidden-tests-sample"
_MAX_FILE_BYTES = 5 * 2**20
_PYTEST_TIMEOUT_S = 60
_CONFTEST = '''"""Fixtures for the hiring team's tests, written by the grader (aieng/grading/grader.py)."""
import json, pathlib
import pandas as pd
import pytest

HERE = pathlib.Path(__file__).parent


@pytest.fixture(scope="session")
def predictions() -> pd.DataFrame:
    """One row per hidden ticket: id, text, gold_intent, gold_priority, intent, priority, error, ms."""
    return pd.DataFrame(json.loads((HERE / "predictions.json").read_text(encoding="utf-8")))
'''


class GradingError(Exception):
    """The grader cannot start: a missing submission or hidden-test folder, said with what to do."""


@dataclass(frozen=True)
class HiddenTests:
    """The hiring team's hidden tests, read into memory before any submission runs."""

    tickets: pd.DataFrame          # id, subject, body, intent (+ priority)
    test_files: dict[str, str]     # test_*.py by name
    source: Path
    is_sample: bool


@dataclass
class Report:
    """One graded submission: its status, a score per criterion, the evidence, and what a person must read."""

    submission: str
    sha256: str
    status: str
    criteria: list[score.Criterion]
    total: int
    max_total: int
    figures: dict[str, Any]
    run: dict[str, Any]
    problems: list[str]
    for_human: list[str]
    cell_outputs: list[dict[str, Any]] = field(default_factory=list)
    public_tests: dict[str, Any] = field(default_factory=dict)
    hidden_tests: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return {"submission": self.submission, "sha256": self.sha256, "status": self.status,
                "total": self.total, "max_total": self.max_total,
                "criteria": [{"name": c.name, "points": c.points, "max_points": c.max_points,
                              "checks": [vars(ch) for ch in c.checks]} for c in self.criteria],
                "figures": self.figures, "run": self.run, "problems": self.problems, "for_human": self.for_human,
                "public_tests": self.public_tests, "hidden_tests": self.hidden_tests,
                "cell_outputs": self.cell_outputs}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_hidden(folder: str | Path | None) -> HiddenTests:
    """Read the hidden tests (tickets.jsonl and any test_*.py); the repository's sample when `folder` is None."""
    source = Path(folder) if folder is not None else SAMPLE_HIDDEN
    tickets_path = source / "tickets.jsonl"
    if not tickets_path.is_file():
        raise GradingError(f"No hidden tickets at {tickets_path}. A hidden-test folder holds tickets.jsonl "
                           "(one labelled ticket per line, like data/assessment/tickets.jsonl) and optional "
                           "test_*.py files; see docs/hiring.md, 'Adding hidden tests'.")
    tickets = pd.DataFrame(read_jsonl(tickets_path))
    missing = {"id", "body", "intent"} - set(tickets.columns)
    if missing:
        raise GradingError(f"{tickets_path} lacks the field(s) {', '.join(sorted(missing))}; each line needs "
                           "id, subject, body and intent.")
    if "subject" not in tickets:
        tickets["subject"] = ""
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(source.glob("test_*.py"))}
    return HiddenTests(tickets=tickets, test_files=files, source=source.resolve(),
                       is_sample=source.resolve() == SAMPLE_HIDDEN.resolve())


def _collect_files(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    files, problems = {}, []
    if not folder.is_dir():
        return files, [f"the notebook wrote no {task.SUBMISSION_DIR}/ folder"]
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            problems.append(f"{task.SUBMISSION_DIR}/{rel} is a link; links are not followed")
        elif path.is_file():
            if path.stat().st_size > _MAX_FILE_BYTES:
                problems.append(f"{task.SUBMISSION_DIR}/{rel} is over 5 MB and was not read")
            else:
                files[rel] = path.read_bytes()
    return files, problems


def _leaks(hidden: HiddenTests, files: dict[str, bytes], outputs: list[dict[str, Any]]) -> list[str]:
    """Hidden ticket ids or body openings found in what the notebook wrote or printed."""
    haystack = "\n".join(o["text"] for o in outputs) + "\n".join(
        b.decode("utf-8", errors="replace") for b in files.values())
    found = []
    for ticket in hidden.tickets.to_dict("records"):
        opening = str(ticket["body"]).strip()[:60]
        ticket_id = str(ticket["id"])
        if (len(ticket_id) >= 5 and ticket_id in haystack) or (len(opening) >= 30 and opening in haystack):
            found.append(f"hidden ticket {ticket['id']} appears in the notebook's outputs or files")
    return found


def _write_files(files: dict[str, bytes], folder: Path) -> None:
    for rel, content in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _predict_hidden(files: dict[str, bytes], hidden: HiddenTests, base: Path,
                    limits: sandbox.Limits) -> tuple[pd.DataFrame | None, str, sandbox.RunResult | None]:
    if "pipeline.py" not in files:
        return None, f"no {task.SUBMISSION_DIR}/pipeline.py, so nothing to call on the hidden tickets", None
    work = base / "predict"
    work.mkdir()
    _write_files(files, work / task.SUBMISSION_DIR)
    texts = list(task.ticket_text(hidden.tickets))
    (work / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    run = sandbox.run_command([sys.executable, "-m", "aieng.grading.predict", task.SUBMISSION_DIR, "texts.json",
                               "predictions.json"], work, limits.predict_s, limits.memory_mb)
    out = work / "predictions.json"
    if run.status != "ok" or not out.is_file():
        return None, f"triage(text) on the hidden tickets: {run.status}: {run.message}", run
    try:
        rows = json.loads(out.read_text(encoding="utf-8"))
        if not isinstance(rows, list) or len(rows) != len(texts):
            raise ValueError(f"{len(rows) if isinstance(rows, list) else 'no'} rows for {len(texts)} tickets")
        table = pd.DataFrame(rows, columns=["intent", "priority", "error", "ms"])
    except ValueError as err:
        return None, f"the hidden predictions could not be read: {err}", run
    table.insert(0, "id", hidden.tickets["id"].to_numpy())
    table.insert(1, "text", texts)
    table.insert(2, "gold_intent", hidden.tickets["intent"].to_numpy())
    table.insert(3, "gold_priority", hidden.tickets.get("priority", pd.Series([None] * len(texts))).to_numpy())
    table["error"] = table["error"].fillna("").astype(str)
    table["ms"] = pd.to_numeric(table["ms"], errors="coerce").fillna(float("inf"))
    return table, "", run


def _pytest(folder: Path, env_extra: dict[str, str]) -> dict[str, Any]:
    """Run pytest on `folder`; {"passed", "total", "failed": [one-line messages]} from its JUnit XML."""
    import os
    import xml.etree.ElementTree as ET

    xml = folder / ".junit.xml"
    env = {**os.environ, **env_extra, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                        "--rootdir", str(folder), "-c", os.devnull, str(folder)],
                       cwd=folder, env=env, capture_output=True, timeout=_PYTEST_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"passed": 0, "total": 0, "failed": [f"the tests did not finish in {_PYTEST_TIMEOUT_S} s"]}
    if not xml.is_file():
        return {"passed": 0, "total": 0, "failed": ["pytest wrote no result"]}
    failed, total = [], 0
    for case in ET.parse(xml).getroot().iter("testcase"):
        total += 1
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            message = (bad.get("message") or bad.text or "").strip().splitlines()
            failed.append(f"{case.get('name')}: {message[0][:240] if message else 'failed'}")
    return {"passed": total - len(failed), "total": total, "failed": failed}


_SHIPPED_CACHE: dict[str, float] = {}


def _shipped_accuracy(hidden: HiddenTests) -> float:
    """The shipped router's accuracy on the hidden tickets, computed in the grader's own process (cached)."""
    key = hashlib.sha256(hidden.tickets.to_json().encode()).hexdigest()
    if key not in _SHIPPED_CACHE:
        from aieng import triage
        routes = triage.shipped_router().route(list(task.ticket_text(hidden.tickets)))
        _SHIPPED_CACHE[key] = float(sum(r.queue == g for r, g in zip(routes, hidden.tickets["intent"]))
                                    / len(hidden.tickets))
    return _SHIPPED_CACHE[key]


def _course_hashes() -> dict[str, str]:
    paths = [task.TICKETS_PATH, *sorted(task.PUBLIC_TESTS.glob("*.py"))]
    return {str(p.relative_to(ROOT)): _sha256(p) for p in paths if p.is_file()}


def grade(submission: str | Path, *, hidden_tests: str | Path | None = None, out: str | Path | None = None,
          limits: sandbox.Limits | None = None, hidden: HiddenTests | None = None) -> Report:
    """Grade one notebook; write report.md and report.json to `out` (default: <name>-report/ beside it).

    Starts processes (a Jupyter kernel, a predictor, pytest) and, when the submission asks for the
    bundled model, the course's model server. Raises GradingError only when grading cannot start."""
    path = Path(submission)
    if not path.is_file() or path.suffix != ".ipynb":
        raise GradingError(f"{path} is not a notebook file (.ipynb). Pass the candidate's notebook, or a folder "
                           "of them to grade them all.")
    limits = limits or sandbox.Limits()
    hidden = hidden or load_hidden(hidden_tests)
    out_dir = Path(out) if out is not None else path.with_name(f"{path.stem}-report")
    sha_before, course_before = _sha256(path), _course_hashes()
    public_test = task.load_tickets("test")
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="aieng-grade-"))
    try:
        run_dir = base / "run"
        run_dir.mkdir()
        problems: list[str] = []
        try:
            nbformat.validate(nbformat.read(path, as_version=4))
            shutil.copyfile(path, run_dir / "submission.ipynb")
            run = sandbox.run_notebook(run_dir / "submission.ipynb", run_dir, limits)
        except Exception as err:  # noqa: BLE001 - an unreadable notebook is the candidate's, reported
            run = sandbox.RunResult("unreadable", 0.0, 0.0, f"the notebook cannot be read: {str(err)[:300]}")
        outputs = sandbox.cell_outputs(run.notebook)
        files, file_problems = _collect_files(run_dir / task.SUBMISSION_DIR)
        problems += file_problems
        leaks = _leaks(hidden, files, outputs)
        shutil.rmtree(run_dir, ignore_errors=True)
        hidden_table, hidden_message, predict_run = _predict_hidden(files, hidden, base, limits)
        # The notebook's kernel and the predictor have exited: only now do any hidden tests reach the disk.
        public_dir = base / "public"
        shutil.copytree(task.PUBLIC_TESTS, public_dir, ignore=shutil.ignore_patterns("__pycache__"))
        _write_files(files, public_dir / task.SUBMISSION_DIR)
        public = _pytest(public_dir, {"AIENG_SUBMISSION_DIR": str(public_dir / task.SUBMISSION_DIR)})
        hidden_result = {"passed": 0, "total": 0, "failed": []}
        if hidden.test_files:
            if hidden_table is None:
                hidden_result["failed"] = [f"not run: {hidden_message}"]
                hidden_result["total"] = len(hidden.test_files)
            else:
                hidden_dir = base / "hidden"
                hidden_dir.mkdir()
                (hidden_dir / "conftest.py").write_text(_CONFTEST, encoding="utf-8")
                (hidden_dir / "predictions.json").write_text(hidden_table.to_json(orient="records"), encoding="utf-8")
                for name, text in hidden.test_files.items():
                    (hidden_dir / name).write_text(text, encoding="utf-8")
                hidden_result = _pytest(hidden_dir, {})
        evidence = score.Evidence(run_status=run.status, run_message=run.message, files=files,
                                  public_tests=public, hidden_tests=hidden_result, hidden=hidden_table,
                                  hidden_message=hidden_message, shipped_hidden_accuracy=_shipped_accuracy(hidden),
                                  public_test=public_test, leaks=leaks)
        criteria, file_findings = score.score_all(evidence)
        problems += file_findings
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if _sha256(path) != sha_before:
        problems.append("the submission file changed while it was graded (it is never written by the grader)")
    changed = [name for name, digest in _course_hashes().items() if course_before.get(name) != digest]
    if changed or set(course_before) != set(_course_hashes()):
        problems.append("the run changed or removed course files the grading reads: "
                        + ", ".join(changed or sorted(set(course_before) - set(_course_hashes()))))
    report = report_mod.build(path=path, sha256=sha_before, run=run, predict_run=predict_run, criteria=criteria,
                              problems=problems, leaks=leaks, files=files, outputs=outputs, public=public,
                              hidden_result=hidden_result, hidden_table=hidden_table, hidden=hidden,
                              shipped_accuracy=evidence.shipped_hidden_accuracy, seconds=time.monotonic() - started,
                              limits=limits, report_cls=Report)
    report_mod.write(report, out_dir)
    return report


def grade_folder(folder: str | Path, *, hidden_tests: str | Path | None = None, out: str | Path | None = None,
                 limits: sandbox.Limits | None = None) -> pd.DataFrame:
    """Grade every notebook in `folder` (each to out/<name>/) and write out/summary.md and summary.csv.

    Returns the summary table: one row per submission, its status, total and points per criterion."""
    folder = Path(folder)
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise GradingError(f"No .ipynb files in {folder}. Put one notebook per candidate there, named for them.")
    out_dir = Path(out) if out is not None else folder / "reports"
    hidden = load_hidden(hidden_tests)
    rows = []
    for notebook in notebooks:
        print(f"grading {notebook.name} …", flush=True)
        report = grade(notebook, hidden=hidden, out=out_dir / notebook.stem, limits=limits)
        rows.append({"submission": notebook.name, "status": report.status, "total": report.total,
                     "max": report.max_total, **{c.name: c.points for c in report.criteria},
                     "seconds": round(report.run["grading_s"]), "report": f"{notebook.stem}/report.md"})
    table = pd.DataFrame(rows).sort_values(["total", "submission"], ascending=[False, True]).reset_index(drop=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "summary.csv", index=False)
    (out_dir / "summary.md").write_text(report_mod.summary_markdown(table, hidden), encoding="utf-8")
    return table
