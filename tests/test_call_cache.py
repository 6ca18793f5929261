"""aieng.call_cache: identical deterministic calls are answered once; anything else goes to the model."""

from __future__ import annotations

from aieng import call_cache
from fake_openai import completion_body, fake_client

MESSAGES = [{"role": "user", "content": "Say hi"}]


def test_an_identical_call_is_a_hit_and_a_different_one_a_miss(tmp_path):
    client, received = fake_client(lambda req: completion_body(f"hi {len(req['messages'])}"))
    cached = call_cache.CachedClient(client, path=tmp_path / "cache.jsonl")
    first = cached.chat.completions.create(model="m", messages=MESSAGES, temperature=0)
    again = cached.chat.completions.create(model="m", messages=MESSAGES, temperature=0)
    assert again.choices[0].message.content == first.choices[0].message.content and len(received) == 1
    cached.chat.completions.create(model="m", messages=MESSAGES + MESSAGES, temperature=0)
    cached.chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=5)
    assert len(received) == 3 and cached.stats == call_cache.CacheStats(hits=1, misses=3)
    reopened = call_cache.CachedClient(client, path=tmp_path / "cache.jsonl")   # kept on disk
    reopened.chat.completions.create(model="m", messages=MESSAGES, temperature=0)
    assert len(received) == 3 and reopened.stats.hit_rate == 1.0


def test_sampled_and_cut_off_calls_are_never_cached():
    client, received = fake_client(lambda req: completion_body("x", finish_reason="length" if req.get("max_tokens") == 1 else "stop"))
    cached = call_cache.CachedClient(client)
    for _ in range(2):
        cached.chat.completions.create(model="m", messages=MESSAGES, temperature=0.8)
        cached.chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=1)
    assert len(received) == 4 and cached.stats.hits == 0 and len(cached) == 0
    assert cached.base_url == client.base_url           # the rest is the wrapped client's


def test_with_options_shares_the_cache():
    client, received = fake_client(lambda req: completion_body("hi"))
    cached = call_cache.CachedClient(client)
    cached.with_options(timeout=5).chat.completions.create(model="m", messages=MESSAGES, temperature=0)
    cached.chat.completions.create(model="m", messages=MESSAGES, temperature=0)
    assert len(received) == 1 and cached.stats == call_cache.CacheStats(hits=1, misses=1)


def test_keys_differ_when_any_argument_differs():
    assert call_cache.cache_key({"a": 1, "b": [1, 2]}) == call_cache.cache_key({"b": [1, 2], "a": 1})
    assert call_cache.cache_key({"a": 1}) != call_cache.cache_key({"a": 2})
