"""Create, get, update and delete one record; system columns; units of work."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from xrm_core import XRM, DuplicateRecord, RecordNotFound, RecordService
from xrm_core.metadata.definition import SYSTEM_COLUMNS

Make = Callable[..., dict[str, Any]]

SYSTEM = set(SYSTEM_COLUMNS)


def every_kind(account: dict[str, Any], contact: dict[str, Any]) -> dict[str, Any]:
    """An item with a value in every field, as a caller would send it."""
    return {
        "title": "Widget",
        "body": "A long description\nover two lines",
        "quantity": -9_000_000_000,
        "ratio": Decimal("12.3456"),
        "price": Decimal("1999.99"),
        "in_stock": True,
        "released": dt.date(2024, 2, 29),
        "checked_at": dt.datetime(2024, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC),
        "email": "sales@example.org",
        "phone": "+44 20 7946 0958",
        "homepage": "https://example.org/widget?x=1",
        "status": "live",
        "colours": ["red", "blue"],
        "extra": {"sizes": [1, 2.5, None], "nested": {"ok": True}, "text": "é"},
        "account": account["id"],
        "regarding": {"entity": "contact", "id": contact["id"]},
    }


def test_create_then_get_round_trips_every_field_kind(
    items: RecordService, new_account: Make, new_contact: Make
) -> None:
    values = every_kind(new_account(), new_contact())

    created = items.create(values)

    stored = items.get(created["id"])
    assert {k: stored[k] for k in values} == values


def test_create_returns_exactly_what_get_returns(
    items: RecordService, new_account: Make, new_contact: Make
) -> None:
    values = every_kind(new_account(), new_contact())
    values.update(price="12.5", checked_at="2024-03-04T05:06:07+02:00", ratio=0.5)

    created = items.create(values)

    assert created == items.get(created["id"])


def test_fields_left_out_read_back_as_none(items: RecordService) -> None:
    created = items.create({"title": "Bare"})

    stored = items.get(created["id"])

    assert stored["quantity"] is None
    assert stored["regarding"] is None
    assert stored["colours"] is None
    assert created == stored


def test_every_field_kind_can_be_updated_and_cleared(
    items: RecordService, new_account: Make, new_contact: Make
) -> None:
    values = every_kind(new_account(), new_contact())
    created = items.create({"title": "Empty"})

    items.update(created["id"], values)
    assert {k: items.get(created["id"])[k] for k in values} == values

    cleared = {name: None for name in values}
    updated = items.update(created["id"], cleared)
    assert {k: updated[k] for k in values} == cleared
    assert updated == items.get(created["id"])


def test_system_columns_are_set_on_create(accounts: RecordService) -> None:
    before = dt.datetime.now(dt.UTC)

    record = accounts.create({"name": "Acme"})

    assert record.keys() >= SYSTEM
    assert isinstance(record["id"], uuid.UUID)
    assert record["id"].version == 7
    assert record["version"] == 1
    for name in ("created_at", "updated_at"):
        assert record[name].utcoffset() == dt.timedelta(0)
        assert before <= record[name] <= dt.datetime.now(dt.UTC)
    assert record["created_at"] == record["updated_at"]


def test_ids_created_in_sequence_sort_in_creation_order(accounts: RecordService) -> None:
    ids = [accounts.create({"name": f"A{n}"})["id"] for n in range(30)]

    assert sorted(ids) == ids
    assert sorted(str(i) for i in ids) == [str(i) for i in ids]


def test_update_changes_only_the_given_fields(accounts: RecordService) -> None:
    created = accounts.create({"name": "Acme", "industry": "food", "revenue": "10"})

    updated = accounts.update(created["id"], {"industry": "tech"})

    assert updated["industry"] == "tech"
    assert updated["name"] == "Acme"
    assert updated["revenue"] == Decimal("10.00")
    assert updated == accounts.get(created["id"])


def test_each_update_increments_version_and_moves_updated_at(accounts: RecordService) -> None:
    created = accounts.create({"name": "Acme"})

    first = accounts.update(created["id"], {"name": "Acme 2"})
    second = accounts.update(created["id"], {"name": "Acme 3"})

    assert [first["version"], second["version"]] == [2, 3]
    assert created["updated_at"] < first["updated_at"] < second["updated_at"]
    assert second["created_at"] == created["created_at"]
    assert second["updated_at"].utcoffset() == dt.timedelta(0)


def test_delete_removes_the_record(accounts: RecordService) -> None:
    created = accounts.create({"name": "Acme"})

    report = accounts.delete(created["id"])

    assert report.deleted == {"account": 1}
    with pytest.raises(RecordNotFound):
        accounts.get(created["id"])


def test_ids_may_be_given_as_strings(accounts: RecordService) -> None:
    created = accounts.create({"name": "Acme"})
    text = str(created["id"])

    assert accounts.get(text)["id"] == created["id"]
    assert accounts.update(text, {"name": "Acme 2"})["version"] == 2
    assert accounts.delete(text).deleted == {"account": 1}


def test_a_caller_may_choose_the_id(accounts: RecordService) -> None:
    chosen = uuid.uuid4()

    created = accounts.create({"id": str(chosen), "name": "Imported"})

    assert created["id"] == chosen
    assert accounts.get(chosen)["name"] == "Imported"


@pytest.mark.parametrize("call", ["get", "update", "delete"])
def test_a_missing_id_is_record_not_found(accounts: RecordService, call: str) -> None:
    missing = uuid.uuid4()
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: accounts.get(missing),
        "update": lambda: accounts.update(missing, {"name": "x"}),
        "delete": lambda: accounts.delete(missing),
    }

    with pytest.raises(RecordNotFound) as caught:
        calls[call]()

    assert caught.value.details == {"id": str(missing)}
    assert str(missing) in caught.value.message


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "123", 42])
def test_an_id_that_is_not_a_uuid_is_a_clear_error(accounts: RecordService, bad: Any) -> None:
    for call in (
        lambda: accounts.get(bad),
        lambda: accounts.update(bad, {"name": "x"}),
        lambda: accounts.delete(bad),
    ):
        with pytest.raises(RecordNotFound) as caught:
            call()
        assert [p.pointer for p in caught.value.problems] == ["/id"]
        assert "not a record id" in caught.value.message


def test_a_unit_of_work_that_fails_stores_nothing(crm: XRM, accounts: RecordService) -> None:
    with pytest.raises(RuntimeError, match="boom"), crm.transaction():
        accounts.create({"name": "First"})
        accounts.create({"name": "Second"})
        raise RuntimeError("boom")

    assert accounts.count() == 0


def test_a_unit_of_work_commits_every_call_together(
    crm: XRM, accounts: RecordService, contacts: RecordService
) -> None:
    with crm.transaction():
        acme = accounts.create({"name": "Acme"})
        contacts.create({"name": "Ada", "account": acme["id"]})

    assert contacts.count(filter={"account": str(acme["id"])}) == 1


def test_a_refused_call_inside_a_unit_of_work_leaves_it_usable(
    crm: XRM, contacts: RecordService
) -> None:
    contacts.create({"name": "Ada", "email": "ada@example.org"})

    with crm.transaction():
        with pytest.raises(DuplicateRecord):
            contacts.create({"name": "Copy", "email": "ada@example.org"})
        contacts.create({"name": "Grace", "email": "grace@example.org"})

    assert contacts.count() == 2


def test_a_service_follows_changes_to_the_definition(crm: XRM, accounts: RecordService) -> None:
    schema = dict(crm.metadata.get("account").schema)
    properties = {**schema["properties"], "website": {"type": "string", "format": "uri"}}
    crm.metadata.define({**schema, "properties": properties})

    created = accounts.create({"name": "Acme", "website": "https://acme.example"})

    assert accounts.get(created["id"])["website"] == "https://acme.example"
    assert created == accounts.get(created["id"])
