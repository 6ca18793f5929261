"""The support tools an agent may call: look things up in Ledgerloop's data, open tickets, ask for refunds.

    TOOLS                          name -> ToolSpec(name, description, parameters, changes_data)
    call_tool(name, args, store=)  validate the arguments against the tool's JSON schema, run it, return a dict
    openai_tools(names)            the same tools in Chat Completions `tools` format
    SupportStore(path)             the local JSON file where opened/updated tickets and refund requests land
    ToolError                      unknown tool, arguments that fail the schema, an id that does not exist

Lookups read `data/` (customers, orders, invoices, tickets) and the help center (BM25 over the
chapter 05 chunks: no embedding model to load, so the first search answers at once). Tools that
change data write only to the store, never to `data/`. There is no policy here (who may act,
amount limits, confirmations): that belongs to the agent's guardrails, which get the facts they
need from the lookups (an invoice's customer and amount, an order's customer).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from aieng.errors import AiengError
from aieng.files import write_atomic

__all__ = ["ToolSpec", "TOOLS", "TICKET_STATUSES", "ToolError", "SupportStore", "call_tool", "openai_tools",
           "empty_state"]

CUSTOMER_ID = r"^C-\d{5}$"
ORDER_ID = r"^ORD-\d{5}$"
INVOICE_ID = r"^INV-\d{6}$"
TICKET_ID = r"^T-\d{5}$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,120}\.[A-Za-z]{2,}$"
TICKET_STATUSES = ("open", "pending", "escalated", "solved", "closed")
_FIRST_OPENED = 90001  # tickets opened through the tool get T-90001, T-90002, ...: clear of the data's T-10001..T-10902
_N_SEARCH_HITS = 3  # articles per search: enough to choose from, small enough for a 2k-token context
_SNIPPET_CHARS = 240


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, what it is for (the model reads this), its JSON-schema parameters, and
    whether calling it changes data (the guardrails ask for a confirmation before those)."""

    name: str
    description: str
    parameters: dict[str, Any]
    changes_data: bool

    @property
    def exact_arguments(self) -> tuple[str, ...]:
        """Arguments an eval can compare exactly: ids (a pattern), choices (an enum) and numbers.

        The others (a search query, a ticket's subject, a note, a reason) are free text."""
        return tuple(name for name, prop in self.parameters["properties"].items()
                     if "pattern" in prop or "enum" in prop or prop["type"] == "number")


def _object(properties: dict[str, dict], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties),
            "additionalProperties": False}


def _text(description: str, max_length: int) -> dict[str, Any]:
    return {"type": "string", "description": description, "minLength": 1, "maxLength": max_length}


def _id(description: str, pattern: str) -> dict[str, Any]:
    return {"type": "string", "description": description, "pattern": pattern}


TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in [
    ToolSpec("search_help_center",
             "Search Ledgerloop's help-center articles for how-to and policy questions. "
             "Returns the best matching articles with a short snippet.",
             _object({"query": _text("What the customer wants to know, in a few words.", 200)}), False),
    ToolSpec("lookup_customer",
             "Look up a customer account by customer id (C-00042) or by the account's email address. "
             "Returns plan, status and the latest invoices.",
             _object({"customer_id_or_email": {
                 "type": "string", "description": "A customer id like C-00042, or an email address.",
                 "maxLength": 190, "pattern": f"^({CUSTOMER_ID[1:-1]}|{EMAIL[1:-1]})$"}}), False),
    ToolSpec("lookup_order",
             "Look up one order by its id (ORD-10007): customer, item, amount, status and its invoice.",
             _object({"order_id": _id("An order id like ORD-10007.", ORDER_ID)}), False),
    ToolSpec("lookup_invoice",
             "Look up one invoice by its id (INV-200006): customer, order, amount, tax, status "
             "and any refund already requested on it.",
             _object({"invoice_id": _id("An invoice id like INV-200006.", INVOICE_ID)}), False),
    ToolSpec("open_ticket",
             "Open a new support ticket for a customer, for a problem that needs a person to follow up.",
             _object({"customer_id": _id("The customer's id, like C-00042.", CUSTOMER_ID),
                      "subject": _text("A one-line summary of the problem.", 120),
                      "body": _text("What the customer reported, with the details a colleague needs.", 2000)}),
             True),
    ToolSpec("update_ticket",
             "Change the status of an existing ticket (T-10042) and add a note explaining why.",
             _object({"ticket_id": _id("A ticket id like T-10042.", TICKET_ID),
                      "status": {"type": "string", "enum": list(TICKET_STATUSES), "description": "The new status."},
                      "note": _text("Why the status changes, for the next person who reads the ticket.", 500)}),
             True),
    ToolSpec("request_refund",
             "Request a refund of some or all of a paid invoice, named by its invoice id (INV-200006) "
             "or its order id (ORD-10007).",
             _object({"invoice_or_order_id": {
                         "type": "string",
                         "description": "An invoice id like INV-200006 or an order id like ORD-10007.",
                         "pattern": f"^({INVOICE_ID[1:-1]}|{ORDER_ID[1:-1]})$"},
                      "amount_usd": {"type": "number", "description": "The amount to refund in US dollars.",
                                     "exclusiveMinimum": 0, "maximum": 100000},
                      "reason": _text("Why the customer is owed this refund.", 300)}),
             True),
]}


