"""Lookups and polymorphic lookups must point at records that exist."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import BrokenReference, RecordService, RecordValidationError

Make = Callable[..., dict[str, Any]]


def pointers(error: Exception) -> list[str]:
    return [p.pointer for p in getattr(error, "problems", ())]


def test_a_lookup_to_an_existing_record_is_stored(
    contacts: RecordService, new_account: Make
) -> None:
    acme = new_account()

    ada = contacts.create({"name": "Ada", "account": str(acme["id"])})

    assert contacts.get(ada["id"])["account"] == acme["id"]


def test_a_lookup_to_a_missing_record_is_a_broken_reference(contacts: RecordService) -> None:
    missing = uuid.uuid4()

    with pytest.raises(BrokenReference) as caught:
        contacts.create({"name": "Ada", "account": missing})

    assert caught.value.code == "broken_reference"
    assert pointers(caught.value) == ["/account"]
    assert str(missing) in caught.value.problems[0].message
    assert contacts.count() == 0


def test_an_update_to_a_missing_record_is_a_broken_reference(
    contacts: RecordService, new_account: Make
) -> None:
    ada = contacts.create({"name": "Ada", "account": new_account()["id"]})

    with pytest.raises(BrokenReference) as caught:
        contacts.update(ada["id"], {"account": uuid.uuid4()})

    assert pointers(caught.value) == ["/account"]
    assert contacts.get(ada["id"]) == ada


def test_every_broken_lookup_is_reported(invoices: RecordService) -> None:
    with pytest.raises(BrokenReference) as caught:
        invoices.create({"account": uuid.uuid4(), "contact": uuid.uuid4()})

    assert sorted(pointers(caught.value)) == ["/account", "/contact"]


def test_a_lookup_to_the_wrong_entity_is_a_broken_reference(
    contacts: RecordService, new_contact: Make
) -> None:
    # A contact's id is not an account's id, even though both are UUIDs.
    with pytest.raises(BrokenReference):
        contacts.create({"name": "Ada", "account": new_contact()["id"]})


def test_a_self_reference_to_an_existing_record_is_stored(new_account: Make) -> None:
    parent = new_account()

    child = new_account(parent=parent["id"])

    assert child["parent"] == parent["id"]


def test_a_lookup_can_be_cleared(contacts: RecordService, new_account: Make) -> None:
    ada = contacts.create({"name": "Ada", "account": new_account()["id"]})

    assert contacts.update(ada["id"], {"account": None})["account"] is None


@pytest.mark.parametrize("entity", ["account", "contact"])
def test_a_polymorphic_lookup_points_at_any_of_its_targets(
    activities: RecordService, new_account: Make, new_contact: Make, entity: str
) -> None:
    target = {"account": new_account, "contact": new_contact}[entity]()

    call = activities.create(
        {"subject": "Call", "regarding": {"entity": entity, "id": str(target["id"])}}
    )

    assert activities.get(call["id"])["regarding"] == {"entity": entity, "id": target["id"]}


def test_a_polymorphic_lookup_to_an_entity_outside_its_targets_is_refused(
    activities: RecordService, new_tag: Make
) -> None:
    tag = new_tag()

    with pytest.raises(RecordValidationError) as caught:
        activities.create({"subject": "Call", "regarding": {"entity": "tag", "id": tag["id"]}})

    assert pointers(caught.value) == ["/regarding/entity"]
    assert activities.count() == 0


def test_a_polymorphic_lookup_to_a_missing_record_is_a_broken_reference(
    activities: RecordService,
) -> None:
    with pytest.raises(BrokenReference) as caught:
        activities.create(
            {"subject": "Call", "regarding": {"entity": "account", "id": uuid.uuid4()}}
        )

    assert pointers(caught.value) == ["/regarding/id"]
    assert activities.count() == 0


def test_a_polymorphic_lookup_checks_the_entity_it_names(
    activities: RecordService, new_contact: Make
) -> None:
    # The id exists, but as a contact: pointing at it as an account is broken.
    contact = new_contact()

    with pytest.raises(BrokenReference):
        activities.create(
            {"subject": "Call", "regarding": {"entity": "account", "id": contact["id"]}}
        )


def test_a_polymorphic_lookup_can_move_to_another_entity(
    activities: RecordService, new_account: Make, new_contact: Make
) -> None:
    account, contact = new_account(), new_contact()
    call = activities.create(
        {"subject": "Call", "regarding": {"entity": "account", "id": account["id"]}}
    )

    moved = activities.update(call["id"], {"regarding": {"entity": "contact", "id": contact["id"]}})

    assert moved["regarding"] == {"entity": "contact", "id": contact["id"]}
    assert activities.get(call["id"]) == moved


def test_a_polymorphic_lookup_refuses_extra_keys(
    activities: RecordService, new_account: Make
) -> None:
    reference = {"entity": "account", "id": new_account()["id"], "name": "Acme"}

    with pytest.raises(RecordValidationError) as caught:
        activities.create({"subject": "Call", "regarding": reference})

    assert pointers(caught.value) == ["/regarding/name"]
