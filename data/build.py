"""Build the running case's data files from the hand-written sources. Deterministic (seeded).

    python data/build.py

Reads  data/source/tickets/<intent>.jsonl  (tickets as written, with {placeholders})
Writes data/tickets/{train,validation,test}.jsonl, data/customers.csv, data/plans.csv,
       data/orders.csv, data/invoices.csv

Each ticket gets an id, a date and a customer of its tier; placeholders are filled from that
customer's records, so ids in ticket text exist in the tables. Tickets that read alike
(TF-IDF cosine >= 0.6) are kept in one split, so no near-duplicate crosses train and test.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

SEED = 20261101
HERE = Path(__file__).resolve().parent
SPLIT_SHARES = {"train": 0.60, "validation": 0.15, "test": 0.25}
NEAR_DUPLICATE = 0.6

PLANS = [  # plan, monthly_usd, annual_usd, max_users, bank_feeds, recurring_invoices, api_access
    ("free", 0, 0, 1, 0, False, False),
    ("starter", 15, 150, 2, 1, False, False),
    ("growth", 39, 390, 5, -1, True, False),
    ("scale", 79, 790, -1, -1, True, True),
]
FIRST_NAMES = """Marta Jonas Priya Tom Aisha Lukas Sofia Ben Chloe Mateus Anna Kwame Elif Daniel Hannah Omar Lucia
Pieter Grace Ravi Niamh Yusuf Emma Carlos Ingrid Sam Mei Tariq Laura Felix Joanna Diego Fatima Oliver Zofia Ahmed
Claire Ibrahim Rosa Henrik Leah Vikram Nadia Patrick Ewa Hugo Amara Stefan Bea Kofi Isla Marco Ruth Andrei Nora""".split()
LAST_NAMES = """Okafor Schmidt Patel Walsh Haddad Novak Rossi Brennan Dubois Silva Kowalski Mensah Yilmaz Fischer Byrne
Khan Garcia Lindqvist Moreau Chen Ahmed Murphy Costa Nowak Jansen Evans Sato Romero Hughes Berg""".split()
BUSINESSES = """Bakery|Plumbing|Design Studio|Dental Care|Yoga Studio|Electrical|Translations|Consulting|Landscaping|
Photography|Print Shop|Physio|Coffee Roasters|Joinery|Bookkeeping|Architects|Florist|Tutoring|Catering|IT Services|
Veterinary|Cleaning Co|Events|Ceramics|Bike Repairs|Hair Salon|Marketing|Removals|Pottery|Recording Studio""".replace("\n", "").split("|")
PLACES = """Harbour Northgate Oakfield Riverside Elm Brightwater Kestrel Linden Meadow Copper Fern Granite Willow Beacon
Thistle Juniper Highfield Saltmarsh Foxglove Larch""".split()
COUNTRIES = {"US": 0.4, "GB": 0.3, "DE": 0.08, "FR": 0.07, "IE": 0.05, "NL": 0.05, "CA": 0.05}


def read_sources() -> list[dict]:
    tickets = []
    for path in sorted((HERE / "source" / "tickets").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                ticket = json.loads(line)
                ticket["source"] = f"{path.name}:{n}"
                tickets.append(ticket)
    return tickets


def make_customer(rng: random.Random, n: int, tier: str) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company = f"{rng.choice(PLACES)} {rng.choice(BUSINESSES)}"
    domain = company.lower().replace(" ", "")[:18] + rng.choice([".com", ".co.uk", ".de", ".net", ".io"])
    signup = date(2022, 1, 1) + timedelta(days=rng.randrange(0, 1400))
    return {
        "customer_id": f"C-{n:05d}", "company": company, "contact_name": f"{first} {last}",
        "email": f"{first.lower()}@{domain}", "country": rng.choices(list(COUNTRIES), weights=list(COUNTRIES.values()))[0],
        "plan": tier, "billing_cycle": "none" if tier == "free" else rng.choice(["monthly", "monthly", "annual"]),
        "signup_date": signup.isoformat(), "status": rng.choices(["active", "read_only", "cancelled"], weights=[90, 6, 4])[0],
    }


def make_orders_and_invoices(rng: random.Random, customer: dict, until: date, counters: dict) -> tuple[list, list]:
    """A customer's purchase history up to `until`: plan purchases/renewals, seats, add-ons."""
    if customer["plan"] == "free":
        return [], []
    plan = next(p for p in PLANS if p[0] == customer["plan"])
    annual = customer["billing_cycle"] == "annual"
    orders, invoices = [], []
    day = date.fromisoformat(customer["signup_date"])
    step = 365 if annual else 30
    periods = []
    while day <= until:
        periods.append(day)
        day += timedelta(days=step)
    # Monthly customers: keep the last 8 periods, so tables stay small but recent.
    for i, start in enumerate(periods[-8:]):
        item = f"plan_{plan[0]}_{'annual' if annual else 'monthly'}"
        amount = plan[2] if annual else plan[1]
        lines = [(item, 1, amount)]
        if plan[0] in ("growth", "scale") and rng.random() < 0.15 and i == 0:
            lines.append(("addon_payroll", rng.randint(2, 14), 6))
        if plan[0] == "starter" and rng.random() < 0.2 and i == 0:
            lines.append(("extra_seat", rng.randint(1, 3), 8))
        for sku, qty, unit in lines:
            counters["order"] += rng.randint(1, 9)
            order_id = f"ORD-{counters['order']:05d}"
            total = round(qty * unit * (12 if annual and sku != item else 1), 2)
            is_last = start == periods[-1]
            status = rng.choices(["paid", "failed", "refunded"], weights=[92, 4, 4])[0] if is_last else "paid"
            created = datetime.combine(start, datetime.min.time()) + timedelta(hours=rng.randint(6, 20), minutes=rng.randint(0, 59))
            orders.append({"order_id": order_id, "customer_id": customer["customer_id"], "created_at": created.isoformat(),
                           "item": sku, "quantity": qty, "amount_usd": f"{total:.2f}", "status": status})
            counters["invoice"] += rng.randint(1, 7)
            tax_rate = 0.2 if customer["country"] in ("GB", "DE", "FR", "IE", "NL") and rng.random() < 0.7 else 0.0
            invoices.append({"invoice_id": f"INV-{counters['invoice']:06d}", "customer_id": customer["customer_id"],
                             "order_id": order_id, "issued_at": start.isoformat(), "amount_usd": f"{total:.2f}",
                             "tax_usd": f"{total * tax_rate:.2f}", "status": {"paid": "paid", "failed": "unpaid",
                                                                              "refunded": "refunded"}[status]})
    return orders, invoices


