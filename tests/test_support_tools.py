"""The support tools on the real data: results, every error path with its message, the store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from aieng import support_tools as st
from aieng.workspace import WORKSPACE, artifact_path


@pytest.fixture
def store(tmp_path) -> st.SupportStore:
    return st.SupportStore(tmp_path / "store.json")


def test_default_store_is_in_the_workspace_of_the_moment_never_the_real_one():
    store = st.SupportStore()
    assert store.path == artifact_path("support_store.json")
    assert not store.path.resolve().is_relative_to(WORKSPACE.resolve())
    assert os.environ["AIENG_WORKSPACE"] in str(store.path)


def test_every_schema_is_strict_and_valid():
    for name, spec in st.TOOLS.items():
        assert spec.name == name
        jsonschema.Draft202012Validator.check_schema(spec.parameters)
        assert spec.parameters["additionalProperties"] is False
        assert set(spec.parameters["required"]) == set(spec.parameters["properties"])
        for prop in spec.parameters["properties"].values():
            assert prop.get("description")
            if prop["type"] == "string":
                assert "maxLength" in prop or "pattern" in prop or "enum" in prop, (name, prop)
    assert {n for n, s in st.TOOLS.items() if s.changes_data} == {"open_ticket", "update_ticket", "request_refund"}


def test_openai_tools_format_and_selection():
    tools = st.openai_tools()
    assert [t["function"]["name"] for t in tools] == list(st.TOOLS)
    assert all(t["type"] == "function" and t["function"]["parameters"]["type"] == "object" for t in tools)
    assert [t["function"]["name"] for t in st.openai_tools(["lookup_order", "search_help_center"])] == \
        ["lookup_order", "search_help_center"]
    with pytest.raises(st.ToolError, match="Did you mean 'lookup_order'"):
        st.openai_tools(["lookup_ordr"])


def test_search_help_center_finds_the_refund_policy(store):
    result = st.call_tool("search_help_center", {"query": "refund for an annual plan"}, store=store)
    ids = [a["article_id"] for a in result["articles"]]
    assert "KB-103" in ids and len(ids) == len(set(ids)) <= 3
    assert all(len(a["snippet"]) <= 240 and "**" not in a["snippet"] for a in result["articles"])
    nothing = st.call_tool("search_help_center", {"query": "zzzz qqqq"}, store=store)
    assert nothing["articles"] == []


def test_lookup_customer_by_id_and_by_email_agree(store):
    by_id = st.call_tool("lookup_customer", {"customer_id_or_email": "C-00002"}, store=store)
    by_email = st.call_tool("lookup_customer", {"customer_id_or_email": "Daniel@SaltmarshPhotograp.io"}, store=store)
    assert by_id == by_email
    assert by_id["company"] == "Saltmarsh Photography" and by_id["n_invoices"] == 3
    dates = [i["issued_at"] for i in by_id["latest_invoices"]]
    assert dates == sorted(dates, reverse=True)


def test_lookup_order_and_invoice_link_to_each_other(store):
    order = st.call_tool("lookup_order", {"order_id": "ORD-10007"}, store=store)
    assert order == {"order_id": "ORD-10007", "customer_id": "C-00001", "created_at": "2025-07-28T12:38:00",
                     "item": "plan_growth_monthly", "quantity": 1, "amount_usd": 39.0, "status": "paid",
                     "invoice_id": "INV-200006"}
    invoice = st.call_tool("lookup_invoice", {"invoice_id": order["invoice_id"]}, store=store)
    assert (invoice["order_id"], invoice["customer_id"], invoice["amount_usd"]) == ("ORD-10007", "C-00001", 39.0)
    assert invoice["refund_requested_usd"] == 0.0
    json.dumps([order, invoice])  # JSON-able as returned


def test_actions_land_in_the_store_and_its_snapshot(store):
    assert store.snapshot() == st.empty_state()
    opened = st.call_tool("open_ticket", {"customer_id": "C-00004", "subject": "Payroll run stuck",
                                          "body": "The June payroll run has been pending since Monday."}, store=store)
    assert opened == {"ticket_id": "T-90001", "customer_id": "C-00004", "status": "open"}
    updated = st.call_tool("update_ticket", {"ticket_id": "T-10002", "status": "solved",
                                             "note": "Signed the reception PC out."}, store=store)
    assert updated["customer_id"] == "C-00002"
    st.call_tool("update_ticket", {"ticket_id": opened["ticket_id"], "status": "escalated", "note": "Payroll team."},
                 store=store)
    refund = st.call_tool("request_refund", {"invoice_or_order_id": "ORD-10007", "amount_usd": 19.504,
                                             "reason": "Charged twice in July."}, store=store)
    assert refund["invoice_id"] == "INV-200006" and refund["amount_usd"] == 19.5
    assert st.call_tool("lookup_invoice", {"invoice_id": "INV-200006"}, store=store)["refund_requested_usd"] == 19.5
    assert store.snapshot() == {
        "opened_tickets": [{"customer_id": "C-00004"}],
        "ticket_updates": [{"ticket_id": "T-10002", "status": "solved"},
                           {"ticket_id": "T-90001", "status": "escalated"}],
        "refunds": [{"invoice_id": "INV-200006", "amount_usd": 19.5}]}
    assert st.SupportStore(store.path).read()["tickets"][0]["subject"] == "Payroll run stuck"  # read back from disk
    assert store.reset().snapshot() == st.empty_state()


def test_refund_cannot_exceed_what_is_left_on_the_invoice(store):
    st.call_tool("request_refund", {"invoice_or_order_id": "INV-200006", "amount_usd": 30, "reason": "r"}, store=store)
    with pytest.raises(st.ToolError, match=r"more than the 9\.00 USD still refundable on INV-200006"):
        st.call_tool("request_refund", {"invoice_or_order_id": "INV-200006", "amount_usd": 10, "reason": "r"},
                     store=store)
    assert len(store.read()["refunds"]) == 1


def test_refund_of_an_invoice_that_is_not_paid_is_refused(store):
    from aieng import data

    invoices = data.load_table("invoices")
    unpaid = invoices[invoices.status == "unpaid"].invoice_id.iloc[0]
    with pytest.raises(st.ToolError, match=f"{unpaid} is unpaid, not paid"):
        st.call_tool("request_refund", {"invoice_or_order_id": unpaid, "amount_usd": 1, "reason": "r"}, store=store)


@pytest.mark.parametrize("name, arguments, message", [
    ("lookup_custmer", {}, "Unknown tool 'lookup_custmer'. Did you mean 'lookup_customer'?"),
    ("lookup_order", {"order_id": "ORD-1"}, "argument 'order_id': 'ORD-1' does not match .* It takes an order id"),
    ("lookup_order", {}, "'order_id' is a required property. Pass every required argument: order_id."),
    ("lookup_order", {"order_id": "ORD-10007", "customer_id": "C-00001"}, "unexpected argument.*'customer_id'"),
    ("lookup_order", ["ORD-10007"], "must be a JSON object with order_id"),
    ("lookup_order", '{"order_id": ORD-10007}', "not valid JSON"),
    ("lookup_customer", {"customer_id_or_email": "C-00001; drop table"}, "does not match"),
    ("lookup_customer", {"customer_id_or_email": "C-99999"}, "no customer with id or email 'C-99999'.*ask the customer for the email"),
    ("lookup_order", {"order_id": "ORD-99999"}, "no order 'ORD-99999'.*look up the customer"),
    ("lookup_invoice", {"invoice_id": "INV-999999"}, "no invoice 'INV-999999'"),
    ("open_ticket", {"customer_id": "C-99999", "subject": "s", "body": "b"}, "no customer 'C-99999'.*lookup_customer"),
    ("open_ticket", {"customer_id": "C-00001", "subject": "s" * 121, "body": "b"}, "is too long"),
    ("update_ticket", {"ticket_id": "T-99999", "status": "closed", "note": "n"}, "no ticket 'T-99999'.*open_ticket"),
    ("update_ticket", {"ticket_id": "T-10002", "status": "done", "note": "n"}, "'done' is not one of"),
    ("request_refund", {"invoice_or_order_id": "ORD-99999", "amount_usd": 5, "reason": "r"}, "no order 'ORD-99999'"),
    ("request_refund", {"invoice_or_order_id": "INV-200006", "amount_usd": 0, "reason": "r"}, "less than or equal"),
    ("request_refund", {"invoice_or_order_id": "INV-200006", "amount_usd": "5", "reason": "r"}, "not of type 'number'"),
    ("request_refund", {"invoice_or_order_id": "INV-200006", "amount_usd": True, "reason": "r"}, "not of type"),
])
def test_bad_calls_raise_a_tool_error_that_says_what_to_do(store, name, arguments, message):
    with pytest.raises(st.ToolError, match=message) as caught:
        st.call_tool(name, arguments, store=store)
    assert caught.value.tool == name
    assert not store.path.exists()  # nothing written by a refused call


def test_json_string_arguments_from_a_model_are_accepted(store):
    result = st.call_tool("lookup_invoice", '{"invoice_id": "INV-200006"}', store=store)
    assert result["customer_id"] == "C-00001"


def test_store_writes_are_atomic(store, monkeypatch):
    st.call_tool("open_ticket", {"customer_id": "C-00001", "subject": "s", "body": "b"}, store=store)
    before = store.path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)  # the rename is the last step of an atomic write
    with pytest.raises(OSError, match="disk full"):
        st.call_tool("open_ticket", {"customer_id": "C-00002", "subject": "s", "body": "b"}, store=store)
    assert store.path.read_bytes() == before
    assert [p.name for p in Path(store.path.parent).iterdir()] == [store.path.name]  # no temporary file left


def test_unreadable_store_says_how_to_recover(store):
    store.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(Exception, match="Delete it, or call SupportStore"):
        store.snapshot()


def test_exact_arguments_are_the_ids_choices_and_amounts():
    exact = {name: spec.exact_arguments for name, spec in st.TOOLS.items()}
    assert exact["search_help_center"] == ()
    assert exact["open_ticket"] == ("customer_id",)
    assert exact["update_ticket"] == ("ticket_id", "status")
    assert exact["request_refund"] == ("invoice_or_order_id", "amount_usd")
