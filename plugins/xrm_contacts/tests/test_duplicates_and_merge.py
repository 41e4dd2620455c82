"""Duplicate detection on create, and merging two records (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from xrm_core import XRM, AccessDenied, DuplicateRecord, RecordNotFound, RecordValidationError

from xrm_contacts import find_duplicates, merge, normalize


def _refusal(xrm: XRM, entity: str, data: dict[str, Any]) -> DuplicateRecord:
    with pytest.raises(DuplicateRecord) as refused:
        xrm.records(entity).create(data)
    return refused.value


def test_names_are_compared_without_case_accents_or_punctuation() -> None:
    assert normalize("  Zoë   O'Néil ") == "zoe o neil"


def test_a_contact_with_the_same_email_is_refused_and_the_duplicate_named(xrm: XRM) -> None:
    ada = xrm.records("contact").create(
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}
    )

    error = _refusal(xrm, "contact", {"last_name": "King", "email2": "ADA@example.org"})

    assert "looks like 'Ada Lovelace' (same email)" in str(error)
    assert error.details["duplicates"] == [
        {
            "entity": "contact",
            "id": str(ada["id"]),
            "name": "Ada Lovelace",
            "reasons": ["same email"],
        }
    ]
    assert xrm.records("contact").count() == 1


def test_same_phone_and_similar_names_are_duplicates_too(xrm: XRM) -> None:
    xrm.records("contact").create(
        {"first_name": "Zoë", "last_name": "O'Neil", "mobile": "+44 7700 900123"}
    )
    xrm.records("account").create({"name": "Acme Ltd"})

    by_phone = _refusal(xrm, "contact", {"last_name": "Smith", "phone": "07700 900123"})
    by_name = _refusal(xrm, "contact", {"first_name": "zoe", "last_name": "o'neill"})
    company = _refusal(xrm, "account", {"name": "ACME"})

    assert by_phone.details["duplicates"][0]["reasons"] == ["same phone"]
    assert by_name.details["duplicates"][0]["reasons"] == ["similar name"]
    assert company.details["duplicates"][0]["name"] == "Acme Ltd"


def test_different_people_with_one_surname_are_not_duplicates(xrm: XRM) -> None:
    xrm.records("contact").create({"first_name": "John", "last_name": "Smith"})

    jane = xrm.records("contact").create({"first_name": "Jane", "last_name": "Smith"})

    assert jane["first_name"] == "Jane"


def test_allow_duplicate_creates_it_anyway_and_find_duplicates_offers_it(xrm: XRM) -> None:
    first = xrm.records("account").create({"name": "Acme", "email": "info@acme.test"})
    second = xrm.records("account").create(
        {"name": "Acme", "email": "info@acme.test", "allow_duplicate": True}
    )

    output = xrm.actions.run("account.find_duplicates", first["id"], {})

    assert [(d.id, d.reasons) for d in output.duplicates] == [  # type: ignore[attr-defined]
        (second["id"], ["same email", "similar name"])
    ]
    assert "allow_duplicate" not in second


def test_the_check_names_only_records_the_creator_may_read(xrm: XRM) -> None:
    cells = [("contact", p, "own") for p in ("create", "read")]
    xrm.security.create_role("Own contacts", cells)
    ann = xrm.as_user(xrm.security.create_user("ann", roles=["Own contacts"]))
    bob = xrm.as_user(xrm.security.create_user("bob", roles=["Own contacts"]))
    ann.records("contact").create({"last_name": "Lovelace", "email": "ada@example.org"})

    mine = bob.records("contact").create({"last_name": "Lovelace", "email": "ada@example.org"})

    assert mine["owner_id"] == bob.caller.user_id  # type: ignore[union-attr]
    assert len(find_duplicates(xrm, "contact", mine, exclude=mine["id"])) == 1


def _two_accounts(xrm: XRM) -> tuple[dict[str, Any], dict[str, Any]]:
    kept = xrm.records("account").create({"name": "Acme Ltd", "city": "Leeds"})
    gone = xrm.records("account").create(
        {"name": "ACME", "phone": "+44 20 7946 0000", "city": "York", "allow_duplicate": True}
    )
    return kept, gone


def test_a_merge_moves_what_points_at_the_duplicate_and_deletes_it(xrm: XRM) -> None:
    kept, gone = _two_accounts(xrm)
    branch = xrm.records("account").create({"name": "Acme Paris", "parent": gone["id"]})
    ada = xrm.records("contact").create({"last_name": "Lovelace", "account": gone["id"]})
    call = xrm.records("activity").create(
        {"subject": "Call", "regarding": {"entity": "account", "id": gone["id"]}}
    )

    report = xrm.actions.run("account.merge", kept["id"], {"duplicate": str(gone["id"])})

    assert report.moved == {  # type: ignore[attr-defined]
        "account.parent": 1,
        "activity.regarding": 1,
        "contact.account": 1,
    }
    assert report.filled == ["phone"]  # type: ignore[attr-defined]
    survivor = xrm.records("account").get(kept["id"])
    assert (survivor["city"], survivor["phone"]) == ("Leeds", "+44 20 7946 0000")
    assert xrm.records("account").get(branch["id"])["parent"] == kept["id"]
    assert xrm.records("contact").get(ada["id"])["account"] == kept["id"]
    moved = xrm.records("activity").get(call["id"])["regarding"]
    assert moved == {"entity": "account", "id": kept["id"]}
    with pytest.raises(RecordNotFound):
        xrm.records("account").get(gone["id"])


def test_a_merge_is_audited_as_one_unit_of_work_and_keeps_the_history(xrm: XRM) -> None:
    kept, gone = _two_accounts(xrm)
    ada = xrm.records("contact").create({"last_name": "Lovelace", "account": gone["id"]})

    xrm.actions.run("account.merge", kept["id"], {"duplicate": str(gone["id"])})

    change = xrm.audit.for_record("contact", ada["id"])[0]
    assert change.changes["account"] == {"old": gone["id"], "new": kept["id"]}
    unit = [(e.entity, e.operation) for e in xrm.audit.by_correlation(change.correlation_id)]
    assert unit == [("contact", "update"), ("account", "update"), ("account", "delete")]
    assert [e.operation for e in xrm.audit.for_record("account", gone["id"])] == [
        "delete",
        "create",
    ]


def test_merging_contacts_moves_their_activity_participation(xrm: XRM) -> None:
    kept = xrm.records("contact").create({"first_name": "Ada", "last_name": "Lovelace"})
    gone = xrm.records("contact").create(
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@x.test",
            "allow_duplicate": True,
        }
    )
    meeting = xrm.records("activity").create({"kind": "meeting", "subject": "Review"})
    xrm.records("activity").link(meeting["id"], "participants", gone["id"])

    merge(xrm, "contact", kept["id"], gone["id"])

    links = xrm.records("activity").links(meeting["id"], "participants")
    assert [link["target_id"] for link in links] == [kept["id"]]
    assert xrm.records("contact").get(kept["id"])["email"] == "ada@x.test"


def test_a_record_cannot_be_merged_into_itself(xrm: XRM) -> None:
    kept, _ = _two_accounts(xrm)

    with pytest.raises(RecordValidationError):
        merge(xrm, "account", kept["id"], kept["id"])


def test_a_merge_needs_delete_on_the_duplicate_and_changes_nothing_without(xrm: XRM) -> None:
    cells = [("account", p, "organization") for p in ("create", "read", "update")]
    xrm.security.create_role("No deletes", cells)
    eve = xrm.as_user(xrm.security.create_user("eve", roles=["No deletes"]))
    kept, gone = _two_accounts(xrm)

    with pytest.raises(AccessDenied):
        eve.actions.run("account.merge", kept["id"], {"duplicate": str(gone["id"])})

    assert xrm.records("account").count() == 2
    assert xrm.records("account").get(kept["id"])["phone"] is None
