"""Starting, sharing and stopping the bundled server; each fault gives one clear message.

Tests marked `model` start a private server (their own state folder) beside the session's one."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from aieng import local_server
from aieng.errors import ServerNotInstalled, ServerStartError


@pytest.mark.model
def test_a_second_connect_reuses_the_running_server(llm):
    first = local_server.ensure_running()
    again = local_server.ensure_running()
    assert first == again and first.base_url == llm.base_url


def test_the_model_file_comes_from_the_installed_package():
    path = local_server.model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


@pytest.fixture()
def own_home(tmp_path, monkeypatch):
    """A separate state folder: a second, private server for tests that break things."""
    monkeypatch.setenv("AIENG_HOME", str(tmp_path))
    yield tmp_path
    local_server.stop()


@pytest.mark.model
def test_two_processes_asking_at_once_start_one_server(own_home):
    code = "from aieng import local_server; print(local_server.ensure_running().pid)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(pids) == 1 and all(p.returncode == 0 for p in procs)


@pytest.mark.model
def test_a_taken_preferred_port_moves_the_automatic_start(own_home, monkeypatch):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    monkeypatch.setattr(local_server, "PREFERRED_PORT", blocker.getsockname()[1])
    try:
        server = local_server.ensure_running()
        assert server.port != blocker.getsockname()[1]
        assert local_server.running_server() == server
    finally:
        blocker.close()


@pytest.mark.model
def test_a_crashed_server_is_restarted_on_the_next_connect(own_home):
    first = local_server.ensure_running()
    os.kill(first.pid, signal.SIGKILL)
    time.sleep(0.2)
    assert local_server.running_server() is None
    second = local_server.ensure_running()
    assert second.pid != first.pid


def test_a_server_that_dies_at_start_reports_its_log(own_home, monkeypatch):
    def spawn_failing(log_path):
        log_path.write_text("llama_model_load: error loading model: corrupted file\n")
        return subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])

    monkeypatch.setattr(local_server, "_spawn", spawn_failing)
    with pytest.raises(ServerStartError, match=r"exited while starting \(exit code 3\)[\s\S]*corrupted file[\s\S]*doctor"):
        local_server.ensure_running()


def test_missing_server_package_says_how_to_install(own_home, monkeypatch):
    real = local_server.importlib.util.find_spec
    monkeypatch.setattr(local_server.importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name))
    with pytest.raises(ServerNotInstalled, match="make lab"):
        local_server.ensure_running()


def test_stop_when_nothing_runs_is_harmless(own_home):
    assert local_server.stop() is False


@pytest.mark.model
def test_a_hung_server_is_replaced_not_left_running(own_home, monkeypatch, capsys):
    """A real course server that stops answering (here: stopped with SIGSTOP) is replaced after HUNG_AFTER_S."""
    monkeypatch.setattr(local_server, "HUNG_AFTER_S", 1.0)
    hung = local_server.ensure_running()
    os.kill(hung.pid, signal.SIGSTOP)
    try:
        server = local_server.ensure_running()
        assert server.pid != hung.pid and local_server.running_server() == server
        assert f"replacing the local server (process {hung.pid}): it has not answered" in capsys.readouterr().out
        assert not psutil.pid_exists(hung.pid) or psutil.Process(hung.pid).status() == psutil.STATUS_ZOMBIE
    finally:
        if psutil.pid_exists(hung.pid):
            os.kill(hung.pid, signal.SIGCONT)


def test_only_a_course_server_command_line_counts():
    assert local_server.is_course_server(["/x/.venv/bin/python", "-m", "aieng", "serve", "--port", "8081"])
    assert not local_server.is_course_server(["/x/.venv/bin/python", "-m", "aieng", "stop"])
    assert not local_server.is_course_server(["python", "serve.py", "aieng"])
    assert not local_server.is_course_server([])


def test_another_course_server_on_the_machine_is_named_with_what_to_do(own_home):
    # A sleeping process whose command line reads like a course server: no model is loaded.
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "aieng", "serve"])
    try:
        deadline = time.monotonic() + 10
        while impostor.pid not in local_server.competing_servers() and time.monotonic() < deadline:
            time.sleep(0.05)
        warning = local_server.competition_warning()
        assert str(impostor.pid) in warning and "slow each other down" in warning and "aieng stop" in warning
    finally:
        impostor.kill()
        impostor.wait()
    assert impostor.pid not in local_server.competing_servers()


def test_no_warning_without_competition(monkeypatch):
    monkeypatch.setattr(local_server, "competing_servers", lambda: [])
    assert local_server.competition_warning() == ""


# ---------------------------------------------------------------- records that prove nothing are never acted on

class Spawned(Exception):
    """Raised instead of starting a server: the test only watches what happens before a start."""


def no_spawn(log_path):
    raise Spawned()


def bystander(*, course_like: bool = False) -> subprocess.Popen:
    """A sleeping process that is not a model server; `course_like` gives it a server's command line."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *(["-m", "aieng", "serve"] * course_like)])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_record(home, process, *, identity: bool = True, shift_s: float = 0.0) -> None:
    """A state file naming `process`: as today's servers write it, or (identity=False) as older ones did."""
    record = {"pid": process.pid, "port": closed_port(), "log": str(home / "server.log")}
    if identity:
        found = psutil.Process(process.pid)
        record |= {"create_time": found.create_time() + shift_s, "cmdline": found.cmdline()}
    (home / "server.json").write_text(json.dumps(record))


