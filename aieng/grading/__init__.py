"""The take-home's grader: run a submission safely, score it against the rubric, write a report.

    python -m aieng grade SUBMISSION.ipynb [--hidden-tests DIR] [--out DIR]
    python -m aieng grade SUBMISSIONS_DIR/ [--hidden-tests DIR] [--out DIR]   # every notebook, and a summary

    from aieng import grading
    report = grading.grade("alice.ipynb", hidden_tests="hidden/")
    table = grading.grade_folder("submissions/", hidden_tests="hidden/")

Modules: `task` (the take-home's tickets, limits and interface), `sandbox` (fresh kernel, time and
memory limits), `predict` (calls the candidate's triage on hidden tickets in its own process),
`score` (one function per rubric criterion), `report` (Markdown and JSON), `grader` (the steps).
See docs/hiring.md for the hiring team's guide and assessment/RUBRIC.md for the criteria.
"""

from aieng.grading.grader import SAMPLE_HIDDEN, GradingError, HiddenTests, Report, grade, grade_folder, load_hidden
from aieng.grading.sandbox import Limits

__all__ = ["SAMPLE_HIDDEN", "GradingError", "HiddenTests", "Limits", "Report", "grade", "grade_folder", "load_hidden"]
