"""The take-home's grader: scores from evidence, limits that hold, reports for every gaming attempt, reference order.

Crafted submissions are tiny notebooks written here (no model, a few seconds each, marked slow); the three
reference submissions in assessment/reference/ run on the bundled models (marked model and slow).
"""

from __future__ import annotations

import hashlib
import json
import math
import textwrap
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from aieng import grading
from aieng.grading import grader, score, task

REFERENCE = Path(__file__).resolve().parents[1] / "assessment" / "reference"
CANARY_BODY = "Canary ticket 7f3e: the grader must never show this sentence to a submission while it runs."


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(s)) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _hidden(folder: Path) -> Path:
    """A small hidden-test folder: three tickets (one a canary) and one test file."""
    folder.mkdir()
    rows = [{"id": "HX-1", "subject": "", "body": "you charged my card twice this month, refund please",
             "intent": "billing"},
            {"id": "HX-2", "subject": "", "body": "cannot log in, reset email never arrives",
             "intent": "account_access"},
            {"id": "HX-CANARY", "subject": "", "body": CANARY_BODY, "intent": "feature_request"}]
    (folder / "tickets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "test_sample.py").write_text(
        "def test_no_errors(predictions):\n    assert (predictions['error'] == '').all()\n")
    return folder


# A small, complete submission with no model: keyword rules, every file of the interface, honest figures.
_VALID = '''
import json, re
from pathlib import Path
import pandas as pd
from aieng import evals
from aieng.grading import task
OUT = Path("submission"); OUT.mkdir(exist_ok=True)
RULES = """
import re
def triage(text):
    t = text.lower()
    for word, queue in [("charg", "billing"), ("refund", "billing"), ("log in", "account_access"),
                        ("password", "account_access"), ("bank", "bank_feeds"), ("payroll", "payroll")]:
        if word in t:
            return {"intent": queue}
    return {"intent": "feature_request"}
"""
(OUT / "pipeline.py").write_text(RULES)
namespace = {}; exec(RULES, namespace)
test = task.load_tickets("test")
texts = list(task.ticket_text(test))
cand = [namespace["triage"](t)["intent"] for t in texts]
base = ["billing"] * len(texts)
pd.DataFrame({"id": test["id"], "baseline_intent": base, "intent": cand}).to_csv(OUT / "predictions.csv", index=False)
b = [float(p == g) for p, g in zip(base, test["intent"])]; c = [float(p == g) for p, g in zip(cand, test["intent"])]
cmp = evals.paired_bootstrap(b, c)
results = {"baseline_id": "always-billing", "candidate_id": "keywords", "selection_split": "dev", "labels_used": 0,
           "label_sources": [], "test": {"n": len(test), "baseline_accuracy": sum(b) / len(b),
           "candidate_accuracy": sum(c) / len(c), "mean_diff": cmp.mean_diff, "ci_low": cmp.ci_low,
           "ci_high": cmp.ci_high},
           "ms_per_ticket": 0.01, "chat_calls_per_ticket": 0, "endpoint": "bundled"}
(OUT / "results.json").write_text(json.dumps(results))
(OUT / "MEMO.md").write_text("word " * 90 + f"difference {cmp.mean_diff:+.2f}")
print("done")
'''


@pytest.fixture
def quick(monkeypatch):
    """Grading without the embedding model: the shipped router's hidden accuracy is fixed at 0.5."""
    monkeypatch.setattr(grader, "_shipped_accuracy", lambda hidden: 0.5)
    return grading.Limits(notebook_s=40, predict_s=30, memory_mb=1500)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _grade(tmp_path: Path, name: str, *cells: str, limits: grading.Limits) -> tuple[grading.Report, Path]:
    notebook = _notebook(tmp_path / f"{name}.ipynb", *cells)
    before = _sha(notebook)
    report = grading.grade(notebook, hidden_tests=_hidden(tmp_path / f"hidden-{name}"), out=tmp_path / f"out-{name}",
                           limits=limits)
    assert _sha(notebook) == before, "the grader must never modify the submission file"
    assert (tmp_path / f"out-{name}" / "report.md").is_file() and (tmp_path / f"out-{name}" / "report.json").is_file()
    json.loads((tmp_path / f"out-{name}" / "report.json").read_text())
    return report, notebook


