"""Chapter 07's trace viewer: Phoenix serves offline from its own venv and shows a traced ticket in its UI.

The browser is Debian's Chromium driven by Playwright (the recipe of tests/test_apps.py). `make test`
installs Phoenix first (`make phoenix-setup`); without it the test skips, and fails under CI=true."""

from __future__ import annotations

import pytest

from aieng import data, trace_analysis, trace_viewer, tracing, triage
from conftest import ci_skip, stop_process_group
from test_apps import CHROMIUM_ARGS, _free_port, _require_browser, CHROMIUM

TICKET_ID = "T-phoenix-test"


@pytest.fixture
def phoenix(tmp_path):
    """A Phoenix on free loopback ports, its data in a temporary folder; stopped after the test."""
    if not trace_viewer.is_installed():
        ci_skip(f"Phoenix is not installed in {trace_viewer.VENV}: run `make phoenix-setup`.")
    port = _free_port()
    process = trace_viewer.start(port, tmp_path / "phoenix", grpc_port=_free_port(), log=tmp_path / "phoenix.log")
    try:
        yield port
    finally:
        stop_process_group(process, timeout_s=15)


@pytest.mark.model
def test_phoenix_shows_a_traced_ticket_and_asks_nothing_of_the_internet(llm, phoenix, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    chromium = _require_browser(CHROMIUM)
    traces = tracing.setup(tmp_path / "traces.jsonl", otlp_endpoint=trace_viewer.otlp_endpoint(phoenix))
    ticket = data.load_tickets("validation").iloc[0]
    triage.triage_ticket(llm.client, llm.model, f"{ticket.subject}\n{ticket.body}", ticket_id=TICKET_ID)
    tracing.setup(tmp_path / "after.jsonl")          # later spans stay out of this Phoenix
    spans = trace_analysis.load_spans(traces.path)
    assert {"triage.ticket", "router.route"} <= set(spans["name"]) and (spans["kind"] == "model").any()

    hosts = set()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
            page.goto(f"{trace_viewer.url(phoenix)}/projects")
            page.get_by_text(tracing.PROJECT).first.click()
            expect(page.get_by_text("triage.ticket").first).to_be_visible()
            page.get_by_text("triage.ticket").first.click()     # the trace: the ticket, the router, the model call
            expect(page.get_by_text("ChatCompletion").first).to_be_visible()
            expect(page.get_by_text("router.route").first).to_be_visible()
        finally:
            browser.close()
    assert hosts == {f"127.0.0.1:{phoenix}"}, f"the UI asked other hosts: {hosts}"