@pytest.mark.parametrize("shape", ["older record", "pid reused", "not a course server"])
def test_a_stale_record_never_signals_the_process_it_names(own_home, monkeypatch, capsys, shape):
    monkeypatch.setattr(local_server, "HUNG_AFTER_S", 0.5)
    monkeypatch.setattr(local_server, "_spawn", no_spawn)
    process = bystander(course_like=shape == "pid reused")
    try:
        write_record(own_home, process, identity=shape != "older record", shift_s=3600 * (shape == "pid reused"))
        with pytest.raises(Spawned):  # the record was set aside and a fresh start began
            local_server.ensure_running()
        time.sleep(0.2)
        assert process.poll() is None, "the process a stale record named was signalled"
        assert not (own_home / "server.json").exists()
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and f"removed a stale server record: process {process.pid}" in out
    finally:
        process.kill()
        process.wait()


def test_a_record_naming_another_users_process_does_not_block_connect(own_home, monkeypatch):
    process = bystander()
    real_kill = os.kill

    def kill(pid, sig):  # what signalling another user's process gives
        if pid == process.pid:
            raise PermissionError(1, "Operation not permitted")
        return real_kill(pid, sig)

    monkeypatch.setattr(local_server, "HUNG_AFTER_S", 0.5)
    monkeypatch.setattr(local_server, "_spawn", no_spawn)
    write_record(own_home, process, identity=False)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(os, "kill", kill)
            local_server.ensure_running()
    except Spawned:
        pass  # went on to start a server of its own
    except PermissionError as err:
        pytest.fail(f"connect() failed on a record naming another user's process: {err}")
    finally:
        process.kill()
        process.wait()


def test_an_unreadable_record_is_removed_with_one_line(own_home, monkeypatch, capsys):
    monkeypatch.setattr(local_server, "_spawn", no_spawn)
    (own_home / "server.json").write_text('{"pid": 12')  # cut short, e.g. by a full disk
    with pytest.raises(Spawned):
        local_server.ensure_running()
    out = capsys.readouterr().out
    assert not (own_home / "server.json").exists()
    assert out.count("\n") == 1 and "server.json is not a server record" in out and "removed it" in out


def test_stop_never_signals_a_process_the_record_does_not_prove_ours(own_home, capsys):
    process = bystander()
    write_record(own_home, process, identity=False)
    try:
        assert local_server.stop() is False
        time.sleep(0.2)
        assert process.poll() is None, "stop() signalled a process that is not the course server"
        assert "left untouched" in capsys.readouterr().out
    finally:
        process.kill()
        process.wait()


def test_waiting_for_a_silent_server_sleeps_between_probes(own_home):
    impostor = bystander(course_like=True)  # recorded like a server of ours, but nothing listens
    write_record(own_home, impostor)
    try:
        cpu_before, started = time.process_time(), time.monotonic()
        assert local_server.running_server(wait_s=1.0) is None
        elapsed_s, cpu_s = time.monotonic() - started, time.process_time() - cpu_before
        assert elapsed_s >= 0.9  # it kept asking for the whole wait
        assert cpu_s < 0.3 * elapsed_s, f"{cpu_s:.2f} s of CPU in {elapsed_s:.2f} s of waiting: the probe loop spins"
    finally:
        impostor.kill()
        impostor.wait()


