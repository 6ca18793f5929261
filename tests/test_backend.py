"""The backend switch: local by default, any OpenAI-compatible endpoint by two variables."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aieng import backend
from aieng.errors import EndpointAuthError, EndpointUnreachable, ModelNotChosen


class _FakeEndpoint(BaseHTTPRequestHandler):
    """A stand-in for a remote server, only for error paths: 401s or lists several models."""

    models = ["model-a", "model-b"]
    status = 200

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "x"}
                                                      for m in self.models]} if self.status == 200 else
                          {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_endpoint(monkeypatch):
    def start(status=200, models=("model-a", "model-b")):
        handler = type("Handler", (_FakeEndpoint,), {"status": status, "models": list(models)})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.delenv("AIENG_MODEL", raising=False)
    servers = []
    yield start
    for server in servers:
        server.shutdown()


@pytest.mark.model
def test_local_by_default_even_with_an_api_key_set(llm, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-somebody-elses")
    chosen = backend.connect()
    out = capsys.readouterr().out
    assert chosen.is_local and "local model" in out and "OPENAI_BASE_URL" in out
    assert str(chosen).startswith("local · SmolLM2-135M-Instruct · http://127.0.0.1:")


@pytest.mark.model
def test_another_endpoint_by_base_url_runs_the_same_calls(llm, monkeypatch):
    """Any OpenAI-compatible server works; here the local one, addressed as a remote endpoint."""
    monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "anything")
    monkeypatch.delenv("AIENG_MODEL", raising=False)
    remote = backend.connect(verbose=False)
    assert not remote.is_local and remote.model == llm.model  # the endpoint's only model
    reply = remote.client.chat.completions.create(model=remote.model, messages=[{"role": "user", "content": "Hi"}],
                                                  max_tokens=5, temperature=0)
    assert reply.choices[0].message.content is not None


def test_several_models_without_a_choice_lists_them(fake_endpoint):
    fake_endpoint(models=["gpt-a", "gpt-b"])
    with pytest.raises(ModelNotChosen, match=r"AIENG_MODEL[\s\S]*gpt-a, gpt-b"):
        backend.connect(verbose=False)


def test_aieng_model_picks_one_of_several(fake_endpoint, monkeypatch):
    fake_endpoint(models=["gpt-a", "gpt-b"])
    monkeypatch.setenv("AIENG_MODEL", "gpt-b")
    assert backend.connect(verbose=False).model == "gpt-b"


def test_a_wrong_key_says_to_check_openai_api_key(fake_endpoint):
    fake_endpoint(status=401)
    with pytest.raises(EndpointAuthError, match="OPENAI_API_KEY"):
        backend.connect(verbose=False)


def test_a_missing_key_for_a_remote_endpoint_is_named(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EndpointAuthError, match="OPENAI_API_KEY is not"):
        backend.connect(verbose=False)


def test_an_unreachable_endpoint_says_what_to_check(monkeypatch):
    with socket_closed_port() as port:
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.delenv("AIENG_MODEL", raising=False)
        with pytest.raises(EndpointUnreachable, match=r"No model server answered[\s\S]*OPENAI_BASE_URL"):
            backend.connect(verbose=False)


class socket_closed_port:
    """A loopback port with nothing listening on it."""

    def __enter__(self):
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return self.port

    def __exit__(self, *exc):
        return False
