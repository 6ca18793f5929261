"""Arize Phoenix, the trace viewer of chapter 07: installed in its own virtualenv, served on loopback, offline.

    make phoenix-setup      # once: .venv-phoenix (Phoenix pins many packages of its own)
    make phoenix            # serves http://127.0.0.1:6006 until Ctrl+C

    trace_viewer.running()                  # the URL when a Phoenix answers on the port, else None
    tracing.setup(otlp_endpoint=trace_viewer.otlp_endpoint())   # spans go to it as they end

Phoenix makes no request to the internet with `OFFLINE_ENV`: `PHOENIX_TELEMETRY_ENABLED=false`
drops its analytics pixels, `PHOENIX_ALLOW_EXTERNAL_RESOURCES=false` its web fonts and every other
outside request; its UI's scripts and styles are served by Phoenix itself.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

from aieng.files import ROOT

__all__ = ["VENV", "DEFAULT_PORT", "OFFLINE_ENV", "is_installed", "url", "otlp_endpoint", "running", "command",
           "start"]

VENV = ROOT / ".venv-phoenix"
DEFAULT_PORT = 6006
OFFLINE_ENV = {"PHOENIX_TELEMETRY_ENABLED": "false", "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false"}


def is_installed() -> bool:
    """True when `make phoenix-setup` has installed Phoenix into `.venv-phoenix`."""
    return (VENV / "bin" / "phoenix").exists()


def url(port: int = DEFAULT_PORT) -> str:
    """The UI's address on loopback."""
    return f"http://127.0.0.1:{port}"


def otlp_endpoint(port: int = DEFAULT_PORT) -> str:
    """Where Phoenix takes spans over OTLP/HTTP."""
    return f"{url(port)}/v1/traces"


def running(port: int = DEFAULT_PORT, *, timeout_s: float = 1.0) -> str | None:
    """The UI's URL when a Phoenix answers its health check on `port`, else None."""
    try:
        with urllib.request.urlopen(f"{url(port)}/healthz", timeout=timeout_s) as response:
            return url(port) if response.status == 200 else None
    except OSError:
        return None


def command() -> list[str]:
    """The command that serves Phoenix (see `start` for the environment it needs)."""
    return [str(VENV / "bin" / "phoenix"), "serve"]


def start(port: int, working_dir: str | Path, *, grpc_port: int | None = None, timeout_s: float = 90.0,
          log: Path | None = None) -> subprocess.Popen:
    """Start Phoenix on loopback `port` (its data in `working_dir`) and wait until it answers; returns the process.

    The process runs in its own session: end it with `os.killpg(process.pid, signal.SIGTERM)`."""
    if not is_installed():
        raise FileNotFoundError(f"Phoenix is not installed in {VENV}. Run `make phoenix-setup` (about a minute).")
    env = {**os.environ, **OFFLINE_ENV, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_WORKING_DIR": str(working_dir)}
    if grpc_port is not None:
        env["PHOENIX_GRPC_PORT"] = str(grpc_port)
    output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - the process writes it while it runs
    process = subprocess.Popen(command(), env=env, stdout=output, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Phoenix exited with code {process.returncode} before serving on port {port}"
                               + (f"; see {log}" if log else "") + ". Is the port taken?")
        if running(port):
            return process
        time.sleep(0.3)
    process.terminate()
    raise TimeoutError(f"Phoenix did not answer on port {port} within {timeout_s:.0f} s.")
