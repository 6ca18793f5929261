"""`python -m aieng ...`: the commands the README names."""

import subprocess
import sys


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "aieng", *args], capture_output=True, text=True, timeout=timeout)


def test_status_names_the_running_server(llm):
    result = run("status")
    assert result.returncode == 0 and llm.base_url in result.stdout


def test_doctor_checks_every_capability(llm):
    result = run("doctor", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for capability in ("models", "chat", "streaming", "json_schema", "parse (Pydantic)", "tools", "max_tokens"):
        assert f"✓ {capability}:" in result.stdout


def test_doctor_reports_an_unreachable_endpoint_with_a_next_step(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = run("doctor")
    assert result.returncode == 1 and "✗ backend: No model server answered" in result.stdout


def test_an_unknown_command_shows_the_choices():
    result = run("serv")
    assert result.returncode == 2 and "serve" in result.stderr


def test_a_classroom_server_serves_other_machines_through_the_plain_client(tmp_path, monkeypatch):
    """`python -m aieng serve --host 0.0.0.0`: what an instructor runs; learners set OPENAI_BASE_URL."""
    import json
    import os
    import signal
    import time

    from aieng import backend

    env = {**os.environ, "AIENG_HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "aieng", "serve", "--host", "0.0.0.0", "--port", "0"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        state = tmp_path / "server.json"
        deadline = time.monotonic() + 60
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        port = json.loads(state.read_text())["port"]
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "classroom")
        monkeypatch.delenv("AIENG_MODEL", raising=False)
        learner = backend.connect(verbose=False)
        reply = learner.client.chat.completions.create(model=learner.model, max_tokens=5, temperature=0,
                                                       messages=[{"role": "user", "content": "Hello"}])
        assert reply.choices[0].message.content is not None and not learner.is_local
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert not (tmp_path / "server.json").exists()  # a stopped server removes its record