class ToolError(AiengError, ValueError):
    """A tool call that cannot run: unknown tool, arguments that fail its schema, an id that does not exist.

    `tool` names the tool; the message says what to do, so an agent can hand it back to the model."""

    def __init__(self, tool: str, message: str) -> None:
        self.tool = tool
        super().__init__(message)


# ---------------------------------------------------------------- the local store


def empty_state() -> dict[str, list]:
    """The snapshot of a store nothing has been written to (what a pure lookup task expects)."""
    return {"opened_tickets": [], "ticket_updates": [], "refunds": []}


class SupportStore:
    """Tickets opened or updated and refunds requested, kept in one JSON file (written atomically).

    `path` defaults to `artifacts/support_store.json` in the workspace of the moment. Every call
    reads the file afresh, so a notebook and an MCP server process can share one store."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from aieng.workspace import artifact_path

            path = artifact_path("support_store.json")
        self.path = Path(path)

    def read(self) -> dict[str, Any]:
        """Everything in the store: {"tickets": [...], "updates": [...], "refunds": [...]}, free text included."""
        if not self.path.exists():
            return {"tickets": [], "updates": [], "refunds": []}
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if not all(isinstance(state.get(key), list) for key in ("tickets", "updates", "refunds")):
                raise ValueError("missing the tickets, updates or refunds list")
        except ValueError as err:
            raise AiengError(f"The support store {self.path} is unreadable ({err}). Delete it, or call "
                             "SupportStore(path).reset(), to start an empty one.") from err
        return state

    def _write(self, state: dict[str, Any]) -> None:
        write_atomic(self.path, json.dumps(state, indent=1, sort_keys=True))

    def reset(self) -> SupportStore:
        """Empty the store (writes an empty file); returns the store itself."""
        self._write({"tickets": [], "updates": [], "refunds": []})
        return self

    def snapshot(self) -> dict[str, list]:
        """What an eval compares: the decisions made, without free text (subjects, notes, reasons).

        {"opened_tickets": [{"customer_id"}], "ticket_updates": [{"ticket_id", "status"}] (last status
        per ticket), "refunds": [{"invoice_id", "amount_usd"}]}, each list sorted."""
        state = self.read()
        last_status = {update["ticket_id"]: update["status"] for update in state["updates"]}
        return {"opened_tickets": sorted(({"customer_id": t["customer_id"]} for t in state["tickets"]),
                                         key=lambda t: t["customer_id"]),
                "ticket_updates": [{"ticket_id": tid, "status": last_status[tid]} for tid in sorted(last_status)],
                "refunds": sorted(({"invoice_id": r["invoice_id"], "amount_usd": r["amount_usd"]}
                                   for r in state["refunds"]), key=lambda r: (r["invoice_id"], r["amount_usd"]))}


# ---------------------------------------------------------------- the data the tools read


@lru_cache(maxsize=1)
def _tables() -> dict[str, dict[str, dict]]:
    """customers, orders, invoices keyed by id; tickets (id -> customer_id); emails -> customer id."""
    from aieng import data

    def keyed(name: str, key: str) -> dict[str, dict]:
        table = data.load_table(name)
        return {row[key]: row for row in table.to_dict("records")}

    customers = keyed("customers", "customer_id")
    tickets: dict[str, str] = {}  # the data's tickets, every split: update_ticket may act on any of them
    for split in data.SPLITS:
        split_tickets = data.load_tickets(split)
        tickets.update(zip(split_tickets["id"], split_tickets["customer_id"]))
    return {"customers": customers, "orders": keyed("orders", "order_id"),
            "invoices": keyed("invoices", "invoice_id"), "tickets": tickets,
            "emails": {row["email"].lower(): cid for cid, row in customers.items()}}


@lru_cache(maxsize=1)
def _invoices_by_customer() -> dict[str, list[dict]]:
    by_customer: dict[str, list[dict]] = {}
    for invoice in _tables()["invoices"].values():
        by_customer.setdefault(invoice["customer_id"], []).append(invoice)
    return by_customer


@lru_cache(maxsize=1)
def _invoice_of_order() -> dict[str, str]:
    return {invoice["order_id"]: invoice_id for invoice_id, invoice in _tables()["invoices"].items()}


@lru_cache(maxsize=1)
def _help_center():
    from aieng import data, retrieval

    chunks = [chunk for article in data.load_articles() for chunk in retrieval.chunk_by_heading(article)]
    return retrieval.BM25Index(chunks)


def _missing(tool: str, what: str, value: str, how: str) -> ToolError:
    return ToolError(tool, f"{tool}: no {what} {value!r} in Ledgerloop's records. Check the id with the customer, "
                           f"or {how}.")


def _money(value: float) -> float:
    return round(float(value), 2)


# ---------------------------------------------------------------- the tools


def _search_help_center(store: SupportStore, query: str) -> dict:
    hits, seen = [], set()
    for hit in _help_center().search(query, k=4 * _N_SEARCH_HITS):
        if hit.article_id in seen or hit.score <= 0:
            continue
        seen.add(hit.article_id)
        body = hit.text.split("\n\n", 1)[-1]
        snippet = " ".join(body.replace("**", "").split())[:_SNIPPET_CHARS]
        hits.append({"article_id": hit.article_id, "title": hit.title, "snippet": snippet})
        if len(hits) == _N_SEARCH_HITS:
            break
    return {"query": query, "articles": hits}


def _lookup_customer(store: SupportStore, customer_id_or_email: str) -> dict:
    tables = _tables()
    key = customer_id_or_email.strip()
    customer_id = key if key in tables["customers"] else tables["emails"].get(key.lower())
    if customer_id is None:
        raise _missing("lookup_customer", "customer with id or email", key,
                       "ask the customer for the email address of their account")
    customer = tables["customers"][customer_id]
    invoices = sorted(_invoices_by_customer().get(customer_id, []), key=lambda i: i["issued_at"], reverse=True)
    return {"customer_id": customer_id, "company": customer["company"], "contact_name": customer["contact_name"],
            "email": customer["email"], "plan": customer["plan"], "billing_cycle": customer["billing_cycle"],
            "status": customer["status"], "signup_date": customer["signup_date"], "n_invoices": len(invoices),
            "latest_invoices": [{"invoice_id": i["invoice_id"], "issued_at": i["issued_at"],
                                 "amount_usd": _money(i["amount_usd"]), "status": i["status"]} for i in invoices[:3]]}


def _lookup_order(store: SupportStore, order_id: str) -> dict:
    order = _tables()["orders"].get(order_id)
    if order is None:
        raise _missing("lookup_order", "order", order_id, "look up the customer to list their latest invoices")
    return {"order_id": order_id, "customer_id": order["customer_id"], "created_at": order["created_at"],
            "item": order["item"], "quantity": int(order["quantity"]), "amount_usd": _money(order["amount_usd"]),
            "status": order["status"], "invoice_id": _invoice_of_order().get(order_id)}


def _refunded(store_state: dict, invoice_id: str) -> float:
    return _money(sum(r["amount_usd"] for r in store_state["refunds"] if r["invoice_id"] == invoice_id))


def _lookup_invoice(store: SupportStore, invoice_id: str) -> dict:
    invoice = _tables()["invoices"].get(invoice_id)
    if invoice is None:
        raise _missing("lookup_invoice", "invoice", invoice_id, "look up the customer to list their latest invoices")
    return {"invoice_id": invoice_id, "customer_id": invoice["customer_id"], "order_id": invoice["order_id"],
            "issued_at": invoice["issued_at"], "amount_usd": _money(invoice["amount_usd"]),
            "tax_usd": _money(invoice["tax_usd"]), "status": invoice["status"],
            "refund_requested_usd": _refunded(store.read(), invoice_id)}


def _open_ticket(store: SupportStore, customer_id: str, subject: str, body: str) -> dict:
    if customer_id not in _tables()["customers"]:
        raise _missing("open_ticket", "customer", customer_id, "call lookup_customer with their email first")
    state = store.read()
    ticket_id = f"T-{_FIRST_OPENED + len(state['tickets'])}"
    state["tickets"].append({"ticket_id": ticket_id, "customer_id": customer_id, "subject": subject, "body": body,
                             "status": "open"})
    store._write(state)
    return {"ticket_id": ticket_id, "customer_id": customer_id, "status": "open"}


def _update_ticket(store: SupportStore, ticket_id: str, status: str, note: str) -> dict:
    state = store.read()
    opened = {t["ticket_id"]: t["customer_id"] for t in state["tickets"]}
    customer_id = _tables()["tickets"].get(ticket_id) or opened.get(ticket_id)
    if customer_id is None:
        raise _missing("update_ticket", "ticket", ticket_id, "open a new ticket with open_ticket")
    state["updates"].append({"ticket_id": ticket_id, "status": status, "note": note})
    store._write(state)
    return {"ticket_id": ticket_id, "customer_id": customer_id, "status": status}


def _request_refund(store: SupportStore, invoice_or_order_id: str, amount_usd: float, reason: str) -> dict:
    tool = "request_refund"
    invoice_id = _invoice_of_order().get(invoice_or_order_id, invoice_or_order_id)
    invoice = _tables()["invoices"].get(invoice_id)
    if invoice is None:
        what = "order" if invoice_or_order_id.startswith("ORD-") else "invoice"
        raise _missing(tool, what, invoice_or_order_id, "look up the customer to list their latest invoices")
    if invoice["status"] != "paid":
        raise ToolError(tool, f"{tool}: invoice {invoice_id} is {invoice['status']}, not paid, so there is nothing "
                              "to refund. Tell the customer, or open a ticket for billing to look at it.")
    state = store.read()
    total = _money(invoice["amount_usd"] + invoice["tax_usd"])
    left = _money(total - _refunded(state, invoice_id))
    amount_usd = _money(amount_usd)
    if amount_usd > left:
        raise ToolError(tool, f"{tool}: {amount_usd:.2f} USD is more than the {left:.2f} USD still refundable on "
                              f"{invoice_id} (total {total:.2f} USD). Ask for at most {left:.2f} USD.")
    refund_id = f"RF-{len(state['refunds']) + 1:04d}"
    state["refunds"].append({"refund_id": refund_id, "invoice_id": invoice_id, "order_id": invoice["order_id"],
                             "customer_id": invoice["customer_id"], "amount_usd": amount_usd, "reason": reason})
    store._write(state)
    return {"refund_id": refund_id, "invoice_id": invoice_id, "customer_id": invoice["customer_id"],
            "amount_usd": amount_usd, "status": "requested"}


_RUN = {"search_help_center": _search_help_center, "lookup_customer": _lookup_customer,
        "lookup_order": _lookup_order, "lookup_invoice": _lookup_invoice, "open_ticket": _open_ticket,
        "update_ticket": _update_ticket, "request_refund": _request_refund}


def _spec(name: str) -> ToolSpec:
    if name not in TOOLS:
        close = difflib.get_close_matches(str(name), TOOLS, n=1, cutoff=0.5)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        raise ToolError(str(name), f"Unknown tool {name!r}.{guess} Call one of: {', '.join(TOOLS)}.")
    return TOOLS[name]


def _schema_problem(spec: ToolSpec, error: jsonschema.ValidationError) -> str:
    properties, required = spec.parameters["properties"], spec.parameters["required"]
    if error.validator == "additionalProperties":
        unexpected = sorted(set(error.instance) - set(properties))
        return (f"{spec.name}: unexpected argument(s) {', '.join(map(repr, unexpected))}. "
                f"Use only: {', '.join(properties)}.")
    if error.validator == "required":
        return f"{spec.name}: {error.message}. Pass every required argument: {', '.join(required)}."
    if error.validator == "type" and not error.path:
        return f"{spec.name}: the arguments must be a JSON object with {', '.join(required)}."
    description = properties[error.path[0]]["description"]
    return (f"{spec.name}: argument {error.path[0]!r}: {error.message}. "
            f"It takes {description[0].lower()}{description[1:]}")


def call_tool(name: str, arguments: dict[str, Any] | str, *, store: SupportStore) -> dict:
    """The tool's result (a small JSON-able dict), after checking `arguments` against its schema.

    `arguments` may be the JSON text a model wrote (a Chat Completions tool call's `arguments`).
    Raises ToolError for an unknown tool, arguments that fail the schema or are not JSON, or an id
    that does not exist; the message says what to do instead. Tools that change data write `store`."""
    spec = _spec(name)
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError as err:
            raise ToolError(name, f"{name}: the arguments are not valid JSON ({err.msg}). Send a JSON object "
                                  f"with {', '.join(spec.parameters['required'])}.") from err
    validator = jsonschema.Draft202012Validator(spec.parameters)
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is not None:
        raise ToolError(name, _schema_problem(spec, error))
    return _RUN[name](store, **arguments)


def openai_tools(names: list[str] | None = None) -> list[dict]:
    """The tools (all, or those named, in that order) as Chat Completions `tools` entries."""
    return [{"type": "function", "function": {"name": spec.name, "description": spec.description,
                                              "parameters": spec.parameters}}
            for spec in map(_spec, TOOLS if names is None else names)]
