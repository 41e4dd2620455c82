"""Constraints declared in a definition hold for records; keys and indexes exist in the database."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from xrm_core import XRM, DuplicateRecord, RecordService, RecordValidationError

if TYPE_CHECKING:
    from tests.core.metadata.conftest import DatabaseView

VIOLATION = {
    "x-xrm": {"name": "violation"},
    "properties": {
        "plate": {"type": "string", "maxLength": 8, "pattern": "^[A-Z0-9-]+$"},
        "fine": {"x-xrm": {"kind": "money"}, "minimum": 0, "maximum": 500},
        "points": {"type": "integer", "minimum": 1, "maximum": 12},
        "status": {"enum": ["open", "paid"], "default": "open"},
        "ticket": {"type": "string", "x-xrm": {"unique": True}},
    },
    "required": ["plate"],
}


@pytest.fixture
def violations(xrm: XRM) -> RecordService:
    xrm.metadata.define(VIOLATION)
    return xrm.records("violation")


def pointers(error: pytest.ExceptionInfo[RecordValidationError]) -> list[str]:
    return [p.pointer for p in error.value.problems]


def test_a_required_field_must_be_given(violations: RecordService) -> None:
    with pytest.raises(RecordValidationError) as error:
        violations.create({"fine": 10})

    assert pointers(error) == ["/plate"]
    assert violations.count() == 0


def test_a_default_fills_a_missing_value_but_not_a_given_one(violations: RecordService) -> None:
    defaulted = violations.create({"plate": "AB-1"})
    given = violations.create({"plate": "AB-2", "status": "paid"})

    assert violations.get(defaulted["id"])["status"] == "open"
    assert violations.get(given["id"])["status"] == "paid"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plate", "TOO-LONG-1"),
        ("plate", "ab-1"),
        ("fine", Decimal("-0.01")),
        ("fine", Decimal("500.01")),
        ("points", 0),
        ("points", 13),
        ("status", "lost"),
    ],
)
def test_a_value_breaking_a_rule_is_refused(
    violations: RecordService, field: str, value: Any
) -> None:
    data = {"plate": "AB-1", field: value}

    with pytest.raises(RecordValidationError) as error:
        violations.create(data)

    assert pointers(error) == [f"/{field}"]
    assert violations.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("plate", "ABCD-123"), ("fine", Decimal(0)), ("fine", Decimal(500)), ("points", 12)],
)
def test_a_value_on_the_boundary_is_accepted(
    violations: RecordService, field: str, value: Any
) -> None:
    created = violations.create({"plate": "AB-1", field: value})

    assert violations.get(created["id"])[field] == value


def test_a_unique_field_refuses_a_second_record_with_the_same_value(
    violations: RecordService, database: DatabaseView
) -> None:
    violations.create({"plate": "AB-1", "ticket": "T-1"})

    with pytest.raises(DuplicateRecord) as error:
        violations.create({"plate": "AB-2", "ticket": "T-1"})

    assert [p.pointer for p in error.value.problems] == ["/ticket"]
    assert ("ticket",) in database.index_columns("violation", unique=True)


def test_a_unique_field_allows_many_empty_values(violations: RecordService) -> None:
    violations.create({"plate": "AB-1"})
    violations.create({"plate": "AB-2"})

    assert violations.count() == 2


PERSON = {
    "x-xrm": {
        "name": "person",
        "alternate_keys": [
            {"name": "by_email", "fields": ["email"]},
            {"fields": ["first_name", "last_name", "born"]},
        ],
        "indexes": [
            {"fields": ["last_name"]},
            {"name": "by_city_and_name", "fields": ["city", "last_name"]},
        ],
    },
    "properties": {
        "email": {"type": "string", "format": "email"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "born": {"type": "string", "format": "date"},
        "city": {"type": "string"},
        "score": {"type": "integer", "x-xrm": {"indexed": True}},
        "employer": {"x-xrm": {"kind": "lookup", "target": "person"}},
    },
}


def test_alternate_keys_are_unique_indexes_in_the_database(
    xrm: XRM, database: DatabaseView
) -> None:
    xrm.metadata.define(PERSON)

    unique = database.index_columns("person", unique=True)

    assert unique == {("email",), ("first_name", "last_name", "born")}


def test_indexes_exist_in_the_database(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(PERSON)

    plain = database.index_columns("person", unique=False)

    # Declared indexes, the field marked indexed, and the lookup (indexed automatically).
    assert plain == {("last_name",), ("city", "last_name"), ("score",), ("employer",)}
    names = {i.name for i in database.indexes("person")}
    assert {"person_by_email", "person_by_city_and_name", "person_ix_last_name"} <= names


def test_a_lookup_is_a_foreign_key_in_the_database(xrm: XRM, database: DatabaseView) -> None:
    xrm.metadata.define(PERSON)

    assert database.foreign_keys("person") == {("employer", "person", "id")}


def test_an_alternate_key_of_several_fields_refuses_a_duplicate_combination(xrm: XRM) -> None:
    xrm.metadata.define(PERSON)
    people = xrm.records("person")
    ada = {"first_name": "Ada", "last_name": "Lovelace", "born": "1815-12-10"}
    people.create(ada)
    people.create({**ada, "born": "1815-12-11"})

    with pytest.raises(DuplicateRecord):
        people.create(ada)

    assert people.count() == 2


def test_an_alternate_key_serves_upserts(xrm: XRM) -> None:
    xrm.metadata.define(PERSON)
    people = xrm.records("person")
    ada = people.create({"email": "ada@example.org", "city": "London"})

    result = people.upsert_many(
        [
            {"email": "ada@example.org", "city": "Paris"},
            {"email": "grace@example.org", "city": "New York"},
        ],
        key="by_email",
    )

    assert [(r.ok, r.created) for r in result.rows] == [(True, False), (True, True)]
    assert people.get(ada["id"])["city"] == "Paris"
    assert people.count() == 2
