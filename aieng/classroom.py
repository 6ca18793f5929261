"""A room on one server: llama.cpp's own `llama-server` for the room, and the load test that sizes any server.

The course's own server (`make serve`) runs one request at a time: right for one learner, and the
only server with the course's tool-call and strict-JSON layer. For a room, `llama-server` (built
by `make llama-server` from the llama.cpp source inside llama-cpp-python's source package) decodes
several requests at once (`--parallel`). `make serve-llama` runs it on the bundled model behind
`AIENG_API_KEY`; learners switch with `OPENAI_BASE_URL` and `OPENAI_API_KEY` only (docs/classroom.md).

`run_load` is the bounded loopback load test both servers share: learners send chapter 02's triage
request at once, each at most `max_per_learner` times, starting one only if it should finish within
`load_s`; it reports requests served, median and 95th-percentile latency and every error by kind.
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from aieng import local_server, prompts, triage
from aieng.errors import ServerNotInstalled, ServerStartError
from aieng.files import ROOT

__all__ = ["BINARY_ENV", "PARALLEL", "CTX_PER_SLOT", "LoadReport", "llama_server_binary", "llama_server_command",
           "start_llama_server", "wait_ready", "serve", "triage_request", "is_clear", "run_load", "table",
           "machine"]

BINARY_ENV = "AIENG_LLAMA_SERVER"  # a llama-server built elsewhere (e.g. a package manager's) instead of ours
PARALLEL = 4                       # requests decoded at once; more slots share the same cores
CTX_PER_SLOT = 2048                # tokens of context each slot holds: chapter 02's triage request needs about 1,000


def llama_server_binary() -> Path:
    """The llama-server to run: `AIENG_LLAMA_SERVER`, else the one `make llama-server` builds under .cache/."""
    chosen = os.environ.get(BINARY_ENV, "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        found = path if path.is_file() else Path(shutil.which(chosen) or chosen)
        if not (found.is_file() and os.access(found, os.X_OK)):
            raise ServerNotInstalled(f"{BINARY_ENV} names {chosen!r}, which is not an executable file. "
                                     "Unset it to use the one `make llama-server` builds.")
        return found
    version = importlib.metadata.version("llama_cpp_python")
    built = ROOT / ".cache" / f"llama-cpp-python-{version}" / "build-server" / "bin" / "llama-server"
    if not built.is_file():
        raise ServerNotInstalled(f"No llama-server at {built.relative_to(ROOT)}. Build it once with "
                                 "`make llama-server` (5 to 8 minutes on 2 cores), or set "
                                 f"{BINARY_ENV} to a llama-server you have.")
    return built


def llama_server_command(port: int, *, host: str = "127.0.0.1", binary: Path | None = None,
                         model_file: Path | None = None, parallel: int = PARALLEL) -> list[str]:
    """The llama-server command line for the course model (or `AIENG_GGUF`), under the name the course
    server uses, so notebooks pick the same model. The key is not on it: llama-server reads `LLAMA_API_KEY`
    from its environment, where `ps` does not show it."""
    model_file = model_file or local_server.model_path()
    return [str(binary or llama_server_binary()), "--model", str(model_file),
            "--alias", local_server.served_name(model_file), "--host", host, "--port", str(port),
            "--parallel", str(parallel), "--ctx-size", str(CTX_PER_SLOT * parallel),
            "--threads", str(os.cpu_count() or 2), "--jinja", "--no-webui"]


def _key_env(api_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LLAMA_API_KEY"}
    return {**env, "LLAMA_API_KEY": api_key} if api_key else env


def start_llama_server(port: int, api_key: str, log_path: Path, *, host: str = "127.0.0.1",
                       parallel: int = PARALLEL) -> subprocess.Popen:
    """Start llama-server in its own process group, its output in `log_path`; see `wait_ready`."""
    command = llama_server_command(port, host=host, parallel=parallel)
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_key_env(api_key), start_new_session=True)


def wait_ready(base_url: str, *, process: subprocess.Popen | None = None, log_path: Path | None = None,
               timeout_s: float = 60.0) -> None:
    """Wait until `<base_url>/health` answers 200 (llama-server says 503 while it loads the model)."""
    health = base_url.rstrip("/").removesuffix("/v1") + "/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:] if log_path and log_path.exists() else ""
            raise ServerStartError(f"llama-server exited with code {process.returncode} before it was ready.\n{tail}")
        try:
            with urllib.request.urlopen(health, timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise ServerStartError(f"llama-server did not answer {health} within {timeout_s:.0f} s"
                           + (f"; see {log_path}" if log_path else "") + ".")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8082) -> None:
    """Run llama-server in the foreground (`make serve-llama`), with `AIENG_API_KEY` as its key.

    Off loopback a key is required, as for the course's own server. Replaces this process."""
    api_key = os.environ.get("AIENG_API_KEY", "").strip()
    if not api_key and not _is_loopback(host):
        raise SystemExit(f"Serving on {host} lets anyone on the network use this machine: set a key first, e.g.\n"
                         '  export AIENG_API_KEY=$(python3 -c "import secrets; print(secrets.token_urlsafe(12))")')
    command = llama_server_command(port, host=host)
    shown = "loopback only" if _is_loopback(host) else "the room's network"
    print(f"llama-server on http://{host}:{port}/v1 ({shown}), model {local_server.served_name()}, "
          f"{PARALLEL} requests at once, {'key from AIENG_API_KEY' if api_key else 'no key'}.", flush=True)
    os.execve(command[0], command, _key_env(api_key))