def _points(report: grading.Report) -> dict[str, int]:
    return {c.name: c.points for c in report.criteria}


# ---------------------------------------------------------------- scores from evidence, no kernel

def _evidence(results: dict | None, predictions: pd.DataFrame | None, hidden_acc: float) -> score.Evidence:
    public_test = task.load_tickets("test")
    n = len(public_test)
    hidden = pd.DataFrame({"id": [f"h{i}" for i in range(10)], "gold_intent": ["billing"] * 10,
                           "intent": ["billing"] * round(hidden_acc * 10) + ["payroll"] * (10 - round(hidden_acc * 10)),
                           "error": [""] * 10, "ms": [5.0] * 10})
    files = {}
    if results is not None:
        files["results.json"] = json.dumps(results).encode()
    if predictions is not None:
        files["predictions.csv"] = predictions.to_csv(index=False).encode()
    ok = {"passed": 1, "total": 1, "failed": []}
    assert n > 0
    return score.Evidence("ok", "", files, ok, ok, hidden, "", 0.5, public_test)


def _honest(public_test: pd.DataFrame, right: int) -> tuple[dict, pd.DataFrame]:
    from aieng import evals
    gold = list(public_test["intent"])
    cand = gold[:right] + ["payroll" if g != "payroll" else "billing" for g in gold[right:]]
    base = ["billing"] * len(gold)
    b = [float(x == g) for x, g in zip(base, gold)]
    c = [float(x == g) for x, g in zip(cand, gold)]
    cmp = evals.paired_bootstrap(b, c)
    results = {"selection_split": "dev", "labels_used": 10, "label_sources": ["train", "dev"], "ms_per_ticket": 5,
               "chat_calls_per_ticket": 0, "test": {"n": len(gold), "baseline_accuracy": sum(b) / len(b),
               "candidate_accuracy": sum(c) / len(c), "mean_diff": cmp.mean_diff, "ci_low": cmp.ci_low,
               "ci_high": cmp.ci_high}}
    return results, pd.DataFrame({"id": public_test["id"], "baseline_intent": base, "intent": cand})


def test_eval_design_and_use_of_data_reward_an_honest_comparison_over_test_tuning() -> None:
    public_test = task.load_tickets("test")
    n = len(public_test)
    honest_results, honest_preds = _honest(public_test, right=round(0.8 * n))
    honest, _ = score.score_all(_evidence(honest_results, honest_preds, hidden_acc=0.8))
    # Tuned on test: near-perfect there, no interval, selection and labels from test, far worse on hidden tickets.
    tuned_results, tuned_preds = _honest(public_test, right=n)
    tuned_results.update(selection_split="test", label_sources=["train", "test"])
    tuned_results["test"].update(mean_diff=None, ci_low=None, ci_high=None)
    tuned, _ = score.score_all(_evidence(tuned_results, tuned_preds, hidden_acc=0.6))
    by_name = lambda crits: {c.name: c.points for c in crits}  # noqa: E731
    assert by_name(honest)["eval design"] == 4 and by_name(honest)["use of data"] == 3
    assert by_name(tuned)["eval design"] <= 2 and by_name(tuned)["use of data"] == 0


def test_a_lie_about_the_selection_split_is_still_caught_by_the_gap() -> None:
    public_test = task.load_tickets("test")
    results, preds = _honest(public_test, right=len(public_test))  # claims dev, scores 1.0 on test
    crits, _ = score.score_all(_evidence(results, preds, hidden_acc=0.6))
    gap = next(ch for c in crits for ch in c.checks if ch.name.startswith("public test accuracy not above"))
    assert not gap.passed and "gap +0.40" in gap.found


def test_an_interval_that_does_not_reproduce_loses_its_point() -> None:
    public_test = task.load_tickets("test")
    results, preds = _honest(public_test, right=round(0.8 * len(public_test)))
    results["test"].update(ci_low=results["test"]["mean_diff"] - 0.01, ci_high=results["test"]["mean_diff"] + 0.01)
    crits, _ = score.score_all(_evidence(results, preds, hidden_acc=0.8))
    check = next(ch for c in crits for ch in c.checks if ch.name == "the interval reproduces")
    assert not check.passed