def placeholder_values(text: str, customer: dict, orders: list, invoices: list, rng: random.Random) -> dict:
    """One value per placeholder for a ticket, so subject and body quote the same ids."""
    values = {"{name}": customer["contact_name"].split()[0], "{company}": customer["company"], "{email}": customer["email"]}
    if "{order_id}" in text:
        values["{order_id}"] = rng.choice(orders[-3:])["order_id"]
    if "{invoice_id}" in text:
        values["{invoice_id}"] = rng.choice(invoices[-3:])["invoice_id"]
    return values


def fill_placeholders(text: str, values: dict) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def near_duplicate_groups(texts: list[str]) -> list[int]:
    """A group number per text; texts with cosine >= NEAR_DUPLICATE share a group (transitively)."""
    matrix = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1).fit_transform(texts)
    similar = cosine_similarity(matrix) >= NEAR_DUPLICATE
    group = list(range(len(texts)))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(similar, k=1))):
        group[root(i)] = root(j)
    return [root(i) for i in range(len(texts))]


def assign_splits(tickets: list[dict], rng: random.Random) -> None:
    """Stratified by intent; whole near-duplicate groups go to one split."""
    groups = near_duplicate_groups([f"{t['subject']} {t['body']}" for t in tickets])
    by_intent: dict[str, list[int]] = {}
    for i, t in enumerate(tickets):
        by_intent.setdefault(t["intent"], []).append(i)
    for intent, members in sorted(by_intent.items()):
        rng.shuffle(members)
        n = len(members)
        n_test, n_val = round(n * SPLIT_SHARES["test"]), round(n * SPLIT_SHARES["validation"])
        for k, i in enumerate(members):
            tickets[i]["split"] = "test" if k < n_test else "validation" if k < n_test + n_val else "train"
    # A group spread over splits follows its first member's split.
    first_split: dict[int, str] = {}
    for i, g in enumerate(groups):
        tickets[i]["split"] = first_split.setdefault(g, tickets[i]["split"])