# The load test -------------------------------------------------------------------------------------------------


def triage_request(ticket: dict) -> dict[str, Any]:
    """What chapter 02 sends: the v2 triage prompt first, the ticket last, the reply under the triage schema."""
    return {
        "messages": [{"role": "system", "content": prompts.load("triage", "v2").text},
                     {"role": "user", "content": f"Ticket: {ticket['subject']}\n\n{ticket['body']}".strip()}],
        "response_format": triage.response_format(),
        "temperature": 0, "seed": 0, "max_tokens": triage.MAX_TOKENS, "frequency_penalty": triage.FREQUENCY_PENALTY,
    }


def is_clear(error: Exception) -> bool:
    """An error a learner can act on: a server's own 'busy' or 'too slow' message in OpenAI's shape,
    or a timeout the client names."""
    if isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        return bool((body.get("error") or body).get("message")) and error.status_code in (503, 504)
    return isinstance(error, openai.APITimeoutError)


@dataclass
class LoadReport:
    """What one load run measured: per request (latency, error, finish reason, completion tokens)."""

    server: str
    learners: int
    elapsed_s: float
    latencies_s: list[float] = field(default_factory=list)  # of served requests, sorted
    errors: list[Exception] = field(default_factory=list)
    finishes: Counter = field(default_factory=Counter)
    completion_tokens: int = 0
    stragglers: int = 0  # learners still waiting when the time bound ran out

    @property
    def requests(self) -> int:
        return len(self.latencies_s) + len(self.errors)

    @property
    def served(self) -> int:
        return len(self.latencies_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.latencies_s) if self.latencies_s else float("nan")

    @property
    def p95_s(self) -> float:
        lat = self.latencies_s
        return lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.elapsed_s if self.elapsed_s else 0.0

    def holds(self, limit_s: float) -> bool:
        """Every learner got answers (at least 95% of requests served), the median within the limit.

        The median, not the 95th percentile: a step of a bounded test serves a dozen or two requests, and their
        95th percentile is then the single slowest one."""
        return self.requests >= self.learners and self.served >= 0.95 * self.requests and self.median_s <= limit_s

    def error_kinds(self) -> dict[str, int]:
        return dict(Counter(f"{type(e).__name__} {getattr(e, 'status_code', '')}".strip() for e in self.errors))

    def line(self) -> str:
        return (f"{self.server}: {self.learners} learners, {self.requests} requests in {self.elapsed_s:.0f} s: "
                f"{self.served} served ({self.served / self.elapsed_s:.2f}/s, {self.tokens_per_s:.0f} tokens/s), "
                f"median {self.median_s:.2f} s, p95 {self.p95_s:.2f} s, finish reasons {dict(self.finishes)}, "
                f"errors {self.error_kinds() or 'none'}")


