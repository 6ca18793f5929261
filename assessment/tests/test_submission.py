"""Public tests of a take-home submission: the interface in assessment/README.md, nothing about quality.

Run them yourself from the folder that holds your notebook, after running it:

    python -m pytest /path/to/course/assessment/tests

The grader runs the same file, then the hiring team's hidden tests, which score your triage on tickets
you have not seen.
"""

import math
import re
from pathlib import Path

import pandas as pd

from aieng import data
from aieng.grading import task


def test_every_file_is_there(submission_dir: Path) -> None:
    missing = [name for name in task.FILES if not (submission_dir / name).is_file()]
    assert not missing, f"submission/ lacks {', '.join(missing)}; the README's 'What you hand in' lists each."


def test_predictions_cover_the_test_split(predictions: pd.DataFrame) -> None:
    for column in ("id", "baseline_intent", "intent"):
        assert column in predictions, f"predictions.csv needs a column {column!r}; it has {list(predictions.columns)}."
    want = set(task.load_tickets("test")["id"])
    got = set(predictions["id"])
    assert got == want, (f"predictions.csv must hold exactly the {len(want)} test tickets; "
                         f"{len(want - got)} missing, {len(got - want)} not in the test split.")


def test_predictions_name_real_queues(predictions: pd.DataFrame) -> None:
    for column in ("baseline_intent", "intent"):
        bad = sorted(set(predictions[column].fillna("<empty>")) - set(data.INTENTS))
        assert not bad, f"{column} holds {bad[:3]}, not queues; the queues are: {', '.join(data.INTENTS)}."


def test_results_have_every_field(results: dict) -> None:
    missing = [key for key in task.RESULTS_KEYS if key not in results]
    assert not missing, f"results.json lacks {', '.join(missing)} (README, 'results.json')."
    test = results["test"]
    assert isinstance(test, dict), "results.json's 'test' must be an object with n, accuracies and the interval."
    missing = [key for key in task.TEST_KEYS if key not in test]
    assert not missing, f"results.json's 'test' lacks {', '.join(missing)} (use null for a figure you did not measure)."


def test_results_are_numbers_in_range(results: dict) -> None:
    for key in ("baseline_accuracy", "candidate_accuracy"):
        value = results["test"][key]
        assert isinstance(value, (int, float)) and 0 <= value <= 1, \
            f"test.{key} must be a share in [0, 1]; got {value!r}."
    ms = results["ms_per_ticket"]
    assert isinstance(ms, (int, float)) and not math.isnan(ms) and ms >= 0, \
        f"ms_per_ticket must be a number of milliseconds; got {ms!r}."


def test_memo_is_there_and_short(submission_dir: Path) -> None:
    path = submission_dir / "MEMO.md"
    memo = path.read_text(encoding="utf-8") if path.is_file() else ""
    words = len(re.findall(r"\S+", memo))
    lo, hi = task.MEMO_WORDS
    assert lo <= words <= hi, f"MEMO.md has {words} words; write {lo} to {hi}."


def test_pipeline_defines_triage(submission_dir: Path) -> None:
    path = submission_dir / "pipeline.py"
    source = path.read_text(encoding="utf-8") if path.is_file() else ""
    assert re.search(r"^def triage\(", source, re.M), "pipeline.py must define `def triage(text)` at top level."
