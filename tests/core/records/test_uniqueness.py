"""Unique fields and alternate keys: a repeated value is a DuplicateRecord naming the fields."""

from __future__ import annotations

import pytest

from xrm_core import DuplicateRecord, RecordService


def test_a_repeated_unique_field_on_create_is_a_duplicate(contacts: RecordService) -> None:
    contacts.create({"name": "Ada", "email": "ada@example.org"})

    with pytest.raises(DuplicateRecord) as caught:
        contacts.create({"name": "Copy", "email": "ada@example.org"})

    assert caught.value.code == "duplicate_record"
    assert caught.value.details == {"fields": ["email"]}
    assert [p.pointer for p in caught.value.problems] == ["/email"]
    assert "email" in caught.value.message
    assert contacts.count() == 1


def test_a_repeated_unique_field_on_update_is_a_duplicate(contacts: RecordService) -> None:
    contacts.create({"name": "Ada", "email": "ada@example.org"})
    grace = contacts.create({"name": "Grace", "email": "grace@example.org"})

    with pytest.raises(DuplicateRecord) as caught:
        contacts.update(grace["id"], {"email": "ada@example.org"})

    assert caught.value.details == {"fields": ["email"]}
    assert contacts.get(grace["id"]) == grace


def test_a_repeated_single_field_alternate_key_is_a_duplicate(accounts: RecordService) -> None:
    accounts.create({"name": "Acme", "number": "A-1"})

    with pytest.raises(DuplicateRecord) as caught:
        accounts.create({"name": "Other", "number": "A-1"})

    assert caught.value.details == {"fields": ["number"]}


def test_a_repeated_two_field_alternate_key_is_a_duplicate(accounts: RecordService) -> None:
    accounts.create({"name": "Acme", "region": "EU", "code": 7})

    with pytest.raises(DuplicateRecord) as caught:
        accounts.create({"name": "Other", "region": "EU", "code": 7})

    assert caught.value.details == {"fields": ["region", "code"]}
    assert sorted(p.pointer for p in caught.value.problems) == ["/code", "/region"]


def test_a_two_field_key_repeats_only_when_both_fields_match(accounts: RecordService) -> None:
    accounts.create({"name": "Acme", "region": "EU", "code": 7})

    accounts.create({"name": "Other", "region": "EU", "code": 8})
    accounts.create({"name": "Third", "region": "US", "code": 7})

    assert accounts.count() == 3


def test_a_two_field_key_repeated_by_update_is_a_duplicate(accounts: RecordService) -> None:
    accounts.create({"name": "Acme", "region": "EU", "code": 7})
    other = accounts.create({"name": "Other", "region": "EU", "code": 8})

    with pytest.raises(DuplicateRecord) as caught:
        accounts.update(other["id"], {"code": 7})

    assert caught.value.details == {"fields": ["region", "code"]}
    assert accounts.get(other["id"]) == other


def test_empty_unique_fields_do_not_collide(contacts: RecordService) -> None:
    contacts.create({"name": "Ada"})
    contacts.create({"name": "Grace"})

    assert contacts.count() == 2


def test_a_repeated_id_is_a_duplicate(accounts: RecordService) -> None:
    acme = accounts.create({"name": "Acme"})

    with pytest.raises(DuplicateRecord) as caught:
        accounts.create({"id": acme["id"], "name": "Twin"})

    assert caught.value.details == {"fields": ["id"]}


def test_a_value_freed_by_an_update_can_be_reused(contacts: RecordService) -> None:
    ada = contacts.create({"name": "Ada", "email": "ada@example.org"})
    contacts.update(ada["id"], {"email": "ada.l@example.org"})

    contacts.create({"name": "New Ada", "email": "ada@example.org"})

    assert contacts.count() == 2
