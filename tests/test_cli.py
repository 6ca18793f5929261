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