def test_memo_quotes_figures_as_shares_or_percentages() -> None:
    assert score._quotes("the difference is +0.14, interval (0.03, 0.25)", 0.14)
    assert score._quotes("accuracy rose by 14% (interval 3% to 25%)", 0.03)
    assert not score._quotes("it is much better now", 0.14)


def test_missing_hidden_folder_says_what_a_hidden_folder_holds(tmp_path: Path) -> None:
    with pytest.raises(grading.GradingError, match="tickets.jsonl"):
        grading.load_hidden(tmp_path)


def test_the_sample_hidden_tickets_are_not_in_the_repository_data() -> None:
    hidden = grading.load_hidden(None)
    public = task.load_tickets("all")
    assert hidden.is_sample and len(hidden.tickets) >= 20
    assert not set(hidden.tickets["body"]) & set(public["body"])
    assert hidden.test_files, "the sample ships at least one hidden test file"


# ---------------------------------------------------------------- crafted submissions (kernel, no model)

@pytest.mark.slow
def test_a_valid_submission_is_graded_the_same_twice(tmp_path: Path, quick) -> None:
    first, _ = _grade(tmp_path, "valid", _VALID, limits=quick)
    second = grading.grade(tmp_path / "valid.ipynb", hidden_tests=_hidden(tmp_path / "hidden-again"),
                           out=tmp_path / "again", limits=quick)
    assert first.status == "graded", first.problems
    assert first.public_tests["failed"] == [] and first.hidden_tests["failed"] == []
    assert _points(first) == _points(second) and first.total == second.total
    assert first.figures["hidden_accuracy"] == second.figures["hidden_accuracy"]


@pytest.mark.slow
def test_a_submission_that_raises_gets_a_report_naming_the_error(tmp_path: Path, quick) -> None:
    report, _ = _grade(tmp_path, "raises", "print('starting')", "raise RuntimeError('boom in cell 2')", limits=quick)
    assert report.status == "notebook error" and "RuntimeError: boom in cell 2" in report.run["message"]
    assert _points(report)["working system"] == 0 and report.total == 0
    assert "RuntimeError: boom" in (tmp_path / "out-raises" / "report.md").read_text()


@pytest.mark.slow
def test_a_submission_that_loops_forever_is_stopped_at_the_time_limit(tmp_path: Path, quick) -> None:
    limits = grading.Limits(notebook_s=4, predict_s=10, memory_mb=1500)
    report, _ = _grade(tmp_path, "loops", "while True:\n    pass", limits=limits)
    assert report.status == "notebook timeout" and "4 s" in report.run["message"]
    assert report.run["notebook_s"] < 20


@pytest.mark.slow
def test_a_submission_that_exhausts_memory_is_stopped_at_the_memory_limit(tmp_path: Path, quick) -> None:
    limits = grading.Limits(notebook_s=30, predict_s=10, memory_mb=400)
    report, _ = _grade(tmp_path, "memory", "chunks = []\nwhile True:\n    chunks.append(b'x' * 20_000_000)",
                       limits=limits)
    assert report.status == "notebook memory" and "400 MB" in report.run["message"]
    assert 400 < report.run["notebook_peak_rss_mb"] < 1500


@pytest.mark.slow
def test_a_submission_that_deletes_files_reaches_only_its_own_scratch_copy(tmp_path: Path, quick) -> None:
    deleter = """
    import os, shutil
    from pathlib import Path
    here = Path.cwd()
    print("cwd holds:", sorted(p.name for p in here.iterdir() if not p.name.startswith(".")))  # .ipython: the kernel's
    for folder in (here, here.parent):
        for p in folder.iterdir():
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
    print("deleted what it could reach")
    """
    report, notebook = _grade(tmp_path, "deleter", deleter, _VALID, limits=quick)
    printed = report.cell_outputs[0]["text"]
    assert "cwd holds: ['submission.ipynb']" in printed, printed
    assert notebook.is_file() and report.status != "crashed"
    assert not any("course files" in p for p in report.problems), report.problems


