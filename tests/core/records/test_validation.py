"""Validation of records: every problem reported with its pointer, nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from xrm_core import XRM, RecordService, RecordValidationError

BIGINT_MAX = 2**63 - 1


def problems_of(error: RecordValidationError) -> dict[str, str]:
    return {p.pointer: p.message for p in error.problems}


def test_every_failing_field_is_reported_with_its_pointer(contacts: RecordService) -> None:
    with pytest.raises(RecordValidationError) as caught:
        contacts.create({"name": "x" * 51, "email": "not an address"})

    assert set(problems_of(caught.value)) == {"/name", "/email"}
    assert "50" in problems_of(caught.value)["/name"]
    assert caught.value.code == "invalid_record"


def test_a_missing_required_field_is_reported(contacts: RecordService) -> None:
    with pytest.raises(RecordValidationError) as caught:
        contacts.create({"email": "ada@example.org"})

    assert problems_of(caught.value) == {"/name": "is required"}


def test_unknown_fields_are_refused(contacts: RecordService) -> None:
    with pytest.raises(RecordValidationError) as caught:
        contacts.create({"name": "Ada", "shoe_size": 44})

    assert problems_of(caught.value) == {"/shoe_size": "is not a field of this entity"}


@pytest.mark.parametrize("name", ["version", "created_at", "updated_at", "business_unit_id"])
def test_system_fields_cannot_be_written_on_create(contacts: RecordService, name: str) -> None:
    with pytest.raises(RecordValidationError) as caught:
        contacts.create({"name": "Ada", name: 7})

    assert problems_of(caught.value) == {f"/{name}": "is set by the system and cannot be written"}


def test_an_owner_given_on_create_must_be_an_id(contacts: RecordService) -> None:
    with pytest.raises(RecordValidationError) as caught:
        contacts.create({"name": "Ada", "owner_id": 7})

    assert problems_of(caught.value) == {"/owner_id": "not a valid id"}


@pytest.mark.parametrize("name", ["id", "version", "created_at", "owner_id"])
def test_system_fields_cannot_be_written_on_update(contacts: RecordService, name: str) -> None:
    ada = contacts.create({"name": "Ada"})

    with pytest.raises(RecordValidationError) as caught:
        contacts.update(ada["id"], {name: 7})

    assert problems_of(caught.value) == {f"/{name}": "is set by the system and cannot be written"}
    assert contacts.get(ada["id"]) == ada


def test_a_required_field_cannot_be_cleared_by_update(contacts: RecordService) -> None:
    ada = contacts.create({"name": "Ada"})

    with pytest.raises(RecordValidationError) as caught:
        contacts.update(ada["id"], {"name": None})

    assert problems_of(caught.value) == {"/name": "is required"}
    assert contacts.get(ada["id"]) == ada


def test_an_optional_field_can_be_cleared_by_update(contacts: RecordService) -> None:
    ada = contacts.create({"name": "Ada", "email": "ada@example.org"})

    assert contacts.update(ada["id"], {"email": None})["email"] is None


def test_defaults_are_applied_on_create(accounts: RecordService, items: RecordService) -> None:
    assert accounts.create({"name": "Acme"})["active"] is True
    assert items.create({})["status"] == "draft"


def test_an_explicit_value_wins_over_the_default(accounts: RecordService) -> None:
    assert accounts.create({"name": "Acme", "active": False})["active"] is False


def test_defaults_are_not_applied_on_update(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme", "active": False})

    assert accounts.update(acme["id"], {"name": "Acme 2"})["active"] is False


@pytest.mark.parametrize(
    ("field", "given", "stored"),
    [
        ("price", "12.5", Decimal("12.50")),
        ("price", 0.1, Decimal("0.10")),
        ("price", Decimal("-3"), Decimal("-3.00")),
        ("price", "99999999999.99", Decimal("99999999999.99")),
        ("ratio", "1.5", Decimal("1.5000")),
        ("ratio", 7, Decimal("7.0000")),
        ("ratio", "0.0001", Decimal("0.0001")),
    ],
)
def test_decimals_read_back_exactly_with_the_field_scale(
    items: RecordService, field: str, given: Any, stored: Decimal
) -> None:
    created = items.create({field: given})

    value = items.get(created["id"])[field]

    assert value == stored
    assert str(value) == str(stored)
    assert created[field] == value


@pytest.mark.parametrize("given", ["1.005", "0.001"])
def test_more_decimal_places_than_the_scale_are_refused(items: RecordService, given: str) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create({"price": given})

    assert "2 decimal places" in problems_of(caught.value)["/price"]


@pytest.mark.parametrize("given", ["NaN", "Infinity", "12345678901.12345"])
def test_decimals_out_of_range_are_refused(items: RecordService, given: str) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create({"ratio": given})

    assert list(problems_of(caught.value)) == ["/ratio"]


@pytest.mark.parametrize(
    "given",
    [
        "2024-03-04T07:06:07+02:00",
        dt.datetime(2024, 3, 4, 0, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "2024-03-04T05:06:07Z",
    ],
)
def test_datetimes_with_an_offset_are_stored_in_utc(items: RecordService, given: Any) -> None:
    created = items.create({"checked_at": given})

    value = items.get(created["id"])["checked_at"]

    assert value == dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    assert value.utcoffset() == dt.timedelta(0)
    assert created["checked_at"] == value


@pytest.mark.parametrize("given", ["2024-03-04T05:06:07", dt.datetime(2024, 3, 4, 5, 6, 7)])
def test_naive_datetimes_are_taken_as_utc(items: RecordService, given: Any) -> None:
    created = items.create({"checked_at": given})

    assert items.get(created["id"])["checked_at"] == dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", [BIGINT_MAX, -BIGINT_MAX - 1])
def test_integers_at_the_bigint_limits_are_stored(items: RecordService, value: int) -> None:
    created = items.create({"quantity": value})

    assert items.get(created["id"])["quantity"] == value


@pytest.mark.parametrize("value", [BIGINT_MAX + 1, -BIGINT_MAX - 2, 10**30])
def test_integers_beyond_bigint_are_refused_clearly(items: RecordService, value: int) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create({"quantity": value})

    assert "than or equal to" in problems_of(caught.value)["/quantity"]
    assert items.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", 1.5),
        ("quantity", "many"),
        ("in_stock", "perhaps"),
        ("released", "2024-02-30"),
        ("checked_at", "yesterday"),
        ("email", "no-at-sign"),
        ("phone", "call me"),
        ("homepage", "example.org"),
        ("status", "archived"),
        ("colours", ["red", "purple"]),
        ("colours", ["red", "red"]),
        ("colours", "red"),
        ("title", "x" * 41),
        ("account", "not-a-uuid"),
        ("regarding", {"entity": "account"}),
        ("regarding", "just text"),
    ],
)
def test_a_value_of_the_wrong_shape_is_refused(
    items: RecordService, field: str, value: Any
) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create({field: value})

    assert all(p.pointer.startswith(f"/{field}") for p in caught.value.problems)
    assert caught.value.problems


def test_nothing_is_written_when_validation_fails(contacts: RecordService) -> None:
    with pytest.raises(RecordValidationError):
        contacts.create({"name": "Ada", "email": "nope"})

    assert contacts.count() == 0


def test_a_failed_update_changes_nothing(contacts: RecordService) -> None:
    ada = contacts.create({"name": "Ada", "email": "ada@example.org"})

    with pytest.raises(RecordValidationError):
        contacts.update(ada["id"], {"name": "Ada L.", "email": "nope"})

    assert contacts.get(ada["id"]) == ada


def test_json_fields_take_any_json_value(items: RecordService) -> None:
    for value in ({"a": [1, "two", None]}, [1, 2], "text", 3, True):
        created = items.create({"extra": value})
        assert items.get(created["id"])["extra"] == value


def test_json_fields_refuse_values_json_cannot_hold(items: RecordService) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create({"extra": {"when": object()}})

    assert caught.value.problems[0].pointer.startswith("/extra")


@pytest.mark.parametrize(
    ("values", "pointer"),
    [
        ({"title": "a\x00b"}, "/title"),
        ({"body": "\ud800"}, "/body"),
        ({"extra": {"k": ["ok", "a\x00"]}}, "/extra"),
        ({"extra": {"a\x00": 1}}, "/extra"),
    ],
)
def test_text_no_database_can_store_is_refused(
    items: RecordService, values: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create(values)

    assert list(problems_of(caught.value)) == [pointer]
    assert items.count() == 0


def test_a_datetime_that_leaves_the_calendar_in_utc_is_refused(items: RecordService) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create({"checked_at": "0001-01-01T00:00:00+05:00"})

    assert problems_of(caught.value) == {"/checked_at": "is out of the range of datetimes"}


def test_repeated_choices_are_refused_in_plain_words(items: RecordService) -> None:
    with pytest.raises(RecordValidationError) as caught:
        items.create({"colours": ["red", "red"]})

    assert problems_of(caught.value) == {"/colours": "values must not repeat"}


@pytest.mark.parametrize("bad", [None, ["name"], "Ada"])
def test_a_record_that_is_not_an_object_is_refused(contacts: RecordService, bad: Any) -> None:
    with pytest.raises(RecordValidationError) as caught:
        contacts.create(bad)

    assert list(problems_of(caught.value)) == [""]


def test_an_integer_past_64_bits_is_refused_even_when_the_maximum_allows_it(xrm: XRM) -> None:
    xrm.metadata.define(
        {"x-xrm": {"name": "meter"}, "properties": {"v": {"type": "integer", "maximum": 2**70}}}
    )

    with pytest.raises(RecordValidationError) as error:
        xrm.records("meter").create({"v": 10**20})

    assert [p.pointer for p in error.value.problems] == ["/v"]
    assert xrm.records("meter").count() == 0
