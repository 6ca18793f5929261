"""Model choice: the models a learner lists, each reached in turn, the environment restored after."""

import os

import pytest

from aieng import local_server, model_choice


def test_unset_means_the_backend_in_use(monkeypatch):
    monkeypatch.delenv(model_choice.COMPARE_ENV, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert model_choice.listed() == ["bundled"]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert model_choice.listed() == ["endpoint"]


def test_bad_entries_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv(model_choice.COMPARE_ENV, "bundled,endpoint")
    with pytest.raises(ValueError, match="OPENAI_BASE_URL is not set"):
        model_choice.listed()
    monkeypatch.setenv(model_choice.COMPARE_ENV, f"bundled, {tmp_path / 'missing.gguf'}")
    with pytest.raises(ValueError, match="existing .gguf file"):
        model_choice.listed()


@pytest.mark.model
def test_each_listed_model_is_served_and_the_environment_restored(monkeypatch, tmp_path):
    # A state folder of its own: switching models replaces the server, and the shared one must stay as it is
    # (the session's other tests hold a client pointed at it).
    monkeypatch.setenv("AIENG_HOME", str(tmp_path / "home"))
    other = tmp_path / "course-model-copy.gguf"
    other.symlink_to(local_server.model_path())  # the bundled file under another path: another model to the server
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("AIENG_GGUF", raising=False)
    monkeypatch.setenv(model_choice.COMPARE_ENV, f"bundled,{other}")
    served = []
    try:
        for entry in model_choice.listed():
            with model_choice.backend_for(entry) as llm:
                reply = llm.client.chat.completions.create(model=llm.model, max_tokens=4,
                                                           messages=[{"role": "user", "content": "Hi"}])
                served.append(reply.model or llm.model)
    finally:
        local_server.stop()
    assert served[0] == local_server.MODEL_NAME
    assert served[1] == local_server.served_name(other) != local_server.MODEL_NAME
    assert "AIENG_GGUF" not in os.environ