def main() -> None:
    rng = random.Random(SEED)
    tickets = read_sources()
    rng.shuffle(tickets)
    counters = {"order": 10000, "invoice": 200000}
    customers, orders, invoices = [], [], []
    start = datetime(2026, 3, 2, 7, 0)
    for n, ticket in enumerate(tickets, 1):
        created = start + timedelta(minutes=rng.randint(0, 60 * 24 * 240))
        reuse = [c for c in customers if c["plan"] == ticket["tier"]]
        if reuse and rng.random() < 0.15 and "{" not in ticket["body"] + ticket["subject"]:
            customer = rng.choice(reuse)  # some customers write more than once
        else:
            customer = make_customer(rng, len(customers) + 1, ticket["tier"])
            if ticket["intent"] == "billing" and customer["plan"] != "free":
                customer["status"] = rng.choices(["active", "read_only"], weights=[80, 20])[0]
            customers.append(customer)
            new_orders, new_invoices = make_orders_and_invoices(rng, customer, created.date(), counters)
            orders += new_orders
            invoices += new_invoices
        mine_orders = [o for o in orders if o["customer_id"] == customer["customer_id"]]
        mine_invoices = [i for i in invoices if i["customer_id"] == customer["customer_id"]]
        if ("{order_id}" in ticket["body"] + ticket["subject"] and not mine_orders) or (
                "{invoice_id}" in ticket["body"] + ticket["subject"] and not mine_invoices):
            raise SystemExit(f"{ticket['source']}: quotes an order/invoice but its tier {ticket['tier']!r} has none")
        values = placeholder_values(ticket["subject"] + ticket["body"], customer, mine_orders, mine_invoices, rng)
        ticket.update({
            "id": f"T-{10000 + n}", "created_at": created.isoformat(timespec="minutes"), "customer_id": customer["customer_id"],
            "subject": fill_placeholders(ticket["subject"], values), "body": fill_placeholders(ticket["body"], values),
        })
    assign_splits(tickets, rng)
    fields = ["id", "created_at", "channel", "tier", "customer_id", "subject", "body", "intent", "priority"]
    (HERE / "tickets").mkdir(exist_ok=True)
    for split in SPLIT_SHARES:
        rows = sorted((t for t in tickets if t["split"] == split), key=lambda t: t["id"])
        with open(HERE / "tickets" / f"{split}.jsonl", "w", encoding="utf-8") as out:
            for t in rows:
                out.write(json.dumps({k: t[k] for k in fields}, ensure_ascii=False) + "\n")
        print(f"{split}: {len(rows)} tickets")
    write_csv("customers.csv", customers)
    write_csv("orders.csv", orders)
    write_csv("invoices.csv", invoices)
    write_csv("plans.csv", [dict(zip(["plan", "monthly_usd", "annual_usd", "max_users", "bank_feeds",
                                      "recurring_invoices", "api_access"], p)) for p in PLANS])
    print(f"{len(customers)} customers, {len(orders)} orders, {len(invoices)} invoices")


def write_csv(name: str, rows: list[dict]) -> None:
    with open(HERE / name, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
