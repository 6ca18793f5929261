"""pytest plugin (pyproject's addopts loads it): the solution notebooks keep their model calls, and the
learner copies, moved to the end of the run, replay them (aieng/call_replay.py says why and how)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from aieng import call_replay
from aieng.files import ROOT

CALLS_KEPT = Path(tempfile.gettempdir()) / f"aieng-calls-{os.getpid()}.jsonl"  # this run's; written on first call
SOLUTIONS = ROOT / "solutions"
COPIES_TEST = "test_exercise_copies.py"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A solution notebook keeps its calls: nbval starts its kernel in this item's setup, with this environment."""
    if SOLUTIONS in Path(item.path).resolve().parents:
        os.environ[call_replay.RECORD_ENV] = str(CALLS_KEPT)
    else:
        os.environ.pop(call_replay.RECORD_ENV, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The learner copies run last, after the solutions whose calls they replay (a stable sort: order kept otherwise)."""
    items.sort(key=lambda item: Path(item.path).name == COPIES_TEST)


def replay_environment(environment: dict[str, str]) -> dict[str, str]:
    """`environment` for a learner copy's kernel: it replays what the solutions kept and keeps nothing itself."""
    replaying = {k: v for k, v in environment.items() if k != call_replay.RECORD_ENV}
    replaying[call_replay.REPLAY_ENV] = str(CALLS_KEPT)
    return replaying


def pytest_sessionfinish(session: pytest.Session) -> None:
    CALLS_KEPT.unlink(missing_ok=True)
