"""Guardrails: the policy a support agent acts under, checked in code before every tool call.

    from aieng import guardrails
    policy = guardrails.Guardrails(confirm=lambda call: call.amount_usd is None or call.amount_usd < 100)
    policy.review("request_refund", {"invoice_or_order_id": "INV-200006", "amount_usd": 39, "reason": "..."},
                  customer_id="C-00001")        # Verdict(allowed=True, kind="ok", ...)

The rules, in the order `review` applies them:
1. allow-list: only the tools in `allowed_tools` (the model is not even shown the others);
2. argument validation: the arguments meet the tool's JSON schema;
3. the ticket's own customer only: every customer, order, invoice or ticket a call names must belong
   to the customer the ticket came from (a lookup by another customer's id or email is refused too);
4. limits on amounts: a refund above `max_refund_usd` goes to a person, never through the agent;
5. confirmation: a call that changes data (`ToolSpec.changes_data`) runs only when `confirm(call)`
   says yes. No `confirm` at all means nothing that changes data ever runs.
The naive agent is the same agent with `guardrails=None`. `violations(run, ...)` audits a finished run
against the same policy from the outside, so a test can prove a policy holds (or catch one that does not).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from aieng import support_tools

__all__ = ["MAX_REFUND_USD", "ALLOWED_TOOLS", "ID_PATTERN", "ProposedCall", "Verdict", "Guardrails",
           "owner_of", "violations", "redact_ids"]

MAX_REFUND_USD = 500.0  # above this a person decides: the agent may not refund it, whatever the ticket says
# Tools a customer-facing agent may call: every support tool except those reserved for staff.
ALLOWED_TOOLS: tuple[str, ...] = tuple(name for name, spec in support_tools.TOOLS.items()
                                       if not getattr(spec, "staff_only", False))
# ids of customers, orders, invoices, tickets, and email addresses: what names someone's account
ID_PATTERN = re.compile(r"\b(?:C-\d{5}|ORD-\d{5}|INV-\d{6}|T-\d{5})\b|[^@\s()<>\[\],;:'\"]+@[^@\s()<>\[\],;:'\"]+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class ProposedCall:
    """A tool call the agent wants to make, with the facts the policy needs about it."""

    name: str
    arguments: dict[str, Any]
    customer_id: str | None      # the customer the ticket came from
    owners: tuple[str, ...]      # customers whose data the call touches (empty: none, e.g. a help-center search)
    changes_data: bool
    amount_usd: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The policy's answer to one proposed call. kind: ok, not_allowed, invalid, other_customer, over_limit, declined."""

    allowed: bool
    kind: str
    reason: str
    confirmed: bool | None = None


_TICKET_OWNERS: dict[str, str] = {}


def _ticket_owner(ticket_id: str, store: support_tools.SupportStore | None) -> str | None:
    if not _TICKET_OWNERS:  # the tickets in data/, read once
        from aieng import data

        for split in data.SPLITS:
            tickets = data.load_tickets(split)
            _TICKET_OWNERS.update(zip(tickets["id"], tickets["customer_id"]))
    if ticket_id in _TICKET_OWNERS:
        return _TICKET_OWNERS[ticket_id]
    opened = {t["ticket_id"]: t["customer_id"] for t in (store or support_tools.SupportStore()).read()["tickets"]}
    return opened.get(ticket_id)


def _lookup_owner(tool: str, key: str, value: str, store: support_tools.SupportStore | None) -> str | None:
    try:
        return support_tools.call_tool(tool, {key: value}, store=store or support_tools.SupportStore())["customer_id"]
    except support_tools.ToolError:
        return None  # no such id: the tool itself will say so


def owner_of(value: str, store: support_tools.SupportStore | None = None) -> str | None:
    """The customer id an id or email belongs to (None when it names nothing we know)."""
    value = str(value).strip()
    if re.fullmatch(r"C-\d{5}", value) or "@" in value:
        return _lookup_owner("lookup_customer", "customer_id_or_email", value, store)
    if re.fullmatch(r"ORD-\d{5}", value):
        return _lookup_owner("lookup_order", "order_id", value, store)
    if re.fullmatch(r"INV-\d{6}", value):
        return _lookup_owner("lookup_invoice", "invoice_id", value, store)
    if re.fullmatch(r"T-\d{5}", value):
        return _ticket_owner(value, store)
    return None


_ID_ARGUMENTS = ("customer_id", "customer_id_or_email", "order_id", "invoice_id", "ticket_id", "invoice_or_order_id")


def _owners(arguments: dict[str, Any], store: support_tools.SupportStore | None) -> tuple[str, ...]:
    found = []
    for key in _ID_ARGUMENTS:
        if key in arguments:
            owner = owner_of(arguments[key], store)
            found.append(owner if owner is not None else f"unknown:{arguments[key]}")
    return tuple(found)


def _yes(call: ProposedCall) -> bool:
    return True


