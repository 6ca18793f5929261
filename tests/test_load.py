"""A room on one local server: eight learners at once, each sending chapter 02's triage request.

Bounded in count and time: at most MAX_PER_LEARNER requests each, and a learner starts one only
if it should finish within LOAD_S (judged by that learner's last wait). It prints what a room would feel: requests served, median and 95th-percentile
latency (the wait for the server included), and every error by kind. Run it on an instructor's
machine with `pytest tests/test_load.py -s` to size a classroom (docs/classroom.md).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

import openai
import pytest

from aieng import data, prompts, triage

pytestmark = [pytest.mark.model, pytest.mark.slow]

N_LEARNERS = 8
LOAD_S = 60.0
MAX_PER_LEARNER = 6
REQUEST_TIMEOUT_S = 60.0


def triage_request(ticket: dict) -> dict:
    """What chapter 02 sends: the v2 triage prompt first, the ticket last, the reply under the triage schema."""
    return {
        "messages": [{"role": "system", "content": prompts.load("triage", "v2").text},
                     {"role": "user", "content": f"Ticket: {ticket['subject']}\n\n{ticket['body']}".strip()}],
        "response_format": triage.response_format(),
        "temperature": 0, "seed": 0, "max_tokens": triage.MAX_TOKENS, "frequency_penalty": triage.FREQUENCY_PENALTY,
    }


def is_clear(error: Exception) -> bool:
    """An error a learner can act on: the server's own message in OpenAI's shape, or a timeout the client names."""
    if isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        return bool((body.get("error") or body).get("message")) and error.status_code in (503, 504)
    return isinstance(error, openai.APITimeoutError)


def test_eight_learners_share_one_local_server(llm):
    if not llm.is_local:
        pytest.skip("the load test measures the bundled local server; unset OPENAI_BASE_URL to run it")
    tickets = data.load_tickets("test").head(N_LEARNERS * MAX_PER_LEARNER).to_dict("records")
    requests = [triage_request(t) for t in tickets]
    results: list[tuple[float, Exception | None, str]] = []  # (latency_s, error, finish_reason)
    lock = threading.Lock()
    started = time.monotonic()

    def learner(index: int) -> None:
        client = openai.OpenAI(base_url=llm.base_url, api_key=llm.client.api_key, max_retries=0,
                               timeout=REQUEST_TIMEOUT_S)
        last_latency_s = 0.0
        for turn in range(MAX_PER_LEARNER):
            if time.monotonic() - started + last_latency_s > LOAD_S:
                return
            sent = time.monotonic()
            try:
                reply = client.chat.completions.create(model=llm.model, **requests[index * MAX_PER_LEARNER + turn])
                outcome = (time.monotonic() - sent, None, reply.choices[0].finish_reason)
            except openai.OpenAIError as err:
                outcome = (time.monotonic() - sent, err, "")
            last_latency_s = outcome[0]
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=learner, args=(i,)) for i in range(N_LEARNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LOAD_S + REQUEST_TIMEOUT_S)
    elapsed_s = time.monotonic() - started

    served = [latency for latency, error, _ in results if error is None]
    errors = [error for _, error, _ in results if error is not None]
    latencies = sorted(served)
    p95_s = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
    kinds = Counter(f"{type(e).__name__} {getattr(e, 'status_code', '')}".strip() for e in errors)
    finishes = Counter(finish for _, error, finish in results if error is None)
    print(f"\n{N_LEARNERS} learners, {len(results)} requests in {elapsed_s:.0f} s: {len(served)} served "
          f"({len(served) / elapsed_s:.2f}/s), median {statistics.median(latencies) if latencies else float('nan'):.2f} s, "
          f"p95 {p95_s:.2f} s, finish reasons {dict(finishes)}, errors {dict(kinds) or 'none'}")

    assert all(not thread.is_alive() for thread in threads), "a learner was still waiting after the time bound"
    assert len(results) >= N_LEARNERS, "fewer requests than learners: the load never built up"
    assert len(served) >= 0.95 * len(results), f"only {len(served)} of {len(results)} requests were served"
    unclear = [e for e in errors if not is_clear(e)]
    assert not unclear, f"errors a learner cannot act on: {unclear[:3]}"
