"""The grading report: built from the evidence, written as report.md (people) and report.json (tools)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from aieng.files import write_atomic
from aieng.grading import score, task

__all__ = ["build", "write", "to_markdown", "summary_markdown", "HUMAN_ITEMS"]

HUMAN_ITEMS = (
    "Read MEMO.md: does the decision follow from the interval (ship, hold or gather more data), and are the "
    "risks named (queues that got worse, latency, what the bundled model cannot do)?",
    "Read the notebook's changes: is the improvement a real change to the router, prompt, retrieval or data, "
    "and were the choices made on the dev split only?",
    "Judgement on cost: is the extra latency or labelling effort worth the measured gain? (RUBRIC.md, "
    "'Cost and latency awareness', levels 2 and 3)",
    "If results.json names an endpoint other than the bundled model, ask how the figures change on the bundled one.",
)


def _status(run: Any, predict_run: Any, problems: list[str], leaks: list[str]) -> str:
    if leaks:
        return "flagged: hidden-test content in the submission's output"
    if run.status != "ok":
        return f"notebook {run.status}"
    if predict_run is not None and predict_run.status != "ok":
        return f"triage() {predict_run.status}"
    return "graded" if not problems else "graded, with problems"


def build(*, path: Path, sha256: str, run: Any, predict_run: Any, criteria: list[score.Criterion],
          problems: list[str], leaks: list[str], files: dict[str, bytes], outputs: list[dict[str, Any]],
          public: dict, hidden_result: dict, hidden_table: pd.DataFrame | None, hidden: Any,
          shipped_accuracy: float, seconds: float, limits: Any, report_cls: type) -> Any:
    """The Report of one grading, from everything the grader measured."""
    results, _, memo, _ = score.read_submission(files)
    figures: dict[str, Any] = {"shipped_router_hidden_accuracy": round(shipped_accuracy, 3),
                               "hidden_tickets": len(hidden.tickets), "hidden_tests_source": str(hidden.source),
                               "hidden_tests_are_the_public_sample": hidden.is_sample}
    if hidden_table is not None:
        figures.update(hidden_accuracy=round(float((hidden_table["intent"] == hidden_table["gold_intent"]).mean()), 3),
                       hidden_median_ms_per_ticket=round(float(hidden_table["ms"].median()), 1),
                       hidden_calls_raised=int((hidden_table["error"] != "").sum()))
    if isinstance(results, dict):
        figures["reported"] = {k: results.get(k) for k in task.RESULTS_KEYS if k in results}
    for_human = list(HUMAN_ITEMS)
    if memo:
        for_human.insert(0, "MEMO.md, as submitted:\n\n" + "\n".join("> " + line for line in memo.strip().splitlines()))
    if hidden.is_sample:
        for_human.append("These scores use the repository's public sample of hidden tests: use your own hidden "
                         "tickets for a hiring decision (docs/hiring.md).")
    run_info = {"status": run.status, "message": run.message, "notebook_s": round(run.seconds, 1),
                "notebook_peak_rss_mb": round(run.peak_rss_mb), "grading_s": round(seconds, 1),
                "limits": {"notebook_s": limits.notebook_s, "predict_s": limits.predict_s,
                           "memory_mb": limits.memory_mb},
                "background_processes_killed": run.extra.get("background_processes_killed", 0)}
    if predict_run is not None:
        run_info.update(predict_status=predict_run.status, predict_message=predict_run.message,
                        predict_s=round(predict_run.seconds, 1), predict_peak_rss_mb=round(predict_run.peak_rss_mb),
                        predict_log_tail=predict_run.stdout[-1500:])
    return report_cls(submission=path.name, sha256=sha256, status=_status(run, predict_run, problems, leaks),
                      criteria=criteria, total=sum(c.points for c in criteria),
                      max_total=sum(c.max_points for c in criteria), figures=figures, run=run_info,
                      problems=problems + leaks, for_human=for_human, cell_outputs=outputs,
                      public_tests=public, hidden_tests=hidden_result)


def to_markdown(report: Any) -> str:
    """The report for a person: verdict, score table, the evidence per criterion, the items left to read."""
    lines = [f"# Grading report: {report.submission}", "",
             f"**{report.total} / {report.max_total}** · status: {report.status} · "
             f"graded in {report.run['grading_s']:.0f} s · sha256 `{report.sha256[:12]}`", "",
             "| criterion | points | of |", "|---|---:|---:|"]
    lines += [f"| {c.name} | {c.points} | {c.max_points} |" for c in report.criteria]
    lines += ["", "## Run", "", f"- notebook: **{report.run['status']}** in {report.run['notebook_s']} s, "
              f"peak memory {report.run['notebook_peak_rss_mb']} MB"
              + (f" — {report.run['message']}" if report.run["message"] else "")]
    if "predict_status" in report.run:
        lines.append(f"- triage(text) on {report.figures['hidden_tickets']} hidden tickets: "
                     f"**{report.run['predict_status']}** in {report.run['predict_s']} s"
                     + (f" — {report.run['predict_message']}" if report.run["predict_message"] else ""))
    if report.run.get("background_processes_killed"):
        lines.append(f"- {report.run['background_processes_killed']} process(es) the notebook left running "
                     "were stopped")
    if report.problems:
        lines += ["", "## Problems", ""] + [f"- {p}" for p in report.problems]
    lines += ["", "## Evidence per criterion", ""]
    for c in report.criteria:
        lines += [f"### {c.name}: {c.points} / {c.max_points}", ""]
        lines += [f"- {'✓' if ch.passed else '✗'} {ch.name}: {ch.found}" for ch in c.checks]
        lines.append("")
    lines += ["## Measured figures", "", "```json", json.dumps(report.figures, indent=1, default=str), "```", ""]
    for title, result in (("Public tests", report.public_tests), ("Hidden tests", report.hidden_tests)):
        lines += [f"## {title}: {result.get('passed', 0)} of {result.get('total', 0)} pass", ""]
        lines += [f"- ✗ {msg}" for msg in result.get("failed", [])] + [""]
    lines += ["## For a person to read (the grader does not score these)", ""]
    lines += [f"{i}. {item}" for i, item in enumerate(report.for_human, 1)] + [""]
    lines += ["## Cell outputs (as printed, cut at 4,000 characters a cell)", ""]
    for out in report.cell_outputs:
        if out["text"].strip():
            lines += [f"**cell {out['cell']}** `{out['source']}`", "", "```", out["text"].rstrip(), "```", ""]
    return "\n".join(lines)


def write(report: Any, folder: Path) -> None:
    """Write report.md and report.json into `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "report.json", json.dumps(report.to_dict(), indent=1, default=str))
    write_atomic(folder / "report.md", to_markdown(report))


def summary_markdown(table: pd.DataFrame, hidden: Any) -> str:
    """The folder's summary: one row per submission, best first, with a link to each report."""
    lines = ["# Grading summary", "",
             f"{len(table)} submission(s), hidden tests from `{hidden.source}`"
             + (" (the repository's public sample)" if hidden.is_sample else ""), ""]
    columns = [c for c in table.columns if c != "report"]
    lines += ["| " + " | ".join(columns) + " | report |", "|" + "---|" * (len(columns) + 1)]
    for row in table.to_dict("records"):
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + f" | [{row['report']}]({row['report']}) |")
    return "\n".join(lines) + "\n"
