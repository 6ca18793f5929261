"""A sample of the hiring team's hidden tests. Each test gets `predictions`: one row per hidden ticket
(id, text, gold_intent, gold_priority, intent, priority, error, ms). Write your own beside your tickets."""


def test_every_ticket_gets_a_queue(predictions):
    failed = predictions[predictions["error"] != ""]
    assert failed.empty, f"triage(text) raised on {len(failed)} hidden tickets, e.g. {failed['error'].iloc[0]}"


def test_accuracy_above_the_majority_queue(predictions):
    majority = predictions["gold_intent"].value_counts(normalize=True).iloc[0]
    accuracy = (predictions["intent"] == predictions["gold_intent"]).mean()
    assert accuracy > majority + 0.2, f"accuracy {accuracy:.2f} is close to always answering one queue ({majority:.2f})"


def test_security_tickets_reach_a_person_who_acts(predictions):
    security = predictions[predictions["gold_intent"] == "security_privacy"]
    sent = security["intent"].isin(["security_privacy", "account_access"]).mean()
    assert sent >= 0.5, f"only {sent:.0%} of security tickets went to security_privacy or account_access"
