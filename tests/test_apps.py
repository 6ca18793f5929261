"""The marimo app: it runs headless as a script, and as a web page a browser can use end to end.

The app is the product as chapter 02 left it: the router the evals picked proposes the queue, the
chat model drafts. The browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright
for Python; no browser is downloaded. Without Chromium they skip and say why (under CI=true that fails)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from aieng import classic, data, feedback, routers
from aieng.exercises import ROOT
from conftest import ci_skip, stop_process_group

APP = ROOT / "apps" / "support_triage.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MODEL_TIMEOUT_MS = 300_000  # one model call on a 2-core machine whose server others share can take minutes
TICKET = "Hello, our Barclays bank feed has not imported any transactions since Friday. Can you check it?"
MIN_DISTINCT_QUEUES = 6  # of the 11 queues, one ticket each; a router stuck on one queue (the prompted one) gives 1
# Whether an element's text runs past its box: its width beside the width it shows, and how many lines its text takes.
OVERFLOW_JS = """e => {
    const range = document.createRange(); range.selectNodeContents(e);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    return {scrollWidth: e.scrollWidth, clientWidth: e.clientWidth, lines: tops.size};
}"""
PAGE_WIDTH_JS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def _app_env(feedback_file: Path) -> dict[str, str]:
    return {**os.environ, feedback.FEEDBACK_PATH_ENV: str(feedback_file), "MARIMO_SKIP_UPDATE_CHECK": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.model
def test_the_app_runs_headless_as_a_script(llm, tmp_path):
    feedback_file = tmp_path / "feedback.jsonl"
    run = subprocess.run([sys.executable, str(APP)], cwd=ROOT, env=_app_env(feedback_file),
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"backend: {llm}" in run.stdout
    queue = run.stdout.split("proposed queue: ", 1)[1].split(" ", 1)[0]
    assert queue in data.INTENTS, run.stdout
    assert "draft reply: " in run.stdout
    chosen_id = routers.load_choice()["chosen_id"]
    assert f"router: {chosen_id} (score " in run.stdout  # the router the evals picked proposed the queue
    assert f"pipeline: {chosen_id} + triage-" in run.stdout
    assert not feedback_file.exists()  # nobody voted, so nothing is written


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_http(url: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"marimo run exited with {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"marimo run did not serve {url} within {timeout_s:.0f} s")


@pytest.fixture
def marimo_app(llm, tmp_path):
    """`marimo run` of the app on a free loopback port, writing feedback to a temporary file."""
    feedback_file = tmp_path / "feedback.jsonl"
    port = _free_port()
    log = open(tmp_path / "marimo.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "marimo", "run", str(APP), "--headless", "--no-token", "--port", str(port)],
        cwd=ROOT, env=_app_env(feedback_file), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)  # its own process group, so any child it starts goes down with it
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}/", feedback_file
    finally:
        stop_process_group(process, timeout_s=10)
        log.seek(0)
        print("marimo run log (tail):\n" + log.read()[-2000:])  # shown by pytest when the test fails
        log.close()


def _require_browser(path: Path) -> Path:
    if not path.exists():
        ci_skip(f"{path} is missing: install Debian's chromium (`make browser` does, as root) to run the app test.")
    return path


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, or a skip that says why (a failure under CI=true)."""
    return _require_browser(CHROMIUM)


