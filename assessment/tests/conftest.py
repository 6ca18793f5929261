"""Fixtures of the public tests: the folder your notebook wrote (AIENG_SUBMISSION_DIR, else ./submission)."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def submission_dir() -> Path:
    """The submission/ folder the notebook wrote."""
    folder = Path(os.environ.get("AIENG_SUBMISSION_DIR", "submission"))
    if not folder.is_dir():
        pytest.fail(f"No folder {folder.resolve()}: run your notebook to the end first (it writes submission/), "
                    "or set AIENG_SUBMISSION_DIR to that folder.")
    return folder


@pytest.fixture(scope="session")
def results(submission_dir: Path) -> dict:
    """results.json, parsed."""
    path = submission_dir / "results.json"
    assert path.is_file(), "submission/results.json is missing: the last cells of the notebook write it."
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def predictions(submission_dir: Path) -> pd.DataFrame:
    """predictions.csv, every column as text."""
    path = submission_dir / "predictions.csv"
    assert path.is_file(), "submission/predictions.csv is missing: the notebook writes it from the test split."
    return pd.read_csv(path, dtype=str)
