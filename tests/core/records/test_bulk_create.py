"""create_many: all or nothing, or row by row; problems point at /<row>/<field>."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import (
    XRM,
    BrokenReference,
    BulkError,
    DuplicateRecord,
    RecordService,
    RecordValidationError,
)

Make = Callable[..., dict[str, Any]]


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"name": f"P{i}", "email": f"p{i}@example.org"} for i in range(start, start + n)]


def test_atomic_writes_every_valid_row(contacts: RecordService) -> None:
    result = contacts.create_many(people(3))

    assert [(r.index, r.ok, r.created) for r in result.rows] == [
        (0, True, True),
        (1, True, True),
        (2, True, True),
    ]
    assert [r.record["name"] for r in result.rows if r.record] == ["P0", "P1", "P2"]
    assert contacts.count() == 3
    assert result.failed == []


def test_bulk_created_records_match_what_get_returns(accounts: RecordService) -> None:
    result = accounts.create_many([{"name": "Acme", "revenue": "10.5"}, {"name": "Bolt"}])

    for row in result.rows:
        assert row.record is not None
        assert accounts.get(row.record["id"]) == row.record


def test_bulk_created_ids_sort_in_input_order(accounts: RecordService) -> None:
    result = accounts.create_many([{"name": f"A{i}"} for i in range(50)])

    ids = [r.record["id"] for r in result.rows if r.record]
    assert sorted(ids) == ids


def test_atomic_with_one_bad_row_writes_nothing(contacts: RecordService) -> None:
    rows = people(3)
    rows[1]["email"] = "not an address"

    with pytest.raises(BulkError) as caught:
        contacts.create_many(rows)

    assert caught.value.code == "bulk_failed"
    assert [p.pointer for p in caught.value.problems] == ["/1/email"]
    assert caught.value.details == {"failed_rows": [1]}
    assert contacts.count() == 0


def test_atomic_reports_every_bad_row_and_field(contacts: RecordService) -> None:
    rows = [{"name": "ok"}, {"email": "x"}, {"name": "ok"}, {"name": 5, "shoe": 1}]

    with pytest.raises(BulkError) as caught:
        contacts.create_many(rows)

    assert sorted(p.pointer for p in caught.value.problems) == [
        "/1/email",
        "/1/name",
        "/3/name",
        "/3/shoe",
    ]
    assert caught.value.details == {"failed_rows": [1, 3]}


def test_atomic_with_a_duplicate_among_the_rows_writes_nothing(contacts: RecordService) -> None:
    rows = people(4)
    rows[3]["email"] = rows[0]["email"]

    with pytest.raises(BulkError) as caught:
        contacts.create_many(rows)

    assert [p.pointer for p in caught.value.problems] == ["/3/email"]
    assert contacts.count() == 0


def test_atomic_with_a_duplicate_of_an_existing_record_writes_nothing(
    contacts: RecordService,
) -> None:
    contacts.create({"name": "Ada", "email": "p2@example.org"})

    with pytest.raises(BulkError) as caught:
        contacts.create_many(people(4))

    assert [p.pointer for p in caught.value.problems] == ["/2/email"]
    assert contacts.count() == 1


def test_atomic_with_a_two_field_key_duplicate_writes_nothing(accounts: RecordService) -> None:
    rows = [{"name": "A", "region": "EU", "code": 1}, {"name": "B", "region": "EU", "code": 1}]

    with pytest.raises(BulkError) as caught:
        accounts.create_many(rows)

    assert sorted(p.pointer for p in caught.value.problems) == ["/1/code", "/1/region"]
    assert accounts.count() == 0


def test_atomic_with_a_broken_lookup_writes_nothing(
    contacts: RecordService, new_account: Make
) -> None:
    acme = new_account()
    rows = [{"name": "A", "account": acme["id"]}, {"name": "B", "account": uuid.uuid4()}]

    with pytest.raises(BulkError) as caught:
        contacts.create_many(rows)

    assert [p.pointer for p in caught.value.problems] == ["/1/account"]
    assert contacts.count() == 0


def test_a_single_row_failure_is_still_a_bulk_error(contacts: RecordService) -> None:
    contacts.create({"name": "Ada", "email": "p0@example.org"})

    with pytest.raises(BulkError) as caught:
        contacts.create_many(people(1))

    assert [p.pointer for p in caught.value.problems] == ["/0/email"]


def test_per_row_writes_the_valid_rows_and_reports_the_others(contacts: RecordService) -> None:
    rows = [*people(2), {"name": 7}, *people(2, start=2)]

    result = contacts.create_many(rows, mode="per_row")

    assert [(r.index, r.ok) for r in result.rows] == [
        (0, True),
        (1, True),
        (2, False),
        (3, True),
        (4, True),
    ]
    failed = result.failed[0]
    assert isinstance(failed.error, RecordValidationError)
    assert [p.pointer for p in failed.error.problems] == ["/name"]
    assert failed.record is None
    assert contacts.count() == 4
    assert [r.index for r in result.succeeded] == [0, 1, 3, 4]


def test_per_row_reports_duplicates_and_broken_lookups(contacts: RecordService) -> None:
    contacts.create({"name": "Ada", "email": "p1@example.org"})
    rows = [*people(3), {"name": "Lost", "account": uuid.uuid4()}, people(1)[0]]

    result = contacts.create_many(rows, mode="per_row")

    errors = {r.index: type(r.error) for r in result.failed}
    assert errors == {1: DuplicateRecord, 3: BrokenReference, 4: DuplicateRecord}
    assert sorted(r["email"] for r in contacts.query()) == [
        "p0@example.org",
        "p1@example.org",
        "p2@example.org",
    ]


def test_per_row_with_a_single_failing_row_reports_it(contacts: RecordService) -> None:
    contacts.create({"name": "Ada", "email": "p0@example.org"})

    result = contacts.create_many(people(1), mode="per_row")

    assert [(r.index, r.ok) for r in result.rows] == [(0, False)]
    assert isinstance(result.rows[0].error, DuplicateRecord)


def test_an_empty_bulk_does_nothing(contacts: RecordService) -> None:
    assert contacts.create_many([]).rows == []


def test_an_unknown_mode_is_refused(contacts: RecordService) -> None:
    with pytest.raises(ValueError, match="per_row"):
        contacts.create_many(people(1), mode="fast")  # type: ignore[arg-type]


def test_thousands_of_rows_are_written_in_chunks(contacts: RecordService) -> None:
    result = contacts.create_many(people(2345))

    assert len(result.succeeded) == 2345
    assert contacts.count() == 2345
    assert [r.index for r in result.rows] == list(range(2345))


def test_a_failure_in_a_late_chunk_rolls_back_the_early_chunks(contacts: RecordService) -> None:
    rows = people(2345)
    rows[2000]["email"] = rows[10]["email"]

    with pytest.raises(BulkError) as caught:
        contacts.create_many(rows)

    assert [p.pointer for p in caught.value.problems] == ["/2000/email"]
    assert contacts.count() == 0


def test_per_row_over_several_chunks_keeps_input_order(contacts: RecordService) -> None:
    rows = people(1200)
    for bad in (3, 600, 1199):
        rows[bad]["email"] = "bad"

    result = contacts.create_many(rows, mode="per_row")

    assert [r.index for r in result.rows] == list(range(1200))
    assert [r.index for r in result.failed] == [3, 600, 1199]
    assert contacts.count() == 1197


def test_bulk_rows_may_point_at_many_records(
    contacts: RecordService, accounts: RecordService
) -> None:
    owners = accounts.create_many([{"name": f"A{i}"} for i in range(700)])
    rows = [
        {"name": f"C{i}", "account": r.record["id"]} for i, r in enumerate(owners.rows) if r.record
    ]

    assert len(contacts.create_many(rows).succeeded) == 700


def test_a_failed_atomic_bulk_inside_a_unit_of_work_leaves_nothing_behind(
    crm: XRM, contacts: RecordService
) -> None:
    rows = people(1200)
    rows[1100]["email"] = "bad"

    with crm.transaction():
        with pytest.raises(BulkError):
            contacts.create_many(rows)
        contacts.create({"name": "After"})

    assert [r["name"] for r in contacts.query()] == ["After"]
