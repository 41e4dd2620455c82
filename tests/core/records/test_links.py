"""Many-to-many: link with attributes, re-link, list, unlink."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import QueryError, RecordNotFound, RecordService, RecordValidationError

Make = Callable[..., dict[str, Any]]


def test_link_stores_the_attributes(
    contacts: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, hot = new_contact(), new_tag()

    link = contacts.link(ada["id"], "tags", hot["id"], {"weight": 3, "note": "met at expo"})

    assert link["source_id"] == ada["id"]
    assert link["target_id"] == hot["id"]
    assert (link["weight"], link["note"]) == (3, "met at expo")
    assert link["created_at"].utcoffset() == dt.timedelta(0)
    assert contacts.links(ada["id"], "tags") == [link]


def test_link_applies_attribute_defaults(
    contacts: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, hot = new_contact(), new_tag()

    link = contacts.link(ada["id"], "tags", hot["id"])

    assert (link["weight"], link["note"]) == (1, None)


def test_relinking_replaces_the_attributes_and_keeps_one_link(
    contacts: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, hot = new_contact(), new_tag()
    first = contacts.link(ada["id"], "tags", hot["id"], {"weight": 3, "note": "expo"})

    second = contacts.link(ada["id"], "tags", hot["id"], {"weight": 8})

    assert (second["weight"], second["note"]) == (8, None)
    assert second["created_at"] == first["created_at"]
    assert contacts.links(ada["id"], "tags") == [second]


def test_relinking_without_attributes_keeps_one_link(
    accounts: RecordService, new_account: Make, new_tag: Make
) -> None:
    acme, hot = new_account(), new_tag()
    first = accounts.link(acme["id"], "labels", hot["id"])

    again = accounts.link(str(acme["id"]), "labels", str(hot["id"]))

    assert again == first
    assert accounts.links(acme["id"], "labels") == [first]


def test_links_lists_a_record_s_links_oldest_first(
    contacts: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, grace = new_contact(), new_contact()
    hot, cold, warm = new_tag(), new_tag(), new_tag()
    for tag in (hot, cold, warm):
        contacts.link(ada["id"], "tags", tag["id"])
    contacts.link(grace["id"], "tags", hot["id"])

    listed = contacts.links(ada["id"], "tags")

    assert [link["target_id"] for link in listed] == [hot["id"], cold["id"], warm["id"]]
    assert contacts.links(new_contact()["id"], "tags") == []


def test_unlink_says_whether_there_was_a_link(
    contacts: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, hot = new_contact(), new_tag()
    contacts.link(ada["id"], "tags", hot["id"])

    assert contacts.unlink(ada["id"], "tags", hot["id"]) is True
    assert contacts.unlink(ada["id"], "tags", hot["id"]) is False
    assert contacts.links(ada["id"], "tags") == []


def test_unlink_leaves_both_records(
    contacts: RecordService, tags: RecordService, new_contact: Make, new_tag: Make
) -> None:
    ada, hot = new_contact(), new_tag()
    contacts.link(ada["id"], "tags", hot["id"])

    contacts.unlink(ada["id"], "tags", hot["id"])

    assert contacts.get(ada["id"]) == ada
    assert tags.get(hot["id"]) == hot


def test_linking_to_a_missing_record_is_refused(contacts: RecordService, new_contact: Make) -> None:
    ada = new_contact()

    with pytest.raises(RecordNotFound) as caught:
        contacts.link(ada["id"], "tags", uuid.uuid4())

    assert [p.pointer for p in caught.value.problems] == ["/target_id"]
    assert contacts.links(ada["id"], "tags") == []


def test_linking_from_a_missing_record_is_refused(contacts: RecordService, new_tag: Make) -> None:
    with pytest.raises(RecordNotFound) as caught:
        contacts.link(uuid.uuid4(), "tags", new_tag()["id"])

    assert [p.pointer for p in caught.value.problems] == ["/id"]


def test_linking_to_a_record_of_another_entity_is_refused(
    contacts: RecordService, new_contact: Make
) -> None:
    ada, grace = new_contact(), new_contact()

    with pytest.raises(RecordNotFound):
        contacts.link(ada["id"], "tags", grace["id"])


def test_a_target_id_that_is_not_a_uuid_is_pointed_at(
    contacts: RecordService, new_contact: Make
) -> None:
    with pytest.raises(RecordNotFound) as caught:
        contacts.link(new_contact()["id"], "tags", "hot")

    assert [p.pointer for p in caught.value.problems] == ["/target_id"]


@pytest.mark.parametrize(
    ("attributes", "pointers"),
    [
        ({"weight": 11}, ["/weight"]),
        ({"weight": -1, "note": "x" * 21}, ["/note", "/weight"]),
        ({"colour": "red"}, ["/colour"]),
        ({"weight": "heavy"}, ["/weight"]),
    ],
)
def test_link_attributes_are_validated(
    contacts: RecordService,
    new_contact: Make,
    new_tag: Make,
    attributes: dict[str, Any],
    pointers: list[str],
) -> None:
    ada, hot = new_contact(), new_tag()

    with pytest.raises(RecordValidationError) as caught:
        contacts.link(ada["id"], "tags", hot["id"], attributes)

    assert sorted(p.pointer for p in caught.value.problems) == pointers
    assert contacts.links(ada["id"], "tags") == []


def test_a_relationship_without_attributes_takes_none(
    accounts: RecordService, new_account: Make, new_tag: Make
) -> None:
    with pytest.raises(RecordValidationError) as caught:
        accounts.link(new_account()["id"], "labels", new_tag()["id"], {"weight": 1})

    assert [p.pointer for p in caught.value.problems] == ["/weight"]


@pytest.mark.parametrize("call", ["link", "unlink", "links"])
def test_an_unknown_relationship_is_a_clear_error(
    contacts: RecordService, new_contact: Make, new_tag: Make, call: str
) -> None:
    ada, hot = new_contact(), new_tag()
    calls: dict[str, Callable[[], object]] = {
        "link": lambda: contacts.link(ada["id"], "friends", hot["id"]),
        "unlink": lambda: contacts.unlink(ada["id"], "friends", hot["id"]),
        "links": lambda: contacts.links(ada["id"], "friends"),
    }

    with pytest.raises(QueryError) as caught:
        calls[call]()

    assert [p.pointer for p in caught.value.problems] == ["/relationship"]
    assert "friends" in caught.value.message
