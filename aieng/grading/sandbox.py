"""Run a submission's code in a fresh process with a time limit and a memory limit, in a folder that holds nothing else.

Two kinds of run, both watched the same way:

    run_notebook(path, workdir, limits)   the candidate's notebook in a fresh Jupyter kernel (nbclient)
    run_command(argv, workdir, limits)    a plain subprocess (the grader calls the candidate's triage in one)

**Memory.** A watcher thread sums the resident memory (RSS) of the process and all its children
every 0.1 s and kills the whole tree once it passes `Limits.memory_mb`. RSS, not a resource limit:
RLIMIT_AS and RLIMIT_DATA apply per process (a child gets a fresh allowance), end in a MemoryError
the submission can catch or an abort inside torch, and address space over-counts what torch
reserves (measured after `import torch` and an embedding: 530 MB resident, 1,462 MB address space).
The course's model server, when the submission starts it, is not the submission's memory and is
never killed (it serves every notebook on the machine).

**Time.** The same watcher kills the tree at `Limits.*_s` seconds of wall time; a loop that never
ends is stopped there, whatever the cell is doing.

**Environment.** The run gets the grader's environment minus the endpoint switch (OPENAI_BASE_URL,
OPENAI_API_KEY, AIENG_MODEL), so grading is offline on the bundled model; HOME and the workspace
point into the run folder; PYTHONHASHSEED is fixed.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import psutil

__all__ = ["Limits", "RunResult", "RUN_TOKEN_VAR", "run_notebook", "run_command", "sandbox_env", "cell_outputs",
           "kill_leftovers"]

_ENDPOINT_VARS = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "AIENG_MODEL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
_POLL_S = 0.1
RUN_TOKEN_VAR = "AIENG_GRADE_RUN"  # every process of a run inherits it, so one left running in the background is found


@dataclass(frozen=True)
class Limits:
    """Limits of one grading: seconds for the notebook and for the hidden-ticket predictions, MB of RSS for each."""

    notebook_s: float = 120.0
    predict_s: float = 60.0
    memory_mb: int = 3000


@dataclass
class RunResult:
    """How one watched run ended: status ok | error | timeout | memory | crashed, and what was measured.

    `message` says what went wrong in one line (the error's last line, or the limit that was hit);
    `peak_rss_mb` is the largest RSS of the process tree seen by the watcher."""

    status: str
    seconds: float
    peak_rss_mb: float
    message: str = ""
    notebook: Any = None          # the executed notebook (run_notebook only)
    stdout: str = ""
    extra: dict = field(default_factory=dict)


def sandbox_env(workdir: Path) -> dict[str, str]:
    """The environment of a submission's run: offline on the bundled model, HOME and workspace inside `workdir`,
    and a fresh RUN_TOKEN_VAR that `kill_leftovers` looks for."""
    env = {k: v for k, v in os.environ.items() if k not in _ENDPOINT_VARS and not k.startswith("AIENG_GRADE")}
    env[RUN_TOKEN_VAR] = f"{workdir.name}-{os.getpid()}-{time.monotonic_ns()}"
    env.update(HOME=str(workdir), AIENG_WORKSPACE=str(workdir / "workspace"), PYTHONHASHSEED="0",
               MPLBACKEND="Agg", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False",
               TOKENIZERS_PARALLELISM="false", JUPYTER_PLATFORM_DIRS="1")
    env.pop("AIENG_CHECKS_STRICT", None)
    return env


def _is_model_server(proc: psutil.Process) -> bool:
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(arg == "-m" and cmd[i + 1:i + 3] == ["aieng", "serve"] for i, arg in enumerate(cmd))


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    return [p for p in procs if not _is_model_server(p)]


def _rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total / 2**20


def _kill(procs: list[psutil.Process]) -> None:
    for proc in reversed(procs):  # children first, so none is re-parented and missed
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    psutil.wait_procs(procs, timeout=5)


class _Watcher(threading.Thread):
    """Polls a process tree; kills it past the deadline or the memory limit and records why."""

    def __init__(self, get_pid: Any, seconds: float, memory_mb: int) -> None:
        super().__init__(daemon=True)
        self.get_pid, self.seconds, self.memory_mb = get_pid, seconds, memory_mb
        self.started = time.monotonic()
        self.reason = ""
        self.peak_mb = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(_POLL_S):
            pid = self.get_pid()
            if pid is None:
                continue
            procs = _tree(pid)
            rss = _rss_mb(procs)
            self.peak_mb = max(self.peak_mb, rss)
            elapsed = time.monotonic() - self.started
            if rss > self.memory_mb:
                self.reason = (f"memory: the run used {rss:.0f} MB of RSS, over the limit of {self.memory_mb} MB; "
                               "it was stopped")
            elif elapsed > self.seconds:
                self.reason = f"timeout: the run was still going after {self.seconds:.0f} s; it was stopped"
            if self.reason:
                _kill(procs)
                return

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)


def kill_leftovers(token: str) -> int:
    """Kill every process still carrying `token` in its environment (a run's background children); how many."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(RUN_TOKEN_VAR) == token and not _is_model_server(proc):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    _kill(found)
    return len(found)


def cell_outputs(nb: Any, *, max_chars: int = 4000) -> list[dict[str, Any]]:
    """The text each code cell printed: [{"cell": index, "source": first line, "text": output}], cut at `max_chars`."""
    rows = []
    for index, cell in enumerate(nb.cells if nb is not None else []):
        if cell.cell_type != "code":
            continue
        parts = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
            elif out.get("output_type") == "error":
                parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        text = "".join(parts)
        rows.append({"cell": index, "source": (cell.source.strip().splitlines() or [""])[0][:100],
                     "text": text[:max_chars] + (" …" if len(text) > max_chars else "")})
    return rows


def _error_message(nb: Any, err: BaseException) -> str:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {str(out.get('evalue'))[:300]}"
    return f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:300] if str(err).strip() else ''}"


