"""get with field selection and expanded lookups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import QueryError, RecordService

Make = Callable[..., dict[str, Any]]


def test_get_returns_only_the_selected_fields_and_the_id(
    contacts: RecordService, new_contact: Make
) -> None:
    ada = new_contact(name="Ada")

    assert contacts.get(ada["id"], fields=["name", "version"]) == {
        "id": ada["id"],
        "name": "Ada",
        "version": 1,
    }


def test_get_refuses_an_unknown_field(contacts: RecordService, new_contact: Make) -> None:
    with pytest.raises(QueryError) as caught:
        contacts.get(new_contact()["id"], fields=["name", "shoe_size"])

    assert [p.pointer for p in caught.value.problems] == ["/fields/1"]


def test_get_expands_a_lookup_into_the_record(
    contacts: RecordService, new_account: Make, new_contact: Make
) -> None:
    parent = new_account(name="Holding")
    acme = new_account(name="Acme", parent=parent["id"])
    ada = new_contact(account=acme["id"])

    got = contacts.get(ada["id"], expand=["account.parent"])

    assert got["account"]["name"] == "Acme"
    assert got["account"]["parent"]["name"] == "Holding"


def test_get_expands_a_polymorphic_lookup(activities: RecordService, new_contact: Make) -> None:
    ada = new_contact(name="Ada")
    call = activities.create(
        {"subject": "Call", "regarding": {"entity": "contact", "id": ada["id"]}}
    )

    got = activities.get(call["id"], expand=["regarding"])

    assert got["regarding"]["name"] == "Ada"


def test_an_empty_lookup_expands_to_none(contacts: RecordService, new_contact: Make) -> None:
    ada = new_contact()

    assert contacts.get(ada["id"], expand=["account"])["account"] is None


def test_only_lookups_can_be_expanded(contacts: RecordService, new_contact: Make) -> None:
    with pytest.raises(QueryError) as caught:
        contacts.get(new_contact()["id"], expand=["name"])

    assert [p.pointer for p in caught.value.problems] == ["/expand/0"]
