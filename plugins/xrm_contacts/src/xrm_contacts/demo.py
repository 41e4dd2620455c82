"""Deterministic demo data: accounts, their contacts and activities, owned by three users."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from xrm_core import XRM

#: The demo's people: (username, full name, business unit). Sales looks them up by username.
DEMO_USERS = [
    ("alice", "Alice Archer", "North"),
    ("bob", "Bob Baker", "North"),
    ("carol", "Carol Chen", "South"),
]
#: Roles the demo users get when a plugin providing them is installed (sales does).
_ROLES = {"alice": ["Sales Manager"], "bob": ["Salesperson"], "carol": ["Salesperson"]}
_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Ken",
    "Margaret",
    "Tim",
    "Hedy",
    "Linus",
    "Sophie",
    "Dennis",
    "Anita",
    "Guido",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Perlman",
    "Thompson",
    "Hamilton",
    "Berners-Lee",
    "Lamarr",
    "Wilson",
    "Ritchie",
    "Borg",
]
_COMPANY = [
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Initech",
    "Globex",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Acme",
    "Hooli",
    "Vandelay",
    "Wonka",
]
_SUFFIX = ["Ltd", "Group", "Labs", "Trading", "Systems", "Foods", "Logistics", "Partners"]
_INDUSTRY = ["retail", "technology", "manufacturing", "finance", "food", "transport", "health"]
_CITIES = [
    ("London", "United Kingdom"),
    ("Leeds", "United Kingdom"),
    ("Paris", "France"),
    ("Lyon", "France"),
    ("Berlin", "Germany"),
    ("Madrid", "Spain"),
    ("Oslo", "Norway"),
]
_STREETS = ["High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue"]
_SUBJECTS = {
    "call": ["Introductory call", "Follow-up call", "Support call"],
    "email": ["Sent the brochure", "Answered a pricing question", "Sent the proposal"],
    "meeting": ["Kick-off meeting", "Quarterly review", "Site visit"],
    "task": ["Prepare the offer", "Send the contract", "Check the invoice"],
    "note": ["Prefers calls after 2pm", "Budget approved for next year", "New purchasing lead"],
}
_START = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)


def demo_users(xrm: XRM) -> dict[str, uuid.UUID]:
    """The demo users (created, with units North and South, if missing), by username."""
    units = xrm.records("business_unit")
    root = xrm.security.root_business_unit()
    ids: dict[str, uuid.UUID] = {}
    for username, full_name, unit_name in DEMO_USERS:
        found = xrm.records("user").query(filter={"username": username}, limit=1).records
        if found:
            ids[username] = found[0]["id"]
            continue
        unit = units.query(filter={"name": unit_name}, limit=1).records
        unit_id = unit[0]["id"] if unit else units.create({"name": unit_name, "parent": root})["id"]
        roles = [r for r in _ROLES[username] if _role_exists(xrm, r)]
        ids[username] = xrm.security.create_user(
            username,
            business_unit=unit_id,
            roles=roles,
            full_name=full_name,
            email=f"{username}@example.com",
        )
    return ids


def load(xrm: XRM, size: int, *, seed: int = 11) -> dict[str, int]:
    """``size`` accounts, four contacts each, three activities per account; once.

    Returns the records added per entity (nothing when accounts exist already).
    The same ``seed`` gives the same data. ``xrm`` acts in the system context.
    """
    if xrm.records("account").count():
        return {}
    rng = random.Random(seed)
    owners = list(demo_users(xrm).values())
    with xrm.transaction():
        accounts = _create(xrm, "account", [_account(rng, i, owners) for i in range(size)])
        contacts = _create(
            xrm, "contact", [_contact(rng, i, owners, accounts) for i in range(size * 4)]
        )
        activities = [_activity(rng, i, owners, accounts, contacts) for i in range(size * 3)]
        activity_ids = _create(xrm, "activity", activities)
        for n, aid in enumerate(activity_ids):
            for contact in rng.sample(contacts, k=min(len(contacts), 1 + n % 2)):
                xrm.records("activity").link(aid, "participants", contact)
    return {"account": len(accounts), "contact": len(contacts), "activity": len(activity_ids)}


def _create(xrm: XRM, entity: str, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    made = xrm.records(entity).create_many(rows)
    return [r.record["id"] for r in made.rows if r.record is not None]


def _role_exists(xrm: XRM, name: str) -> bool:
    return bool(xrm.records("role").count(filter={"name": name}))


def _account(rng: random.Random, i: int, owners: list[uuid.UUID]) -> dict[str, Any]:
    company = f"{_COMPANY[i % len(_COMPANY)]} {_SUFFIX[(i // len(_COMPANY)) % len(_SUFFIX)]}"
    if i >= len(_COMPANY) * len(_SUFFIX):
        company += f" {i // (len(_COMPANY) * len(_SUFFIX)) + 1}"
    city, country = rng.choice(_CITIES)
    slug = company.lower().replace(" ", "-")
    return {
        "name": company,
        "industry": rng.choice(_INDUSTRY),
        "website": f"https://{slug}.example.com",
        "email": f"info@{slug}.example.com",
        "phone": f"+44 20 7{i:03d} {rng.randrange(10000):04d}",
        "street": f"{rng.randrange(1, 200)} {rng.choice(_STREETS)}",
        "city": city,
        "country": country,
        "owner_id": owners[i % len(owners)],
        "allow_duplicate": True,  # generated names are distinct; skip the per-row check
    }


def _contact(
    rng: random.Random, i: int, owners: list[uuid.UUID], accounts: list[uuid.UUID]
) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    channel = rng.choice(["email", "email", "phone", "sms", "post", "none"])
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{first}.{last}.{i}@example.org".lower(),
        "mobile": f"+44 7700 {i:06d}",
        "birthday": dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(15000)),
        "preferred_channel": channel,
        "consent_email": channel == "email" or rng.random() < 0.3,
        "consent_sms": channel == "sms",
        "consent_phone": channel == "phone",
        "account": accounts[i // 4] if accounts else None,
        "owner_id": owners[(i // 4) % len(owners)],
        "allow_duplicate": True,
    }


def _activity(
    rng: random.Random,
    i: int,
    owners: list[uuid.UUID],
    accounts: list[uuid.UUID],
    contacts: list[uuid.UUID],
) -> dict[str, Any]:
    kind = ["call", "email", "meeting", "task", "note"][i % 5]
    regarding = (
        {"entity": "account", "id": accounts[i // 3]}
        if i % 2 == 0
        else {"entity": "contact", "id": contacts[(i * 4 // 3) % len(contacts)]}
    )
    due = _START + dt.timedelta(days=rng.randrange(180), hours=rng.randrange(8))
    return {
        "kind": kind,
        "subject": rng.choice(_SUBJECTS[kind]),
        "status": "open"
        if due > _START + dt.timedelta(days=120)
        else rng.choice(["done", "done", "cancelled"]),
        "due": due,
        "regarding": regarding,
        "owner_id": owners[(i // 3) % len(owners)],
    }