def run_notebook(path: Path, workdir: Path, limits: Limits) -> RunResult:
    """Execute the notebook at `path` (a copy inside `workdir`) in a fresh python3 kernel whose cwd is `workdir`.

    Stops at the first cell that raises. The executed notebook is returned, never written over `path`."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=int(limits.notebook_s) + 30, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}}, allow_errors=False,
                            shutdown_kernel="immediate", startup_timeout=60, ipython_hist_file=":memory:")

    def kernel_pid() -> int | None:
        km = client.km
        provisioner = getattr(km, "provisioner", None) if km is not None else None
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    env = sandbox_env(workdir)
    watcher = _Watcher(kernel_pid, limits.notebook_s, limits.memory_mb)
    watcher.start()
    status, message = "ok", ""
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        status, message = "error", _error_message(nb, err)
    except (DeadKernelError, CellTimeoutError, RuntimeError) as err:
        status, message = "crashed", f"{type(err).__name__}: the kernel died or stopped answering ({str(err)[:200]})"
    except Exception as err:  # noqa: BLE001 - any failure of a candidate's run is a report line, not a grader crash
        status, message = "crashed", f"{type(err).__name__}: {str(err)[:300]}"
    finally:
        watcher.stop()
        leftovers = kill_leftovers(env[RUN_TOKEN_VAR])
    if watcher.reason:
        status, message = watcher.reason.split(":", 1)[0], watcher.reason
    return RunResult(status=status, seconds=time.monotonic() - watcher.started, peak_rss_mb=watcher.peak_mb,
                     message=message, notebook=nb, extra={"background_processes_killed": leftovers})


def run_command(argv: list[str], workdir: Path, seconds: float, memory_mb: int) -> RunResult:
    """Run `argv` with cwd `workdir` under the same watcher; its stdout and stderr are kept (last 4,000 characters)."""
    log = workdir / ".run.log"
    env = sandbox_env(workdir)
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        watcher = _Watcher(lambda: proc.pid, seconds, memory_mb)
        watcher.start()
        try:
            proc.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            _kill(_tree(proc.pid))
            proc.wait()
        finally:
            watcher.stop()
            leftovers = kill_leftovers(env[RUN_TOKEN_VAR])
    text = log.read_text(encoding="utf-8", errors="replace")[-4000:]
    log.unlink(missing_ok=True)
    if watcher.reason:
        status, message = watcher.reason.split(":", 1)[0], watcher.reason
    elif proc.returncode != 0:
        last = [line for line in text.strip().splitlines() if line.strip()]
        status, message = "error", (last[-1][:300] if last else f"exit code {proc.returncode}")
    else:
        status, message = "ok", ""
    return RunResult(status=status, seconds=time.monotonic() - watcher.started, peak_rss_mb=watcher.peak_mb,
                     message=message, stdout=text, extra={"background_processes_killed": leftovers})