def run_load(base_url: str, api_key: str, model: str, requests: list[dict[str, Any]], *, server: str,
             learners: int, load_s: float, max_per_learner: int, timeout_s: float = 60.0) -> LoadReport:
    """`learners` threads, each with its own client (no retries), send `requests` (learner i takes
    i*max_per_learner ...) one after another; a learner starts a request only if its last wait says it
    ends within `load_s`. Bounded: at most learners*max_per_learner requests, about load_s+timeout_s seconds."""
    if len(requests) < learners * max_per_learner:
        raise ValueError(f"{learners} learners x {max_per_learner} requests need {learners * max_per_learner} "
                         f"requests; got {len(requests)}.")
    outcomes: list[tuple[float, Exception | None, str, int]] = []
    lock = threading.Lock()
    started = time.monotonic()

    def learner(index: int) -> None:
        client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout_s)
        last_latency_s = 0.0
        for turn in range(max_per_learner):
            if time.monotonic() - started + last_latency_s > load_s:
                return
            sent = time.monotonic()
            try:
                reply = client.chat.completions.create(model=model, **requests[index * max_per_learner + turn])
                tokens = reply.usage.completion_tokens if reply.usage else 0
                outcome = (time.monotonic() - sent, None, reply.choices[0].finish_reason, tokens)
            except openai.OpenAIError as err:
                outcome = (time.monotonic() - sent, err, "", 0)
            last_latency_s = outcome[0]
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=learner, args=(i,), daemon=True) for i in range(learners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, started + load_s + timeout_s + 5 - time.monotonic()))
    with lock:
        done = list(outcomes)
    return LoadReport(server=server, learners=learners, elapsed_s=time.monotonic() - started,
                      latencies_s=sorted(lat for lat, err, _, _ in done if err is None),
                      errors=[err for _, err, _, _ in done if err is not None],
                      finishes=Counter(finish for _, err, finish, _ in done if err is None),
                      completion_tokens=sum(tokens for *_, tokens in done),
                      stragglers=sum(thread.is_alive() for thread in threads))


def machine() -> str:
    """One line on the machine a load test ran on: CPU model, cores, memory."""
    models = [line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo") if line.startswith("model name")]
    cpu = models[0] if models else platform.processor() or platform.machine()
    mem_kb = next((int(line.split()[1]) for line in _read_lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    memory = f", {mem_kb / 2**20:.0f} GiB" if mem_kb else ""
    return f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()}"


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def table(reports: list[LoadReport], limit_s: float) -> str:
    """A Markdown table of load runs, one row each, and the most learners each server held."""
    rows = ["| server | learners | requests | served | median (s) | p95 (s) | tokens/s | errors | holds |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        held_here = "yes" if r.holds(limit_s) else "no"
        rows.append(f"| {r.server} | {r.learners} | {r.requests} | {r.served} | {r.median_s:.2f} | {r.p95_s:.2f} | "
                    f"{r.tokens_per_s:.0f} | {len(r.errors)} | {held_here} |")
    held = {}
    for r in reports:
        held.setdefault(r.server, 0)
        if r.holds(limit_s):
            held[r.server] = max(held[r.server], r.learners)
    summary = "; ".join(f"{name} held {n} learners" for name, n in held.items())
    rule = (f"at least 95% of requests served and the median reply within {limit_s:.0f} s, "
            "every learner sending one request after another")
    return "\n".join(rows) + f"\n\nHolds: {rule}. {summary}."


if __name__ == "__main__":  # `make serve-llama`: python -m aieng.classroom HOST PORT
    serve(*(sys.argv[1:2] or ["127.0.0.1"]), *(int(p) for p in sys.argv[2:3]))
