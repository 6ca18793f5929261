"""A room on one local server: eight learners at once, each sending chapter 02's triage request.

Bounded in count and time (`aieng.classroom.run_load`, shared with the llama-server load test in
tests/test_classroom.py): at most MAX_PER_LEARNER requests each, and a learner starts one only if it
should finish within LOAD_S (judged by that learner's last wait). It prints what a room would feel:
requests served, median and 95th-percentile latency (the wait for the server included), and every
error by kind. Run it on an instructor's machine with `pytest tests/test_load.py -s` to size a
classroom (docs/classroom.md).
"""

from __future__ import annotations

import pytest

from aieng import classroom, data

pytestmark = [pytest.mark.model, pytest.mark.slow]

N_LEARNERS = 8
LOAD_S = 60.0
MAX_PER_LEARNER = 6
REQUEST_TIMEOUT_S = 60.0


def test_eight_learners_share_one_local_server(llm):
    if not llm.is_local:
        pytest.skip("the load test measures the bundled local server; unset OPENAI_BASE_URL to run it")
    tickets = data.load_tickets("test").head(N_LEARNERS * MAX_PER_LEARNER).to_dict("records")
    report = classroom.run_load(llm.base_url, llm.client.api_key, llm.model,
                                [classroom.triage_request(t) for t in tickets], server="course server",
                                learners=N_LEARNERS, load_s=LOAD_S, max_per_learner=MAX_PER_LEARNER,
                                timeout_s=REQUEST_TIMEOUT_S)
    print("\n" + report.line())

    assert report.stragglers == 0, "a learner was still waiting after the time bound"
    assert report.requests >= N_LEARNERS, "fewer requests than learners: the load never built up"
    assert report.served >= 0.95 * report.requests, f"only {report.served} of {report.requests} requests were served"
    unclear = [e for e in report.errors if not classroom.is_clear(e)]
    assert not unclear, f"errors a learner cannot act on: {unclear[:3]}"
