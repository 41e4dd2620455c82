"""update_many and upsert_many: per-row version checks, matching by alternate key."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from xrm_core import (
    XRM,
    BulkError,
    QueryError,
    RecordNotFound,
    RecordService,
    RecordValidationError,
    VersionConflict,
)


def names(service: RecordService) -> list[str]:
    return sorted(r["name"] for r in service.query())


# -- update_many ------------------------------------------------------------


def test_update_many_changes_every_row(accounts: RecordService) -> None:
    a, b = accounts.create({"name": "A"}), accounts.create({"name": "B"})

    result = accounts.update_many(
        [{"id": a["id"], "industry": "food"}, {"id": str(b["id"]), "name": "B2"}]
    )

    assert [(r.index, r.ok, r.created) for r in result.rows] == [(0, True, False), (1, True, False)]
    assert accounts.get(a["id"])["industry"] == "food"
    assert accounts.get(b["id"])["name"] == "B2"
    assert [r.record["version"] for r in result.rows if r.record] == [2, 2]


def test_update_many_checks_each_row_s_version(accounts: RecordService) -> None:
    a, b = accounts.create({"name": "A"}), accounts.create({"name": "B"})
    accounts.update(b["id"], {"name": "B (edited elsewhere)"})

    with pytest.raises(BulkError) as caught:
        accounts.update_many(
            [
                {"id": a["id"], "version": 1, "name": "A2"},
                {"id": b["id"], "version": 1, "name": "B2"},
            ]
        )

    assert caught.value.details == {"failed_rows": [1]}
    assert names(accounts) == ["A", "B (edited elsewhere)"]


def test_update_many_per_row_reports_conflicts_and_missing_records(
    accounts: RecordService,
) -> None:
    a, b = accounts.create({"name": "A"}), accounts.create({"name": "B"})
    accounts.update(b["id"], {"name": "B2"})
    rows = [
        {"id": a["id"], "version": 1, "name": "A2"},
        {"id": b["id"], "version": 1, "name": "B3"},
        {"id": uuid.uuid4(), "name": "ghost"},
        {"name": "no id"},
        {"id": a["id"], "name": None},
    ]

    result = accounts.update_many(rows, mode="per_row")

    errors = {r.index: type(r.error) for r in result.failed}
    assert errors == {
        1: VersionConflict,
        2: RecordNotFound,
        3: RecordValidationError,
        4: RecordValidationError,
    }
    assert names(accounts) == ["A2", "B2"]


def test_update_many_problems_point_at_row_and_field(accounts: RecordService) -> None:
    a = accounts.create({"name": "A"})

    with pytest.raises(BulkError) as caught:
        accounts.update_many([{"id": a["id"], "name": "ok"}, {"id": a["id"], "industry": "x"}])

    assert [p.pointer for p in caught.value.problems] == ["/1/industry"]
    assert accounts.get(a["id"]) == a


def test_update_many_refuses_a_version_that_is_not_a_number(accounts: RecordService) -> None:
    a = accounts.create({"name": "A"})

    with pytest.raises(BulkError) as caught:
        accounts.update_many([{"id": a["id"], "version": "1", "name": "A2"}])

    assert [p.pointer for p in caught.value.problems] == ["/0/version"]


# -- upsert_many --------------------------------------------------------------


def test_upsert_by_a_one_field_key_updates_matches_and_creates_the_rest(
    accounts: RecordService,
) -> None:
    acme = accounts.create({"name": "Acme", "number": "A-1", "industry": "food"})

    result = accounts.upsert_many(
        [{"number": "B-2", "name": "Bolt"}, {"number": "A-1", "name": "Acme Ltd"}],
        key="by_number",
    )

    assert [(r.index, r.ok, r.created) for r in result.rows] == [(0, True, True), (1, True, False)]
    updated = accounts.get(acme["id"])
    assert updated["name"] == "Acme Ltd"
    assert updated["industry"] == "food"
    assert updated["version"] == 2
    assert names(accounts) == ["Acme Ltd", "Bolt"]


@pytest.mark.parametrize("key", ["by_region_code", ["region", "code"], ["code", "region"]])
def test_upsert_by_a_two_field_key(accounts: RecordService, key: Any) -> None:
    accounts.create({"name": "EU 1", "region": "EU", "code": 1})
    accounts.create({"name": "EU 2", "region": "EU", "code": 2})

    result = accounts.upsert_many(
        [
            {"region": "EU", "code": 2, "name": "EU 2 new"},
            {"region": "US", "code": 1, "name": "US 1"},
            {"region": "EU", "code": "1", "name": "EU 1 new"},
        ],
        key=key,
    )

    assert [r.created for r in result.rows] == [False, True, False]
    assert names(accounts) == ["EU 1 new", "EU 2 new", "US 1"]


def test_upsert_by_a_unique_field(contacts: RecordService) -> None:
    contacts.create({"name": "Ada", "email": "ada@example.org"})

    result = contacts.upsert_many([{"email": "ada@example.org", "name": "Ada L."}], key="email")

    assert result.rows[0].created is False
    assert names(contacts) == ["Ada L."]


def test_upsert_matches_keys_given_as_text(crm: XRM) -> None:
    crm.metadata.define(
        {
            "x-xrm": {
                "name": "rate",
                "alternate_keys": [{"name": "by_day", "fields": ["day", "amount", "at"]}],
            },
            "properties": {
                "day": {"type": "string", "format": "date"},
                "amount": {"x-xrm": {"kind": "money"}},
                "at": {"type": "string", "format": "date-time"},
                "note": {"type": "string"},
            },
        }
    )
    rates = crm.records("rate")
    rates.create(
        {
            "day": dt.date(2024, 1, 2),
            "amount": Decimal("1.50"),
            "at": dt.datetime(2024, 1, 2, 12, tzinfo=dt.UTC),
        }
    )

    result = rates.upsert_many(
        [{"day": "2024-01-02", "amount": "1.5", "at": "2024-01-02T14:00:00+02:00", "note": "x"}],
        key="by_day",
    )

    assert result.rows[0].created is False
    assert [r["note"] for r in rates.query()] == ["x"]


def test_an_upsert_row_without_its_key_fails_clearly(accounts: RecordService) -> None:
    with pytest.raises(BulkError) as caught:
        accounts.upsert_many(
            [{"region": "EU", "code": 1, "name": "ok"}, {"region": "EU", "name": "no code"}],
            key="by_region_code",
        )

    assert [(p.pointer, p.message) for p in caught.value.problems] == [
        ("/1/code", "is required to match records")
    ]
    assert accounts.count() == 0


def test_an_upsert_row_with_a_bad_key_value_points_at_it(accounts: RecordService) -> None:
    with pytest.raises(BulkError) as caught:
        accounts.upsert_many([{"region": "EU", "code": "one", "name": "x"}], key="by_region_code")

    assert [p.pointer for p in caught.value.problems] == ["/0/code"]


def test_upsert_per_row_writes_what_it_can(accounts: RecordService) -> None:
    accounts.create({"name": "Acme", "number": "A-1"})

    result = accounts.upsert_many(
        [
            {"number": "A-1", "name": "Acme Ltd"},
            {"name": "no number"},
            {"number": "B-2", "name": "Bolt"},
            {"number": "A-1", "name": None},
        ],
        key="by_number",
        mode="per_row",
    )

    assert [(r.index, r.ok, r.created) for r in result.rows] == [
        (0, True, False),
        (1, False, False),
        (2, True, True),
        (3, False, False),
    ]
    assert names(accounts) == ["Acme Ltd", "Bolt"]


def test_a_key_repeated_in_one_batch_applies_its_rows_in_order(accounts: RecordService) -> None:
    result = accounts.upsert_many(
        [
            {"number": "N", "name": "first", "industry": "food"},
            {"number": "M", "name": "other"},
            {"number": "N", "name": "second"},
        ],
        key="by_number",
    )

    assert [(r.created, r.record["version"]) for r in result.rows if r.record] == [
        (True, 1),
        (True, 1),
        (False, 2),
    ]
    assert {r["name"]: r["industry"] for r in accounts.query()} == {"second": "food", "other": None}


def test_when_a_repeated_key_s_first_row_fails_the_next_one_creates(
    accounts: RecordService,
) -> None:
    result = accounts.upsert_many(
        [{"number": "N", "name": None}, {"number": "N", "name": "second"}, {"number": "N"}],
        key="by_number",
        mode="per_row",
    )

    assert [(r.ok, r.created) for r in result.rows] == [(False, False), (True, True), (True, False)]
    assert names(accounts) == ["second"]


@pytest.mark.parametrize("key", ["by_name", ["name"], ["region"], "industry"])
def test_upsert_by_something_that_is_not_a_unique_key_is_refused(
    accounts: RecordService, key: Any
) -> None:
    with pytest.raises(QueryError) as caught:
        accounts.upsert_many([{"name": "x"}], key=key)

    assert "by_number" in caught.value.problems[0].message
    assert "not an alternate key" in caught.value.message


def test_upsert_of_thousands_of_rows(accounts: RecordService) -> None:
    accounts.create_many([{"name": f"old {i}", "number": f"N{i}"} for i in range(0, 1200, 2)])

    result = accounts.upsert_many(
        [{"name": f"new {i}", "number": f"N{i}"} for i in range(1200)], key="by_number"
    )

    assert sum(r.created for r in result.rows) == 600
    assert accounts.count() == 1200
    assert accounts.count(filter={"name": {"starts_with": "new"}}) == 1200