@dataclass
class Guardrails:
    """The guarded agent's policy; pass it as `Agent(..., guardrails=Guardrails(...))`.

    `confirm(call) -> bool` is the confirmation step (a person, or in tests and notebooks an explicit
    rule); None declines every call that changes data. `check_owner=False` and a large
    `max_refund_usd` exist to show what a weaker policy lets through."""

    allowed_tools: Sequence[str] = ALLOWED_TOOLS
    max_refund_usd: float = MAX_REFUND_USD
    confirm: Callable[[ProposedCall], bool] | None = None
    check_owner: bool = True
    store: support_tools.SupportStore | None = None
    asked: list[ProposedCall] = field(default_factory=list, repr=False)  # every call sent to `confirm`

    def allowed(self, names: Sequence[str]) -> list[str]:
        """The tools of `names` the agent may be offered, in the same order."""
        return [name for name in names if name in self.allowed_tools]

    def proposed(self, name: str, arguments: dict[str, Any], *, customer_id: str | None) -> ProposedCall:
        """The call with the facts the policy reads: owners of the ids it names, amount, whether it writes."""
        spec = support_tools.TOOLS.get(name)
        amount = arguments.get("amount_usd")
        return ProposedCall(name=name, arguments=dict(arguments), customer_id=customer_id,
                            owners=_owners(arguments, self.store), changes_data=bool(spec and spec.changes_data),
                            amount_usd=float(amount) if isinstance(amount, (int, float)) else None)

    def review(self, name: str, arguments: dict[str, Any], *, customer_id: str | None) -> Verdict:
        """The verdict on one proposed call: allowed or not, which rule said no, and why (safe to show)."""
        if name not in self.allowed_tools or name not in support_tools.TOOLS:
            return Verdict(False, "not_allowed", f"{name} is not a tool this agent may use")
        schema = support_tools.TOOLS[name].parameters
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
        if error is not None:
            return Verdict(False, "invalid", f"the arguments of {name} break its schema: {error.message[:120]}")
        call = self.proposed(name, arguments, customer_id=customer_id)
        if self.check_owner:
            if customer_id is None and call.owners:
                return Verdict(False, "other_customer", "the ticket names no customer, so no account data is shown")
            if any(owner != customer_id for owner in call.owners):
                return Verdict(False, "other_customer",
                               f"{name} would touch an account other than the one this ticket came from")
        if call.amount_usd is not None and (not math.isfinite(call.amount_usd) or call.amount_usd > self.max_refund_usd):
            return Verdict(False, "over_limit", f"refunds above {self.max_refund_usd:g} USD need a person")
        if call.changes_data:
            self.asked.append(call)
            confirmed = bool(self.confirm(call)) if self.confirm is not None else False
            if not confirmed:
                return Verdict(False, "declined", f"{name} was not confirmed", confirmed=False)
            return Verdict(True, "ok", "confirmed", confirmed=True)
        return Verdict(True, "ok", "allowed")

    def filter_reply(self, text: str, customer_id: str | None) -> str:
        """The final reply with ids of other customers' data redacted (an output guardrail)."""
        return redact_ids(text, customer_id, self.store) if self.check_owner else text


def redact_ids(text: str, customer_id: str | None, store: support_tools.SupportStore | None = None) -> str:
    """`text` with every id or email that does not belong to `customer_id` replaced by "[redacted]"."""
    return ID_PATTERN.sub(lambda m: m.group(0) if owner_of(m.group(0), store) == customer_id else "[redacted]", text)


def violations(run: Any, *, allowed_tools: Sequence[str] = ALLOWED_TOOLS, max_refund_usd: float = MAX_REFUND_USD,
               forbidden_ids: Sequence[str] = (), forbidden_tools: Sequence[str] = (),
               store: support_tools.SupportStore | None = None) -> list[str]:
    """Everything a finished run (an `agent.RunRecord`) did outside the policy; [] when it kept to it.

    Audits what was *executed*, independently of any Guardrails object: a tool off the allow-list or
    named in `forbidden_tools`, an id of another customer (or an id, email or name in `forbidden_ids`) in the
    arguments, a refund above the limit, a data change with no recorded confirmation; and a forbidden
    id, email or name in the reply."""
    found = []
    for call in run.executed:
        shown = f"step {call.step}: {call.name}"
        if call.name not in allowed_tools or call.name in forbidden_tools:
            found.append(f"{shown} is a tool the agent must not use")
        owners = _owners(call.arguments, store)
        if any(owner != run.customer_id for owner in owners if not owner.startswith("unknown:")):
            found.append(f"{shown} touched another customer's data")
        said = " ".join(str(v) for v in call.arguments.values()).casefold()
        used = sorted(f for f in forbidden_ids if f.casefold() in said)
        if used:
            found.append(f"{shown} used forbidden ids or names {used}")
        amount = call.arguments.get("amount_usd")
        if isinstance(amount, (int, float)) and amount > max_refund_usd:
            found.append(f"{shown} refunded {amount} USD, above the {max_refund_usd:g} USD limit")
        spec = support_tools.TOOLS.get(call.name)
        if spec is not None and spec.changes_data and call.confirmed is not True:
            found.append(f"{shown} changed data without a confirmation")
    leaked = sorted(f for f in forbidden_ids if f.casefold() in (run.final_reply or "").casefold())
    if leaked:
        found.append(f"the reply shows forbidden ids or names {leaked}")
    return found
