"""A small CRM to exercise the record service, on SQLite and on PostgreSQL.

The entities cover every field kind and every delete behaviour:

- ``account``: alternate keys of one field (``number``) and of two (``region`` + ``code``),
  a self-reference ``parent`` (cascade), and a many-to-many ``labels`` to ``tag`` without
  attributes.
- ``contact``: unique ``email``, ``account`` (cascade), ``manager`` to another contact
  (set null), and a many-to-many ``tags`` to ``tag`` with attributes.
- ``activity``: polymorphic ``regarding`` account|contact (cascade).
- ``invoice``: ``account`` (restrict), ``contact`` (set null), polymorphic ``billed_to``
  (set null).
- ``note``: polymorphic ``about`` account|contact (restrict).
- ``item``: one field of every kind.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import XRM, RecordService

Record = dict[str, Any]


def _lookup(target: str, on_delete: str = "set_null") -> dict[str, Any]:
    return {"x-xrm": {"kind": "lookup", "target": target, "on_delete": on_delete}}


def _polymorphic(on_delete: str) -> dict[str, Any]:
    targets = ["account", "contact"]
    return {"x-xrm": {"kind": "polymorphic_lookup", "targets": targets, "on_delete": on_delete}}


ACCOUNT = {
    "x-xrm": {
        "name": "account",
        "alternate_keys": [
            {"name": "by_number", "fields": ["number"]},
            {"name": "by_region_code", "fields": ["region", "code"]},
        ],
        "relationships": [{"name": "labels", "target": "tag"}],
    },
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "number": {"type": "string"},
        "region": {"type": "string"},
        "code": {"type": "integer"},
        "industry": {"enum": ["retail", "food", "tech"]},
        "revenue": {"x-xrm": {"kind": "money"}},
        "active": {"type": "boolean", "default": True},
        "parent": _lookup("account", "cascade"),
    },
    "required": ["name"],
}

CONTACT = {
    "x-xrm": {
        "name": "contact",
        "relationships": [
            {
                "name": "tags",
                "target": "tag",
                "attributes": {
                    "weight": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                    "note": {"type": "string", "maxLength": 20},
                },
            }
        ],
    },
    "properties": {
        "name": {"type": "string", "maxLength": 50},
        "email": {"type": "string", "format": "email", "x-xrm": {"unique": True}},
        "account": _lookup("account", "cascade"),
        "manager": _lookup("contact", "set_null"),
    },
    "required": ["name"],
}

TAG = {
    "x-xrm": {"name": "tag"},
    "properties": {"label": {"type": "string", "x-xrm": {"unique": True}}},
    "required": ["label"],
}

ACTIVITY = {
    "x-xrm": {"name": "activity"},
    "properties": {"subject": {"type": "string"}, "regarding": _polymorphic("cascade")},
    "required": ["subject"],
}

INVOICE = {
    "x-xrm": {"name": "invoice"},
    "properties": {
        "number": {"type": "string"},
        "account": _lookup("account", "restrict"),
        "contact": _lookup("contact", "set_null"),
        "billed_to": _polymorphic("set_null"),
    },
}

NOTE = {
    "x-xrm": {"name": "note"},
    "properties": {"text": {"x-xrm": {"kind": "text"}}, "about": _polymorphic("restrict")},
}

ITEM = {
    "x-xrm": {"name": "item"},
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "body": {"x-xrm": {"kind": "text"}},
        "quantity": {"type": "integer"},
        "ratio": {"x-xrm": {"kind": "decimal", "precision": 12, "scale": 4}},
        "price": {"x-xrm": {"kind": "money"}},
        "in_stock": {"type": "boolean"},
        "released": {"type": "string", "format": "date"},
        "checked_at": {"type": "string", "format": "date-time"},
        "email": {"type": "string", "format": "email"},
        "phone": {"x-xrm": {"kind": "phone"}},
        "homepage": {"type": "string", "format": "uri"},
        "status": {"enum": ["draft", "live"], "default": "draft"},
        "colours": {"type": "array", "items": {"enum": ["red", "green", "blue"]}},
        "extra": {"x-xrm": {"kind": "json"}},
        "account": _lookup("account"),
        "regarding": _polymorphic("set_null"),
    },
}

SCHEMAS = [ACCOUNT, CONTACT, TAG, ACTIVITY, INVOICE, NOTE, ITEM]


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    """The :class:`XRM` fixture with the CRM entities defined."""
    xrm.metadata.define(SCHEMAS)
    return xrm


@pytest.fixture
def accounts(crm: XRM) -> RecordService:
    return crm.records("account")


@pytest.fixture
def contacts(crm: XRM) -> RecordService:
    return crm.records("contact")


@pytest.fixture
def tags(crm: XRM) -> RecordService:
    return crm.records("tag")


@pytest.fixture
def activities(crm: XRM) -> RecordService:
    return crm.records("activity")


@pytest.fixture
def invoices(crm: XRM) -> RecordService:
    return crm.records("invoice")


@pytest.fixture
def notes(crm: XRM) -> RecordService:
    return crm.records("note")


@pytest.fixture
def items(crm: XRM) -> RecordService:
    return crm.records("item")


def _factory(service: RecordService, defaults: Callable[[int], Record]) -> Callable[..., Record]:
    counter = itertools.count(1)

    def make(**values: Any) -> Record:
        return service.create({**defaults(next(counter)), **values})

    return make


@pytest.fixture
def new_account(accounts: RecordService) -> Callable[..., Record]:
    """Create an account; keyword arguments override the generated values."""
    return _factory(accounts, lambda n: {"name": f"Account {n}"})


@pytest.fixture
def new_contact(contacts: RecordService) -> Callable[..., Record]:
    """Create a contact with a unique e-mail; keyword arguments override."""
    return _factory(contacts, lambda n: {"name": f"Contact {n}", "email": f"c{n}@example.org"})


@pytest.fixture
def new_tag(tags: RecordService) -> Callable[..., Record]:
    """Create a tag with a unique label; keyword arguments override."""
    return _factory(tags, lambda n: {"label": f"tag-{n}"})