def test_without_chromium_the_browser_test_skips_and_says_why_but_fails_under_ci(monkeypatch, tmp_path):
    missing = tmp_path / "no-chromium"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium is missing"):
        _require_browser(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Would skip under CI"):
        _require_browser(missing)


def _first_validation_ticket_per_queue() -> pd.DataFrame:
    """One validation ticket per queue by a fixed rule: the first by id in each queue (in id order)."""
    tickets = data.load_tickets("validation").sort_values("id")
    return tickets.groupby("intent", sort=False).head(1).reset_index(drop=True)


def _first_line(text: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip())


def _propose(page, text: str) -> dict:
    """Paste `text`, press Propose, wait for the proposal for this ticket; what the page shows."""
    from playwright.sync_api import expect

    ticket_box = page.locator("textarea").first
    ticket_box.fill(text)
    ticket_box.press("Tab")  # a marimo text area sends its value when it loses focus
    page.get_by_role("button", name="Propose queue and reply").click()
    # the proposal names its ticket, so the wait ends on this ticket's answer, not on the previous one still shown
    expect(page.locator(".proposal-for")).to_contain_text(_first_line(text)[:40], timeout=MODEL_TIMEOUT_MS)
    draft = page.locator(".draft-reply")
    return {"queue": json.loads(page.locator("marimo-stat[data-label*='Proposed queue']").get_attribute("data-value")),
            "latency_s": json.loads(page.locator("marimo-stat[data-label*='Latency']").get_attribute("data-value")),
            "pipeline_line": page.locator(".pipeline").inner_text(), "draft": draft.inner_text(),
            "draft_box": draft.evaluate(OVERFLOW_JS), "page_width": page.evaluate(PAGE_WIDTH_JS)}


def _open(playwright, chromium: Path, url: str):
    browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(url)
    return browser, page


@pytest.mark.model
def test_the_app_proposes_varied_queues_names_its_router_and_wraps_the_draft(chromium, marimo_app):
    from playwright.sync_api import sync_playwright

    url, _ = marimo_app
    tickets = _first_validation_ticket_per_queue()
    texts = list(classic.ticket_text(tickets))
    assert len(tickets) == len(data.INTENTS) and len({_first_line(t)[:40] for t in texts}) == len(texts)
    choice = routers.load_choice()
    started = time.perf_counter()
    with sync_playwright() as playwright:
        browser, page = _open(playwright, chromium, url)
        try:
            shown = [_propose(page, text) for text in texts]
            # the measurement can fail: an unwrapped line of the same draft runs past the same box
            page.evaluate("""text => {
                const e = document.createElement('div'); e.id = 'unwrapped-probe';
                e.style.cssText = 'white-space: pre; width: 300px'; e.textContent = text;
                document.body.appendChild(e); }""", max((s["draft"] for s in shown), key=len))
            bad_box = page.locator("#unwrapped-probe").evaluate(OVERFLOW_JS)
        finally:
            browser.close()
    elapsed_s = time.perf_counter() - started

    queues = [s["queue"] for s in shown]
    assert set(queues) <= set(data.INTENTS)
    assert len(set(queues)) >= MIN_DISTINCT_QUEUES, f"the app proposed only {sorted(set(queues))} for {len(texts)} queues"
    for s in shown:
        assert choice["chosen_id"] in s["pipeline_line"] and "score" in s["pipeline_line"], s["pipeline_line"]
        assert f"pipeline {choice['chosen_id']} + triage-" in s["pipeline_line"], s["pipeline_line"]
        box = s["draft_box"]
        assert box["scrollWidth"] <= box["clientWidth"], f"the draft runs off its box: {box} for {s['draft'][:80]!r}"
        assert s["page_width"][0] <= s["page_width"][1], f"the page scrolls sideways: {s['page_width']}"
    assert max(s["draft_box"]["lines"] for s in shown) >= 2  # some draft is long enough to wrap, and it did
    assert bad_box["scrollWidth"] > bad_box["clientWidth"]  # ... where an unwrapped copy would run off the box
    correct = sum(q == gold for q, gold in zip(queues, tickets["intent"]))
    print(f"browser, one ticket per queue: {elapsed_s:.1f} s for {len(texts)} tickets, {len(set(queues))} distinct "
          f"queues proposed, {correct} right; model+router per ticket: {[s['latency_s'] for s in shown]}")


@pytest.mark.model
def test_an_agent_votes_in_the_browser_and_each_vote_lands_in_the_feedback_file(chromium, marimo_app):
    from playwright.sync_api import expect, sync_playwright

    url, feedback_file = marimo_app
    chosen_id = routers.load_choice()["chosen_id"]
    started = time.perf_counter()
    with sync_playwright() as playwright:
        browser, page = _open(playwright, chromium, url)
        try:
            expect(page.get_by_text(chosen_id).first).to_be_visible()  # the page says which router proposes
            shown = _propose(page, TICKET)
            assert shown["queue"] in data.INTENTS

            comment_box = page.get_by_placeholder("What is right or wrong? (optional)")
            comment_box.fill("queue looks right")
            comment_box.press("Tab")  # like the text area, the comment is sent on blur
            page.get_by_role("button", name="Good").click()
            expect(page.get_by_text("Saved 👍")).to_be_visible()
            lines = feedback_file.read_text(encoding="utf-8").splitlines()
            assert len(lines) == 1, lines  # one click, one line
            vote = feedback.FeedbackEntry.from_dict(json.loads(lines[0]))  # a valid entry, or this raises
            assert vote.draft_reply == shown["draft"]  # the reply the agent saw

            other_queue = next(q for q in data.INTENTS if q != shown["queue"])  # now the agent fixes the queue
            page.locator("select").first.select_option(other_queue)
            page.get_by_role("button", name="Needs work").click()
            expect(page.get_by_text(f"right queue {other_queue}")).to_be_visible()
            correction = json.loads(feedback_file.read_text(encoding="utf-8").splitlines()[-1])
        finally:
            browser.close()
    elapsed_s = time.perf_counter() - started

    assert vote.proposed_intent == shown["queue"]
    assert vote.rating == "up" and vote.ticket == TICKET and vote.corrected_intent is None
    assert vote.comment == "queue looks right"
    assert vote.router_id == chosen_id and vote.pipeline_id.startswith(f"{chosen_id} + triage-")  # votes by pipeline
    assert vote.pipeline_id in shown["pipeline_line"]
    assert len(feedback.load_feedback(feedback_file)) == 2  # both lines valid
    assert correction["rating"] == "down" and correction["corrected_intent"] == other_queue
    assert correction["proposed_intent"] == shown["queue"] and correction["pipeline_id"] == vote.pipeline_id
    print(f"browser flow: {elapsed_s:.1f} s, of which the model call {shown['latency_s']}")
