"""Ledgerloop support triage: the prototype support agents use, so their feedback becomes data.

    marimo run apps/support_triage.py        # the app, in a browser
    python apps/support_triage.py            # headless: triages one sample ticket, writes nothing

An agent pastes a ticket and presses the button; the prompted model (chapter 02's
`triage.triage_ticket`) proposes a queue and drafts a reply; the agent votes thumbs up or
down, with a comment and, when the queue is wrong, the right one. Each vote is one line in
workspace/feedback/triage_feedback.jsonl (or $AIENG_FEEDBACK_PATH), which chapter 04 turns
into an eval set.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Ledgerloop support triage")


@app.cell
def _():
    import marimo as mo

    from aieng import backend, data, errors, feedback, triage

    IS_SCRIPT = mo.app_meta().mode == "script"  # `python apps/support_triage.py`: no browser, no clicks
    SAMPLE_TICKET = "Hi, we were charged twice for our Growth plan this month. Can you refund one of the charges?"
    return IS_SCRIPT, SAMPLE_TICKET, backend, data, errors, feedback, mo, triage


@app.cell
def _(IS_SCRIPT, backend, errors, feedback, mo):
    try:
        llm = backend.connect(verbose=False)
    except errors.AiengError as err:
        if IS_SCRIPT:
            raise
        mo.stop(True, mo.callout(mo.md(f"**No model to talk to.** {err}"), kind="danger"))
    FEEDBACK_FILE = feedback.feedback_path()
    if IS_SCRIPT:
        print(f"backend: {llm}\nfeedback file: {FEEDBACK_FILE}")
    mo.md(f"""
    # Ledgerloop support triage

    Paste a customer's ticket and press **Propose**. Check the proposed queue and the draft reply,
    then vote: every vote is saved and becomes test data for the next version.

    <small>backend: `{llm}` · feedback file: `{FEEDBACK_FILE}`</small>
    """)
    return FEEDBACK_FILE, llm


@app.cell
def _(mo):
    ticket_box = mo.ui.text_area(placeholder="Paste the customer's ticket here (subject and body)",
                                 rows=7, full_width=True, label="**Ticket**")
    propose_button = mo.ui.run_button(label="Propose queue and reply", kind="success")
    mo.vstack([ticket_box, propose_button])
    return propose_button, ticket_box


@app.cell
def _(IS_SCRIPT, SAMPLE_TICKET, errors, llm, mo, propose_button, ticket_box, triage):
    ticket_text = SAMPLE_TICKET if IS_SCRIPT else ticket_box.value
    mo.stop(not (propose_button.value or IS_SCRIPT), mo.md("_Paste a ticket, then press **Propose**._"))
    mo.stop(not ticket_text.strip(),
            mo.callout("The ticket is empty: paste the customer's message first.", kind="warn"))
    try:
        with mo.status.spinner(title="Asking the model..."):
            proposal = triage.triage_ticket(llm.client, llm.model, ticket_text)
    except (ValueError, errors.AiengError) as err:  # an over-long ticket, a cut-off or invalid reply, a dead server
        if IS_SCRIPT:
            raise
        mo.stop(True, mo.callout(mo.md(f"**No proposal.** {err}"), kind="danger"))
    if IS_SCRIPT:
        print(f"proposed queue: {proposal.intent} · priority: {proposal.priority} · "
              f"{proposal.latency_s:.2f} s · prompt {proposal.prompt_version}\ndraft reply: {proposal.draft_reply}")
    mo.vstack([
        mo.hstack([
            mo.stat(proposal.intent, label="Proposed queue", bordered=True),
            mo.stat(proposal.priority, label="Priority", bordered=True),
            mo.stat(f"{proposal.latency_s:.2f} s", label="Latency", caption=f"prompt {proposal.prompt_version}",
                    bordered=True),
        ], justify="start"),
        mo.md("**Draft reply**"),
        mo.callout(mo.plain_text(proposal.draft_reply), kind="info"),
    ])
    return proposal, ticket_text


@app.cell
def _(data, mo, proposal):
    # New controls for each proposal, so a vote always belongs to the proposal on screen.
    right_queue = mo.ui.dropdown(options=list(data.INTENTS), value=proposal.intent, label="Right queue")
    comment_box = mo.ui.text(placeholder="What is right or wrong? (optional)", full_width=True, label="Comment")
    thumbs_up = mo.ui.run_button(label="👍 Good", kind="success")
    thumbs_down = mo.ui.run_button(label="👎 Needs work", kind="danger")
    mo.vstack([mo.md("**Was this right?** Change the queue if it is wrong."), right_queue, comment_box,
               mo.hstack([thumbs_up, thumbs_down], justify="start")])
    return comment_box, right_queue, thumbs_down, thumbs_up


@app.cell
def _(FEEDBACK_FILE, comment_box, feedback, mo, proposal, right_queue, thumbs_down, thumbs_up, ticket_text):
    mo.stop(not (thumbs_up.value or thumbs_down.value))
    vote = feedback.entry_from_triage(proposal, ticket=ticket_text, rating="up" if thumbs_up.value else "down",
                                      comment=comment_box.value, corrected_intent=right_queue.value)
    try:
        feedback.append_feedback(vote, FEEDBACK_FILE)
    except OSError as err:  # a read-only folder, a full disk: say so instead of losing the vote quietly
        mo.stop(True, mo.callout(mo.md(f"**The vote was not saved:** {err}. Check `{FEEDBACK_FILE}`."), kind="danger"))
    n_votes = sum(1 for line in FEEDBACK_FILE.read_text(encoding="utf-8").splitlines() if line.strip())
    correction = f", right queue {vote.corrected_intent}" if vote.corrected_intent else ""
    mo.callout(mo.md(f"Saved {'👍' if vote.rating == 'up' else '👎'}{correction}. "
                     f"The feedback file holds {n_votes} votes."), kind="success")
    return


if __name__ == "__main__":
    app.run()
