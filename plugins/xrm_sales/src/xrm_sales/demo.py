"""Demo data for ``xrm demo``: a catalogue, leads, deals across stages, quotes, orders, contracts.

Deterministic (one seeded random generator), owned by the demo users the
contacts plugin makes (``alice``, ``bob``, ``carol``, looked up by username), and
built on contacts' demo accounts. Running it again adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from xrm_core import XRM, Action, ActionContext
from xrm_sales.orders import ConvertInput, ConvertOutput, convert_to_order
from xrm_sales.pipeline import OPEN_STAGES

DEMO_USERS = ("alice", "bob", "carol")
_PRODUCTS = [
    ("CRM-SEAT", "CRM seat, one year", "1200"),
    ("SUPPORT-GOLD", "Gold support, one year", "4800"),
    ("ONBOARD", "Onboarding workshop (2 days)", "3000"),
    ("LAPTOP-14", "Laptop 14-inch", "1450"),
    ("DOCK", "Docking station", "220"),
    ("TRAINING", "User training (1 day)", "900"),
]
_SOURCES = ["web", "referral", "event", "campaign", "cold_call", "partner"]
_TERRITORIES = ["north", "north", "south", "west"]
_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
_STAGES = [*OPEN_STAGES, "won", "won", "lost"]


def load(xrm: XRM, size: int, *, seed: int = 7) -> dict[str, int]:
    """Add ``size`` leads and, scaled to it, the rest; returns the records added per entity."""
    if xrm.records("lead").count() > 0:
        return {}
    rng = random.Random(seed)
    owners = _owners(xrm)
    accounts = [
        a["id"]
        for a in xrm.records("account").query(
            order=["name"], limit=max(10, size // 2), fields=["id"]
        )
    ]
    with xrm.transaction():
        products = _catalogue(xrm)
        added = {"product": len(products), "price_list": 1}
        leads = _leads(xrm, rng, size, owners)
        added["lead"] = len(leads)
        deals = _deals(xrm, rng, max(1, size // 2), owners, accounts)
        added["opportunity"] = len(deals)
        added.update(_quotes(xrm, rng, deals, products))
        added["activity"] = _activities(xrm, rng, deals, leads)
    return added


def _owners(xrm: XRM) -> list[uuid.UUID]:
    found = xrm.records("user").query(
        filter={"username": {"in": list(DEMO_USERS)}}, order=["username"], fields=["id"]
    )
    return [u["id"] for u in found]


def _owned(rng: random.Random, owners: list[uuid.UUID]) -> dict[str, Any]:
    return {"owner_id": rng.choice(owners), "owner_type": "user"} if owners else {}


def _catalogue(xrm: XRM) -> dict[str, uuid.UUID]:
    prices = xrm.records("price_list").create({"name": "Standard EUR", "currency": "EUR"})
    products: dict[str, uuid.UUID] = {}
    for code, name, price in _PRODUCTS:
        product = xrm.records("product").create({"code": code, "name": name})
        xrm.records("price_list_entry").create(
            {"price_list": prices["id"], "product": product["id"], "unit_price": price}
        )
        products[code] = product["id"]
    products["_price_list"] = prices["id"]
    return products


def _leads(
    xrm: XRM, rng: random.Random, size: int, owners: list[uuid.UUID]
) -> list[dict[str, Any]]:
    rows = []
    for i in range(size):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "company": f"{last} {rng.choice(['Labs', 'Systems', 'Trading', 'Group'])}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.org",
                "territory": rng.choice(_TERRITORIES),
                "source": rng.choice(_SOURCES),
                "status": rng.choice(["new", "new", "working", "disqualified"]),
                "score": rng.randint(0, 100),
                "estimated_amount": rng.randrange(1000, 60000, 500),
                **_owned(rng, owners),
            }
        )
    if not rows:
        return []
    made = xrm.records("lead").create_many(rows)
    return [r.record for r in made.rows if r.record is not None]


def _deals(
    xrm: XRM,
    rng: random.Random,
    count: int,
    owners: list[uuid.UUID],
    accounts: list[uuid.UUID],
) -> list[dict[str, Any]]:
    first_month = dt.date(2025, 1, 1)
    rows = [
        {
            "name": f"Deal {i + 1:04d}",
            "account": accounts[i % len(accounts)] if accounts else None,
            "stage": rng.choice(_STAGES),
            "amount": rng.randrange(2000, 90000, 250),
            "currency": "EUR",
            "expected_close": first_month + dt.timedelta(days=rng.randrange(0, 365)),
            **_owned(rng, owners),
        }
        for i in range(count)
    ]
    made = xrm.records("opportunity").create_many(rows)
    return [r.record for r in made.rows if r.record is not None]


def _quotes(
    xrm: XRM, rng: random.Random, deals: list[dict[str, Any]], products: dict[str, uuid.UUID]
) -> dict[str, int]:
    """A quote for each deal past qualification; won deals' quotes become orders and contracts."""
    added = {"quote": 0, "quote_line": 0, "order": 0, "contract": 0}
    codes = [code for code, _, _ in _PRODUCTS]
    for deal in deals:
        if deal["stage"] in ("prospecting", "qualification"):
            continue
        owner = _owner_of(deal)
        quote = xrm.records("quote").create(
            {
                "name": f"Quote for {deal['name']}",
                "opportunity": deal["id"],
                "account": deal["account"],
                "price_list": products["_price_list"],
                "status": "accepted" if deal["stage"] == "won" else "sent",
                **owner,
            }
        )
        added["quote"] += 1
        for position, code in enumerate(rng.sample(codes, rng.randint(1, 3)), start=1):
            xrm.records("quote_line").create(
                {
                    "quote": quote["id"],
                    "product": products[code],
                    "position": position,
                    "quantity": rng.randint(1, 20),
                    "discount_percent": rng.choice([0, 0, 5, 10]),
                    "tax_percent": 20,
                    **owner,
                }
            )
            added["quote_line"] += 1
        if deal["stage"] == "won":
            close = deal["expected_close"]
            out = _convert(xrm, quote["id"], close)
            added["order"] += 1
            xrm.records("contract").create(
                {
                    "name": f"Contract for {deal['name']}",
                    "account": deal["account"],
                    "order": out.order_id,
                    "start_date": close,
                    "end_date": close + dt.timedelta(days=365),
                    "renewal_date": close + dt.timedelta(days=335),
                    "value": out.total,
                    **owner,
                }
            )
            added["contract"] += 1
    return added


