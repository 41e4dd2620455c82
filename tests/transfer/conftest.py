"""Shared fixtures for import and export: a small CRM of accounts and contacts (SQLite and PG).

``crm`` defines them on the tests' system-context :class:`XRM`; ``write`` puts a
file of text (or bytes) in the test's directory and returns its path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from xrm_core import XRM

ACCOUNT = {
    "x-xrm": {
        "name": "account",
        "alternate_keys": [{"name": "by_number", "fields": ["number"]}],
    },
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "number": {"type": "string"},
        "credit_limit": {"x-xrm": {"kind": "money", "secured": True}},
    },
    "required": ["name"],
}
CONTACT = {
    "x-xrm": {
        "name": "contact",
        "alternate_keys": [{"name": "by_email", "fields": ["email"]}],
    },
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0},
        "vip": {"type": "boolean"},
        "born": {"type": "string", "format": "date"},
        "seen_at": {"type": "string", "format": "date-time"},
        "salary": {"x-xrm": {"kind": "money"}},
        "stage": {"enum": ["lead", "customer"]},
        "channels": {"type": "array", "items": {"enum": ["mail", "phone", "sms"]}},
        "extra": {"x-xrm": {"kind": "json"}},
        "account": {"x-xrm": {"kind": "lookup", "target": "account"}},
        "regarding": {"x-xrm": {"kind": "polymorphic_lookup", "targets": ["account", "contact"]}},
    },
    "required": ["name"],
}


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    """The tests' XRM with accounts and contacts defined and security installed."""
    xrm.security.install()
    xrm.metadata.define([ACCOUNT, CONTACT])
    return xrm


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a file (text or bytes) in the test's directory; its path."""

    def put(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return put


def jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    """JSON Lines text of ``rows``."""
    return "".join(json.dumps(row) + "\n" for row in rows)


def read_jsonl(path: Path) -> Iterator[Any]:
    """The objects of a JSON Lines file."""
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            yield json.loads(line)


def fields_of(xrm: XRM, entity: str, order: str = "name") -> list[dict[str, Any]]:
    """Every record of ``entity`` as id and fields (no other system columns), in ``order``."""
    definition = xrm.metadata.get(entity)
    names = ["id", *definition.field_names]
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = xrm.records(entity).query(order=[order], limit=1000, cursor=cursor)
        found += [{n: r.get(n) for n in names} for r in page]
        cursor = page.next_cursor
        if cursor is None:
            return found
