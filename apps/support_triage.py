"""Ledgerloop support triage: the prototype support agents use, so their feedback becomes data.

    marimo run apps/support_triage.py        # the app, in a browser
    python apps/support_triage.py            # headless: triages one sample ticket, writes nothing

An agent pastes a ticket and presses the button. The product is chapter 02's pipeline,
`triage.triage_ticket` with its defaults: the router the evals picked (prompts/router-choice.json)
proposes the queue, and the chat model drafts a reply with the shipped drafting prompt. The page
says which router (id and version) proposed the queue, with its score, and which pipeline drafted.
The agent votes thumbs up or down, with a comment and, when the queue is wrong, the right one.
Each vote is one line in workspace/feedback/triage_feedback.jsonl (or $AIENG_FEEDBACK_PATH) that
records the pipeline, so chapter 03 counts votes by pipeline and chapter 04 turns them into an eval set.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Ledgerloop support triage")


@app.cell
def _():
    import html

    import marimo as mo

    from aieng import backend, data, errors, feedback, routers, triage

    IS_SCRIPT = mo.app_meta().mode == "script"  # `python apps/support_triage.py`: no browser, no clicks
    SAMPLE_TICKET = "Hi, we were charged twice for our Growth plan this month. Can you refund one of the charges?"
    WRAP = "white-space: pre-wrap; overflow-wrap: anywhere;"  # long text wraps; a long word or URL breaks too
    return IS_SCRIPT, SAMPLE_TICKET, WRAP, backend, data, errors, feedback, html, mo, routers, triage


@app.cell
def _(IS_SCRIPT, backend, errors, feedback, mo, routers, triage):
    try:
        llm = backend.connect(verbose=False)
        choice = routers.load_choice()  # the router the evals picked; triage_ticket's default uses the same file
    except (errors.AiengError, FileNotFoundError, ValueError) as err:
        if IS_SCRIPT:
            raise
        mo.stop(True, mo.callout(mo.md(f"**The app cannot start.** {err}"), kind="danger"))
    chosen = next(c for c in choice["candidates"] if c["id"] == choice["chosen_id"])
    FEEDBACK_FILE = feedback.feedback_path()
    if IS_SCRIPT:
        print(f"backend: {llm}\nrouter: {choice['chosen_id']} ({choice['split']} accuracy {chosen['accuracy']:.2f}, "
              f"{chosen['labels_used']} labels)\nfeedback file: {FEEDBACK_FILE}")
    mo.md(f"""
    # Ledgerloop support triage

    Paste a customer's ticket and press **Propose**. Check the proposed queue and the draft reply,
    then vote: every vote is saved and becomes test data for the next version.

    The queue comes from the router the evals picked, `{choice['chosen_id']}`
    ({choice['split']} accuracy {chosen['accuracy']:.2f} with {chosen['labels_used']} labels);
    the chat model `{llm.model}` drafts the reply with prompt `triage-{triage.DEFAULT_PROMPT_VERSION}`.

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
def _(IS_SCRIPT, SAMPLE_TICKET, WRAP, errors, html, llm, mo, propose_button, ticket_box, triage):
    ticket_text = SAMPLE_TICKET if IS_SCRIPT else ticket_box.value
    mo.stop(not (propose_button.value or IS_SCRIPT), mo.md("_Paste a ticket, then press **Propose**._"))
    mo.stop(not ticket_text.strip(),
            mo.callout("The ticket is empty: paste the customer's message first.", kind="warn"))
    try:
        with mo.status.spinner(title="Routing the ticket and drafting a reply..."):
            proposal = triage.triage_ticket(llm.client, llm.model, ticket_text)  # the shipped router + drafting prompt
    except (ValueError, FileNotFoundError, errors.AiengError) as err:  # an over-long ticket, a bad reply, a dead server
        if IS_SCRIPT:
            raise
        mo.stop(True, mo.callout(mo.md(f"**No proposal.** {err}"), kind="danger"))
    if IS_SCRIPT:
        print(f"proposed queue: {proposal.intent} · priority: {proposal.priority} · {proposal.latency_s:.2f} s\n"
              f"router: {proposal.router_id} (score {proposal.route_score:.2f}) · pipeline: {proposal.pipeline_id}\n"
              f"draft reply: {proposal.draft_reply}")
    first_line = next(line.strip() for line in ticket_text.splitlines() if line.strip())
    shown_ticket = first_line if len(first_line) <= 80 else first_line[:79] + "…"
    looped_note = mo.callout("The draft repeated itself; the repeated sentences were removed.", kind="warn")
    mo.vstack([
        mo.Html(f'<p class="proposal-for" style="{WRAP}"><small>Proposal for the ticket '
                f'“{html.escape(shown_ticket)}”</small></p>'),
        mo.hstack([
            mo.stat(proposal.intent, label="Proposed queue", caption=f"router score {proposal.route_score:.2f}",
                    bordered=True),
            mo.stat(proposal.priority, label="Priority", bordered=True),
            mo.stat(f"{proposal.latency_s:.2f} s", label="Latency", caption="route + draft", bordered=True),
        ], justify="start", wrap=True),
        mo.Html(f'<p class="pipeline" style="{WRAP}">Queue proposed by router <code>{html.escape(proposal.router_id)}'
                f'</code> (score {proposal.route_score:.2f}) · reply drafted by <code>{html.escape(proposal.model)}'
                f'</code> with prompt <code>triage-{html.escape(proposal.prompt_version)}</code> · pipeline '
                f'<code>{html.escape(proposal.pipeline_id)}</code></p>'),
        mo.md("**Draft reply**"),
        mo.callout(mo.Html(f'<div class="draft-reply" style="{WRAP}">{html.escape(proposal.draft_reply)}</div>'),
                   kind="info"),
        *([looped_note] if proposal.draft_looped else []),
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
    mo.callout(mo.md(f"Saved {'👍' if vote.rating == 'up' else '👎'}{correction} for pipeline `{vote.pipeline_id}`. "
                     f"The feedback file holds {n_votes} votes."), kind="success")
    return


if __name__ == "__main__":
    app.run()