def test_the_start_lock_outlasts_the_worst_start():
    worst_s = local_server.HUNG_AFTER_S + local_server.STOP_TIMEOUT_S + local_server.START_TIMEOUT_S
    assert local_server.start_lock_timeout_s() > worst_s


def test_a_start_lock_held_too_long_is_a_clear_error(own_home, capsys):
    from filelock import FileLock

    holder = FileLock(str(own_home / "server.lock"))
    holder.acquire()
    try:
        with pytest.raises(ServerStartError, match=r"starting the local server for 2 s[\s\S]*aieng stop"):
            with local_server.start_lock(timeout_s=2):
                pass
        assert "waiting for another start" in capsys.readouterr().out
    finally:
        holder.release()


@pytest.mark.model
def test_a_server_running_older_serving_code_is_replaced_on_connect(own_home, monkeypatch, capsys):
    before = local_server.ensure_running()
    monkeypatch.setattr(local_server, "code_hash", lambda: "serving-code-after-a-git-pull", raising=False)
    after = local_server.ensure_running()
    assert after.pid != before.pid, "a server running older serving code was reused"
    assert f"replacing the local server (process {before.pid}): it runs other (older) serving code" in capsys.readouterr().out
    assert not psutil.pid_exists(before.pid) or psutil.Process(before.pid).status() == psutil.STATUS_ZOMBIE


# ---------------------------------------------------------------- another model file (AIENG_GGUF)

@pytest.mark.parametrize("file_name, served", [
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
    ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "qwen2.5-0.5b-instruct"),
    ("Llama-3.2-1B-Instruct-F16.gguf", "Llama-3.2-1B-Instruct"),
    ("support-model.gguf", "support-model"),
])
def test_the_served_name_is_the_file_name_without_its_quantization(file_name, served, tmp_path):
    assert local_server.served_name(tmp_path / file_name) == served


def test_aieng_gguf_names_the_model_file(monkeypatch, tmp_path):
    other = tmp_path / "Tiny-Support-Model.Q4_K_M.gguf"
    other.symlink_to(local_server.model_path())
    monkeypatch.setenv("AIENG_GGUF", str(other))
    assert local_server.model_path() == other and local_server.served_name() == "Tiny-Support-Model"
    monkeypatch.setenv("AIENG_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(ServerNotInstalled, match=r"AIENG_GGUF names .*missing.gguf.*unset it"):
        local_server.model_path()
    monkeypatch.delenv("AIENG_GGUF")
    assert local_server.served_name() == local_server.MODEL_NAME


@pytest.mark.model
def test_another_model_file_replaces_the_running_server_and_is_served_by_its_name(own_home, monkeypatch, tmp_path,
                                                                                 capsys):
    import openai

    bundled = local_server.ensure_running()
    other = tmp_path / "Tiny-Support-Model.Q4_1.gguf"
    other.symlink_to(local_server.model_path())  # the bundled file under another path and name
    monkeypatch.setenv("AIENG_GGUF", str(other))
    served = local_server.ensure_running()
    assert served.pid != bundled.pid and served.model == "Tiny-Support-Model"
    assert f"replacing the local server (process {bundled.pid}): it serves " in capsys.readouterr().out
    client = openai.OpenAI(base_url=served.base_url, api_key="local", max_retries=0)
    assert [m.id for m in client.models.list()] == ["Tiny-Support-Model"]
    reply = client.chat.completions.create(model=served.model, messages=[{"role": "user", "content": "Hi"}],
                                           max_tokens=5, temperature=0)
    assert reply.model == "Tiny-Support-Model" and reply.choices[0].message.content is not None
    assert local_server.ensure_running() == served  # reused while AIENG_GGUF stays
    monkeypatch.delenv("AIENG_GGUF")
    back = local_server.ensure_running()
    assert back.pid != served.pid and back.model == local_server.MODEL_NAME


def test_a_zombie_counts_as_gone():
    """A server spawned by another process stays a zombie until that parent reaps it: stopping it must not hang."""
    import subprocess
    import time

    import psutil

    child = subprocess.Popen(["sleep", "0"])  # exits at once; not reaped until child.wait()
    process = psutil.Process(child.pid)
    time.sleep(0.3)
    started = time.monotonic()
    assert local_server._gone(process, 5)
    assert time.monotonic() - started < 2
    child.wait()
