"""Shared test set-up: offline, strict checks, one local model server for the whole session."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile

# Set before anything starts a kernel or a server, so both inherit them. Learner files the chapters
# create (AIENG_WORKSPACE) go to a temporary folder, never into a learner's workspace/.
os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                   "MARIMO_SKIP_UPDATE_CHECK": "1", "AIENG_CHECKS_STRICT": "1",
                   "AIENG_WORKSPACE": tempfile.mkdtemp(prefix="aieng-workspace-")})

import pytest  # noqa: E402

# Write docs/status.md after a run that executed every chapter in solutions/, and keep each solution notebook
# run in full, with its outputs, in build/executed/ for `make site` and `make slides` (see the modules).
pytest_plugins = ["aieng.status_plugin", "aieng.executed_plugin"]

from aieng import backend as backend_module  # noqa: E402
from aieng import local_server  # noqa: E402
from aieng.checks import STRICT_ENV  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _stop_server_we_started():
    """Under CI, leave the machine as found: stop the local server if this run started it.

    Elsewhere it keeps running (a learner's notebooks, or another test run, may share it)."""
    was_running = local_server.running_server() is not None
    yield
    if not was_running and os.environ.get("CI") == "true":
        local_server.stop()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One PyTorch thread for the embedder: on a busy 2-core machine two threads spin on each other (1 s a query)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def learner_mode(monkeypatch):
    """Checks return their verdict instead of raising, as for a learner."""
    monkeypatch.delenv(STRICT_ENV, raising=False)


@pytest.fixture(scope="session")
def llm() -> backend_module.Backend:
    """The backend the notebooks get: the bundled local server unless OPENAI_BASE_URL is set."""
    return backend_module.connect(verbose=False)


def ci_skip(reason: str) -> None:
    """Skip, except under CI=true, where a skipped test is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"Would skip under CI, which must run this: {reason}")
    pytest.skip(reason)


def stop_process_group(process: subprocess.Popen, timeout_s: float = 10) -> None:
    """End a server a test started with `start_new_session=True`: its whole group, and only it."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