def _convert(xrm: XRM, quote_id: uuid.UUID, ordered_on: dt.date) -> ConvertOutput:
    """quote.convert_to_order, called directly: the demo may run before actions are served."""
    action = Action("quote", "convert_to_order", ConvertInput, ConvertOutput, convert_to_order)
    return convert_to_order(
        ActionContext(xrm, action, quote_id), quote_id, ConvertInput(ordered_on=ordered_on)
    )


def _activities(
    xrm: XRM, rng: random.Random, deals: list[dict[str, Any]], leads: list[dict[str, Any]]
) -> int:
    """A call, meeting or e-mail about each deal, and a call to each lead being worked.

    ``activity.regarding`` points at any record, so each shows on the deal's or
    the lead's own timeline.
    """
    rows = []
    for deal in deals:
        kind = rng.choice(["call", "meeting", "email"])
        due = dt.datetime.combine(deal["expected_close"], dt.time(10), tzinfo=dt.UTC)
        rows.append(
            {
                "kind": kind,
                "subject": f"{kind.title()} about {deal['name']}",
                "status": "done" if deal["stage"] in ("won", "lost") else "open",
                "due": due - dt.timedelta(days=14),
                "regarding": {"entity": "opportunity", "id": str(deal["id"])},
                **_owner_of(deal),
            }
        )
    for lead in leads:
        if lead["status"] != "working":
            continue
        rows.append(
            {
                "kind": "call",
                "subject": f"Qualifying call with {lead['first_name']} {lead['last_name']}",
                "status": "done",
                "due": dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)
                + dt.timedelta(days=rng.randrange(0, 90), hours=rng.randrange(0, 8)),
                "regarding": {"entity": "lead", "id": str(lead["id"])},
                **_owner_of(lead),
            }
        )
    return len(xrm.records("activity").create_many(rows).succeeded) if rows else 0


def _owner_of(record: dict[str, Any]) -> dict[str, Any]:
    """The same owner as ``record`` (a deal's activities are its owner's)."""
    return {"owner_id": record["owner_id"], "owner_type": "user"} if record["owner_id"] else {}