@pytest.mark.slow
def test_a_submission_looking_for_the_hidden_tests_finds_nothing_while_it_runs(tmp_path: Path, quick) -> None:
    marker = tmp_path / "found-hidden.txt"
    seeker = f"""
    import os, subprocess, sys
    from pathlib import Path
    def look():
        here = Path.cwd()
        places = [here, here.parent, *here.parent.iterdir()] + [Path(v) for v in os.environ.values() if os.sep in v]
        hits = []
        for place in places:
            if place.is_dir():
                for f in list(place.glob("*.jsonl")) + list(place.glob("*/*.jsonl")) + list(place.glob("test_*.py")):
                    if "Canary ticket" in f.read_text(errors="ignore"):
                        hits.append(str(f))
        return hits
    print("found:", look())
    # a background process that outlives the kernel, hoping to see the hidden tests arrive
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(4); open({str(marker)!r}, 'w').write('late')"],
                     start_new_session=True)
    """
    report, _ = _grade(tmp_path, "seeker", seeker, _VALID, limits=quick)
    assert "found: []" in report.cell_outputs[0]["text"], report.cell_outputs[0]["text"]
    assert CANARY_BODY not in json.dumps(report.cell_outputs)
    assert report.run["background_processes_killed"] >= 1 and not marker.exists()
    assert not report.status.startswith("flagged")


@pytest.mark.slow
def test_hidden_content_in_a_submission_output_is_flagged(tmp_path: Path, quick) -> None:
    report, _ = _grade(tmp_path, "leaky", _VALID, f"print({CANARY_BODY!r})", limits=quick)
    assert report.status.startswith("flagged") and any("HX-CANARY" in p for p in report.problems)
    working = next(c for c in report.criteria if c.name == "working system")
    assert not any(ch.passed for ch in working.checks if ch.name.startswith(("hidden", "beats")))


@pytest.mark.slow
def test_a_folder_is_graded_in_one_call_with_a_summary_table(tmp_path: Path, quick) -> None:
    folder = tmp_path / "submissions"
    folder.mkdir()
    _notebook(folder / "alice.ipynb", _VALID)
    _notebook(folder / "bob.ipynb", "raise ValueError('unfinished')")
    table = grading.grade_folder(folder, hidden_tests=_hidden(tmp_path / "hidden"), out=tmp_path / "reports",
                                 limits=quick)
    assert list(table["submission"]) == ["alice.ipynb", "bob.ipynb"]
    assert table.loc[0, "total"] > table.loc[1, "total"]
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert "alice.ipynb" in summary and "alice/report.md" in summary


# ---------------------------------------------------------------- the reference submissions (bundled models)

@pytest.mark.model
@pytest.mark.slow
def test_reference_submissions_rank_strong_weak_empty_the_same_each_time_within_the_budget(tmp_path: Path) -> None:
    hidden = grading.load_hidden(None)
    reports = {name: grading.grade(REFERENCE / f"{name}.ipynb", hidden=hidden, out=tmp_path / name)
               for name in ("strong", "weak", "empty")}
    for name, report in reports.items():
        assert report.run["grading_s"] <= 180, f"{name} took {report.run['grading_s']} s to grade (budget 180 s)"
        assert report.run["status"] == "ok", f"{name}: {report.run['message']}"
    strong, weak, empty = (reports[n] for n in ("strong", "weak", "empty"))
    assert strong.total > weak.total > empty.total, {n: r.total for n, r in reports.items()}
    assert _points(strong)["eval design"] > _points(weak)["eval design"]
    assert _points(strong)["use of data"] > _points(weak)["use of data"]
    assert not math.isnan(strong.figures["hidden_accuracy"]) and strong.figures["hidden_accuracy"] >= task.GATE_ACCURACY
    again = grading.grade(REFERENCE / "strong.ipynb", hidden=hidden, out=tmp_path / "strong-again")
    assert _points(again) == _points(strong), "the same submission graded twice must get the same points"
    assert again.figures["hidden_accuracy"] == strong.figures["hidden_accuracy"]


def test_the_shipped_router_handed_back_unchanged_earns_nothing_for_design_data_or_cost() -> None:
    public_test = task.load_tickets("test")
    results, preds = _honest(public_test, right=round(0.8 * len(public_test)))
    preds["baseline_intent"] = preds["intent"]
    crits, _ = score.score_all(_evidence(results, preds, hidden_acc=0.8))
    points = {c.name: c.points for c in crits}
    assert points["eval design"] == points["use of data"] == points["cost and latency"] == 0
    found = json.dumps([vars(ch) for c in crits for ch in c.checks])
    assert "every test prediction equals the shipped router's" in found
