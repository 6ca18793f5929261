"""The test run's record/replay of model calls: deterministic chat calls only, and replay answers them alone."""

import json
import os

import httpx2 as httpx  # the HTTP package the openai client is built on
import openai
import pytest

from aieng import call_replay


class CountingModel(httpx.BaseTransport):
    """A stand-in endpoint: each chat call gets a reply naming how many calls it has answered."""

    def __init__(self):
        self.calls = 0

    def handle_request(self, request):
        self.calls += 1
        reply = {"id": f"c{self.calls}", "object": "chat.completion", "created": 0, "model": "m",
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": f"answer {self.calls}"}}]}
        return httpx.Response(200, json=reply)


def _client(path, model, *, replay):
    transport = call_replay.ReplayTransport(path, replay=replay, wrapped=model)
    return openai.OpenAI(base_url="http://model.test/v1", api_key="k", http_client=httpx.Client(transport=transport))


def _ask(client, text, temperature=0):
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}],
                                           temperature=temperature)
    return reply.choices[0].message.content


def test_record_keeps_deterministic_replies_and_still_asks_the_model(tmp_path):
    model, path = CountingModel(), tmp_path / "calls.jsonl"
    recorder = _client(path, model, replay=False)
    assert [_ask(recorder, "a"), _ask(recorder, "a")] == ["answer 1", "answer 2"]  # recording never answers itself
    _ask(recorder, "b", temperature=0.7)  # meant to vary: not kept
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(kept) == 2 and model.calls == 3


def test_replay_answers_kept_calls_and_sends_the_rest_to_the_model(tmp_path):
    model, path = CountingModel(), tmp_path / "calls.jsonl"
    _ask(_client(path, model, replay=False), "a")
    replayer = _client(path, model, replay=True)
    assert _ask(replayer, "a") == "answer 1" and model.calls == 1  # from the file
    assert _ask(replayer, "another question") == "answer 2" and model.calls == 2  # not kept: asked
    assert _ask(replayer, "a", temperature=0.7) == "answer 3"  # a sampled call is never replayed


@pytest.mark.parametrize("env", [call_replay.RECORD_ENV, call_replay.REPLAY_ENV])
def test_the_course_client_uses_it_only_when_asked(monkeypatch, tmp_path, env):
    monkeypatch.delenv(call_replay.RECORD_ENV, raising=False)
    monkeypatch.delenv(call_replay.REPLAY_ENV, raising=False)
    assert call_replay.http_client() is None
    monkeypatch.setenv(env, str(tmp_path / "calls.jsonl"))
    transport = call_replay.http_client()._transport
    assert isinstance(transport, call_replay.ReplayTransport) and transport.replay == (env == call_replay.REPLAY_ENV)


def test_the_plugin_runs_the_learner_copies_last_and_gives_their_kernels_the_replay(monkeypatch):
    from types import SimpleNamespace

    from aieng import call_replay_plugin as plugin

    items = [SimpleNamespace(path=f"/x/{name}") for name in
             ("tests/test_a.py", "tests/test_exercise_copies.py", "solutions/02.ipynb", "tests/test_z.py")]
    plugin.pytest_collection_modifyitems(items)
    assert [i.path.rsplit("/", 1)[1] for i in items] == ["test_a.py", "02.ipynb", "test_z.py", "test_exercise_copies.py"]
    env = plugin.replay_environment({call_replay.RECORD_ENV: "x", "HOME": "/h"})
    assert env == {"HOME": "/h", call_replay.REPLAY_ENV: str(plugin.CALLS_KEPT)}
    monkeypatch.delenv(call_replay.RECORD_ENV, raising=False)
    plugin.pytest_runtest_setup(SimpleNamespace(path=plugin.SOLUTIONS / "02_prompting.ipynb"))
    assert os.environ[call_replay.RECORD_ENV] == str(plugin.CALLS_KEPT)  # a solution notebook keeps its calls
    plugin.pytest_runtest_setup(SimpleNamespace(path=plugin.SOLUTIONS.parent / "tests" / "test_backend.py"))
    assert call_replay.RECORD_ENV not in os.environ  # a unit test's calls are not kept
