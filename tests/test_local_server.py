"""Starting, sharing and stopping the bundled server; each fault gives one clear message."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from aieng import local_server
from aieng.errors import ServerNotInstalled, ServerStartError


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


def test_two_processes_asking_at_once_start_one_server(own_home):
    code = "from aieng import local_server; print(local_server.ensure_running().pid)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert len(pids) == 1 and all(p.returncode == 0 for p in procs)


def test_a_taken_port_is_not_an_error(own_home, llm):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        # The session's server, or the blocker, may hold the preferred port: either way a free one is used.
        server = local_server.ensure_running()
        assert server.base_url != llm.base_url and server.port != blocker.getsockname()[1]
    finally:
        blocker.close()


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


def test_a_hung_server_is_replaced_not_left_running(own_home, monkeypatch):
    """Alive but silent (a wedged process): after HUNG_AFTER_S it is stopped and a fresh one started."""
    monkeypatch.setattr(local_server, "HUNG_AFTER_S", 0.5)
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    local_server.write_state(silent.pid, closed_port, own_home / "server.log")
    server = local_server.ensure_running()
    assert server.pid != silent.pid
    assert silent.wait(timeout=10) is not None  # the silent process was terminated


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
