"""A small CRM for the query-language tests: accounts, contacts of every field kind, notes.

Most tests only read, so the CRM and its records (``firms``, ``people``) are
built once per test module and database (``shared_crm``, on SQLite and on
PostgreSQL, like the ``xrm`` fixture). Tests that write use the ``fresh_*``
fixtures, built on ``xrm`` for that test alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from xrm_core import XRM, RecordService

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {
        "name": {"type": "string"},
        "industry": {"enum": ["retail", "food", "tech"]},
        "revenue": {"x-xrm": {"kind": "money"}},
        "founded": {"type": "string", "format": "date"},
        "parent": {"x-xrm": {"kind": "lookup", "target": "account"}},
    },
    "required": ["name"],
}

CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "name": {"type": "string", "maxLength": 50},
        "notes": {"x-xrm": {"kind": "text"}},
        "email": {"type": "string", "format": "email"},
        "score": {"type": "integer"},
        "ratio": {"type": "number"},
        "salary": {"x-xrm": {"kind": "money"}},
        "born": {"type": "string", "format": "date"},
        "seen": {"type": "string", "format": "date-time"},
        "vip": {"type": "boolean"},
        "stage": {"enum": ["new", "won", "lost"]},
        "topics": {"type": "array", "items": {"enum": ["a", "b", "c"]}},
        "extra": {"x-xrm": {"kind": "json"}},
        "account": {"x-xrm": {"kind": "lookup", "target": "account"}},
    },
    "required": ["name"],
}

NOTE = {
    "x-xrm": {"name": "note"},
    "properties": {
        "title": {"type": "string"},
        "regarding": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["account", "contact"]}},
    },
    "required": ["title"],
}

Records = dict[str, dict[str, Any]]


def make_firms(accounts: RecordService) -> Records:
    """Four accounts: Acme (retail), Acme Europe (food, parent Acme), Globex (tech), Initech."""
    acme = accounts.create(
        {"name": "Acme", "industry": "retail", "revenue": "1000.00", "founded": "1950-05-01"}
    )
    return {
        "acme": acme,
        "acme_eu": accounts.create(
            {"name": "Acme Europe", "industry": "food", "revenue": "250.50", "parent": acme["id"]}
        ),
        "globex": accounts.create({"name": "Globex", "industry": "tech", "revenue": "5000"}),
        "initech": accounts.create({"name": "Initech"}),
    }


def make_people(contacts: RecordService, firms: Records) -> Records:
    """Five contacts covering every kind, with empty values, ties and tricky text."""
    rows = {
        "ada": {
            "name": "Ada",
            "notes": "Likes 100% cotton",
            "email": "ada@example.org",
            "score": 10,
            "ratio": "0.5",
            "salary": "100.00",
            "born": "1990-01-02",
            "seen": "2024-03-04T05:06:07+00:00",
            "vip": True,
            "stage": "new",
            "topics": ["a", "b"],
            "extra": {"k": 1},
            "account": firms["acme"]["id"],
        },
        "bob": {
            "name": "Bob_Smith",
            "notes": "prefers email",
            "email": "bob@example.com",
            "score": 20,
            "ratio": "1.25",
            "salary": "2500.50",
            "born": "1985-06-15",
            "seen": "2024-03-20T23:30:00+00:00",
            "vip": False,
            "stage": "won",
            "topics": ["c"],
            "account": firms["globex"]["id"],
        },
        "cy": {"name": "cy"},
        "dee": {
            "name": "DEE",
            "notes": "back\\slash",
            "score": -5,
            "ratio": "0",
            "salary": "0",
            "born": "2000-02-29",
            "seen": "2023-12-31T23:59:59+00:00",
            "vip": False,
            "stage": "lost",
            "topics": [],
            "account": firms["initech"]["id"],
        },
        "eve": {
            "name": "Eve'; DROP TABLE contact; --",
            "score": 20,
            "ratio": "2.75",
            "born": "1990-01-02",
            "seen": "2025-01-01T00:00:00+00:00",
            "vip": True,
            "stage": "won",
            "topics": ["a", "c"],
            "account": firms["acme_eu"]["id"],
        },
    }
    return {key: contacts.create(row) for key, row in rows.items()}


# -- read-only, shared by the tests of one module --------------------------------


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ],
)
def shared_crm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[XRM]:
    """The CRM entities on a database shared by one module's tests, which must not write."""
    tmp: Path = tmp_path_factory.mktemp("query")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp}/xrm.db", None
    else:
        server = request.getfixturevalue("postgres_server")
        drop = f"q_{uuid.uuid4().hex}"
        server.create_database(drop)
        url = server.url(drop)
    instance = XRM.from_url(url, export_dir=tmp / "exports").as_system("tests")
    try:
        instance.metadata.define([ACCOUNT, CONTACT, NOTE])
        yield instance
    finally:
        instance.close()
        if drop is not None:
            server.drop_database(drop)


@pytest.fixture(scope="module")
def accounts(shared_crm: XRM) -> RecordService:
    return shared_crm.records("account")


@pytest.fixture(scope="module")
def contacts(shared_crm: XRM) -> RecordService:
    return shared_crm.records("contact")


@pytest.fixture(scope="module")
def notes(shared_crm: XRM) -> RecordService:
    return shared_crm.records("note")


@pytest.fixture(scope="module")
def firms(accounts: RecordService) -> Iterator[Records]:
    made = make_firms(accounts)
    yield made
    left = {r["id"]: r for r in accounts.query(limit=1000)}
    assert left == {r["id"]: r for r in made.values()}, "a read-only query test changed records"


@pytest.fixture(scope="module")
def people(contacts: RecordService, firms: Records) -> Iterator[Records]:
    made = make_people(contacts, firms)
    yield made
    # The module's tests share these records: make a test that wrote fail loudly.
    left = {r["id"]: r for r in contacts.query(limit=1000)}
    assert left == {r["id"]: r for r in made.values()}, "a read-only query test changed records"


@pytest.fixture(scope="module")
def find(contacts: RecordService, people: Records) -> Callable[[Any], set[str]]:
    """``find(filter)``: the keys of ``people`` (``"ada"``, ...) whose contacts match."""
    by_id = {record["id"]: key for key, record in people.items()}

    def run(filter_: Any) -> set[str]:
        return {by_id[r["id"]] for r in contacts.query(filter=filter_, limit=1000)}

    return run


# -- for tests that write: a database of their own ---------------------------------


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    """An XRM with the account, contact and note entities defined (and no records)."""
    xrm.metadata.define([ACCOUNT, CONTACT, NOTE])
    return xrm


@pytest.fixture
def fresh_accounts(crm: XRM) -> RecordService:
    return crm.records("account")


@pytest.fixture
def fresh_contacts(crm: XRM) -> RecordService:
    return crm.records("contact")


@pytest.fixture
def fresh_notes(crm: XRM) -> RecordService:
    return crm.records("note")


@pytest.fixture
def fresh_firms(fresh_accounts: RecordService) -> Records:
    return make_firms(fresh_accounts)


@pytest.fixture
def fresh_people(fresh_contacts: RecordService, fresh_firms: Records) -> Records:
    return make_people(fresh_contacts, fresh_firms)
