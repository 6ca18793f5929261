"""`python -m aieng ...`: the commands the README names."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "aieng", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.model
def test_status_names_the_running_server(llm):
    result = run("status")
    assert result.returncode == 0 and llm.base_url in result.stdout


@pytest.mark.model
def test_doctor_checks_every_capability(llm):
    result = run("doctor", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for capability in ("models", "chat", "streaming", "json_schema", "parse (Pydantic)", "tools", "max_tokens"):
        assert f"✓ {capability}:" in result.stdout
    assert re.search(r"course server: \d+ waiting · \d+ served · deadline \d+ s · serving code \w+", result.stdout)


def test_doctor_reports_an_unreachable_endpoint_with_a_next_step(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = run("doctor")
    assert result.returncode == 1 and "✗ backend: No model server answered" in result.stdout


def test_an_unknown_command_shows_the_choices():
    result = run("serv")
    assert result.returncode == 2 and "serve" in result.stderr


def serve(home, *args, key=None):
    env = {**os.environ, "AIENG_HOME": str(home)}
    env.pop("AIENG_API_KEY", None)
    if key:
        env["AIENG_API_KEY"] = key
    return subprocess.Popen([sys.executable, "-m", "aieng", "serve", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finished(process, timeout_s=20):
    """(exit code, stdout, stderr) of a server process that should have stopped by itself; fails if it still serves."""
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the server kept running; it should have refused to start. Output: {out}{err}")
    return process.returncode, out, err


def wait_for_record(home, timeout_s=60):
    state = home / "server.json"
    deadline = time.monotonic() + timeout_s
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return json.loads(state.read_text())


def test_a_classroom_server_without_a_key_refuses_to_start(tmp_path):
    code, _, err = finished(serve(tmp_path, "--host", "0.0.0.0", "--port", "0"))
    assert code == 2 and "AIENG_API_KEY=" in err and "OPENAI_API_KEY" in err
    assert not (tmp_path / "server.json").exists()


def test_a_typed_port_that_is_taken_is_an_error(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        code, _, err = finished(serve(tmp_path, "--port", str(port)))
    assert code == 2 and f"Port {port} on 127.0.0.1 is in use" in err and "--port" in err
    assert not (tmp_path / "server.json").exists()


@pytest.mark.model
def test_make_serve_waits_for_the_lock_a_notebook_start_holds(tmp_path):
    from filelock import FileLock

    lock = FileLock(str(tmp_path / "server.lock"))
    lock.acquire()  # what connect() holds while it starts a server
    server = serve(tmp_path, "--port", "0")
    try:
        time.sleep(3)
        assert server.poll() is None and not (tmp_path / "server.json").exists(), "serve did not wait for the start lock"
        lock.release()
        record = wait_for_record(tmp_path)
        assert record["pid"] == server.pid
    finally:
        if lock.is_locked:
            lock.release()
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    assert "waiting for another start of the local server" in out
    assert not (tmp_path / "server.json").exists()  # a stopped server removes its record


@pytest.mark.model
def test_a_classroom_server_listens_on_every_address_and_wants_its_key(tmp_path, monkeypatch):
    """`AIENG_API_KEY=... python -m aieng serve --host 0.0.0.0`: what an instructor runs. Tested over loopback only:
    the server must listen on all addresses, and learners with the key (OPENAI_BASE_URL + OPENAI_API_KEY) get replies."""
    from aieng import backend
    from aieng.errors import EndpointAuthError

    server = serve(tmp_path, "--host", "0.0.0.0", "--port", "0", key="room-key")
    try:
        record = wait_for_record(tmp_path)
        port = record["port"]
        assert record["host"] == "0.0.0.0" and record["pid"] == server.pid
        listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(server.pid).net_connections()
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {("0.0.0.0", port)}, listening
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
        monkeypatch.delenv("AIENG_MODEL", raising=False)
        monkeypatch.setenv("OPENAI_API_KEY", "a-guess")
        with pytest.raises(EndpointAuthError, match="401"):
            backend.connect(verbose=False)
        monkeypatch.setenv("OPENAI_API_KEY", "room-key")
        learner = backend.connect(verbose=False)
        reply = learner.client.chat.completions.create(model=learner.model, max_tokens=5, temperature=0,
                                                       messages=[{"role": "user", "content": "Hello"}])
        assert reply.choices[0].message.content is not None and not learner.is_local
        # The instructor's own notebooks (no OPENAI_BASE_URL) use the same server, with the key from its record.
        monkeypatch.delenv("OPENAI_BASE_URL")
        monkeypatch.setenv("AIENG_HOME", str(tmp_path))
        own = backend.connect(verbose=False)
        assert own.is_local and own.base_url == f"http://127.0.0.1:{port}/v1"
        assert own.client.models.list().data[0].id == learner.model
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert not (tmp_path / "server.json").exists()  # a stopped server removes its record


@pytest.mark.model
def test_a_server_started_by_hand_is_never_replaced_from_a_notebook(tmp_path, monkeypatch, capsys):
    """`make serve` may be a classroom's server: a notebook after a `git pull` uses it, and never stops it."""
    from aieng import local_server
    from aieng.errors import ServerStartError

    server = serve(tmp_path, "--port", "0")
    try:
        assert wait_for_record(tmp_path)["detached"] is False
        monkeypatch.setenv("AIENG_HOME", str(tmp_path))
        real_code_hash = local_server.code_hash
        monkeypatch.setattr(local_server, "code_hash", lambda: "newer-serving-code")
        assert local_server.ensure_running().pid == server.pid
        assert "was started by hand and runs other (older) serving code" in capsys.readouterr().out
        monkeypatch.setattr(local_server, "code_hash", real_code_hash)
        other = tmp_path / "Other-Model.Q4_1.gguf"
        other.symlink_to(local_server.model_path())
        monkeypatch.setenv("AIENG_GGUF", str(other))
        with pytest.raises(ServerStartError, match=r"started by hand \(`make serve`, process \d+\) serves [\s\S]*Ctrl\+C"):
            local_server.ensure_running()
        assert server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
