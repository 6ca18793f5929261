"""The marimo app: it runs headless as a script, and as a web page a browser can use end to end.

The browser test drives Debian's Chromium (/usr/bin/chromium) with Playwright for Python; no
browser is downloaded. Without Chromium it skips and says why (under CI=true that fails)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aieng import data, feedback
from aieng.exercises import ROOT
from conftest import ci_skip

APP = ROOT / "apps" / "support_triage.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MODEL_TIMEOUT_MS = 300_000  # one model call on a 2-core machine whose server others share can take minutes
TICKET = "Hello, our Barclays bank feed has not imported any transactions since Friday. Can you check it?"


def _app_env(feedback_file: Path) -> dict[str, str]:
    return {**os.environ, feedback.FEEDBACK_PATH_ENV: str(feedback_file), "MARIMO_SKIP_UPDATE_CHECK": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_the_app_runs_headless_as_a_script(llm, tmp_path):
    feedback_file = tmp_path / "feedback.jsonl"
    run = subprocess.run([sys.executable, str(APP)], cwd=ROOT, env=_app_env(feedback_file),
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"backend: {llm}" in run.stdout
    queue = run.stdout.split("proposed queue: ", 1)[1].split(" ", 1)[0]
    assert queue in data.INTENTS, run.stdout
    assert "draft reply: " in run.stdout
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
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the group we started, and only it
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
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


def test_an_agent_votes_in_the_browser_and_each_vote_lands_in_the_feedback_file(chromium, marimo_app):
    from playwright.sync_api import expect, sync_playwright

    url, feedback_file = marimo_app
    started = time.perf_counter()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            ticket_box = page.locator("textarea").first
            ticket_box.fill(TICKET)
            ticket_box.press("Tab")  # a marimo text area sends its value when it loses focus
            page.get_by_role("button", name="Propose queue and reply").click()

            queue_stat = page.locator("marimo-stat[data-label*='Proposed queue']")
            expect(queue_stat).to_be_visible(timeout=MODEL_TIMEOUT_MS)  # the model has answered
            expect(page.get_by_text("Draft reply", exact=True)).to_be_visible()
            shown_queue = json.loads(queue_stat.get_attribute("data-value"))
            assert shown_queue in data.INTENTS

            model_s = json.loads(page.locator("marimo-stat[data-label*='Latency']").get_attribute("data-value"))

            comment_box = page.get_by_placeholder("What is right or wrong? (optional)")
            comment_box.fill("queue looks right")
            comment_box.press("Tab")  # like the text area, the comment is sent on blur
            page.get_by_role("button", name="Good").click()
            expect(page.get_by_text("Saved 👍")).to_be_visible()
            lines = feedback_file.read_text(encoding="utf-8").splitlines()
            assert len(lines) == 1, lines  # one click, one line
            vote = feedback.FeedbackEntry.from_dict(json.loads(lines[0]))  # a valid entry, or this raises
            expect(page.get_by_text(vote.draft_reply, exact=True).first).to_be_visible()  # the reply the agent saw

            other_queue = next(q for q in data.INTENTS if q != shown_queue)  # now the agent fixes the queue
            page.locator("select").first.select_option(other_queue)
            page.get_by_role("button", name="Needs work").click()
            expect(page.get_by_text(f"right queue {other_queue}")).to_be_visible()
            correction = json.loads(feedback_file.read_text(encoding="utf-8").splitlines()[-1])
        finally:
            browser.close()
    elapsed_s = time.perf_counter() - started

    assert vote.proposed_intent == shown_queue
    assert vote.rating == "up" and vote.ticket == TICKET and vote.corrected_intent is None
    assert vote.comment == "queue looks right"
    assert len(feedback.load_feedback(feedback_file)) == 2  # both lines valid
    assert correction["rating"] == "down" and correction["corrected_intent"] == other_queue
    assert correction["proposed_intent"] == shown_queue
    assert vote.proposed_intent in data.INTENTS and vote.prompt_version.startswith("triage-")
    print(f"browser flow: {elapsed_s:.1f} s, of which the model call {model_s}")
