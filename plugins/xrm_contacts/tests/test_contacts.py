"""Entities, lookups, activities regarding records, and the timeline (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from xrm_core import XRM, BrokenReference, RecordNotFound, RecordValidationError

from xrm_contacts import timeline


def test_install_creates_the_three_entities_owned_by_contacts(xrm: XRM) -> None:
    assert [xrm.metadata.owner(e) for e in ("account", "contact", "activity")] == ["contacts"] * 3
    contact = xrm.metadata.get("contact")
    assert contact.field("preferred_channel").choices == ("email", "phone", "sms", "post", "none")
    assert contact.field("account").target == "account"


def test_accounts_have_parents_and_contacts_work_for_accounts(xrm: XRM) -> None:
    group = xrm.records("account").create({"name": "Globex Group"})
    branch = xrm.records("account").create({"name": "Globex Paris", "parent": group["id"]})
    ada = xrm.records("contact").create(
        {"first_name": "Ada", "last_name": "Lovelace", "account": branch["id"], "consent_sms": True}
    )

    found = xrm.records("contact").get(ada["id"], expand=["account"])
    assert found["account"]["parent"] == group["id"]
    assert (found["consent_sms"], found["consent_email"]) == (True, False)


def test_a_contact_needs_a_last_name_and_a_known_channel(xrm: XRM) -> None:
    with pytest.raises(RecordValidationError) as refused:
        xrm.records("contact").create({"first_name": "Ada", "preferred_channel": "pigeon"})

    assert sorted(p.pointer for p in refused.value.problems) == ["/last_name", "/preferred_channel"]


def test_an_activity_regards_an_account_or_a_contact_and_has_participants(xrm: XRM) -> None:
    acme = xrm.records("account").create({"name": "Acme"})
    ada = xrm.records("contact").create({"last_name": "Lovelace"})
    activities = xrm.records("activity")
    call = activities.create(
        {"kind": "call", "subject": "Pricing", "regarding": {"entity": "account", "id": acme["id"]}}
    )
    activities.link(call["id"], "participants", ada["id"])

    assert call["status"] == "open"
    assert [link["target_id"] for link in activities.links(call["id"], "participants")] == [
        ada["id"]
    ]
    with pytest.raises(BrokenReference):
        activities.create(
            {"subject": "Ghost", "regarding": {"entity": "contact", "id": acme["id"]}}
        )


def test_deleting_a_record_deletes_the_activities_about_it(xrm: XRM) -> None:
    acme = xrm.records("account").create({"name": "Acme"})
    xrm.records("activity").create(
        {"subject": "Visit", "regarding": {"entity": "account", "id": acme["id"]}}
    )

    report = xrm.records("account").delete(acme["id"])

    assert report.deleted == {"account": 1, "activity": 1}


def test_the_timeline_lists_activities_and_changes_newest_first(xrm: XRM) -> None:
    acme = xrm.records("account").create({"name": "Acme"})
    regarding = {"entity": "account", "id": acme["id"]}
    xrm.records("activity").create(
        {"kind": "call", "subject": "First call", "regarding": regarding}
    )
    xrm.records("account").update(acme["id"], {"city": "Leeds"})
    xrm.records("activity").create({"kind": "note", "subject": "Likes tea", "regarding": regarding})

    items = timeline(xrm, "account", acme["id"])

    assert [(i.source, i.summary) for i in items] == [
        ("activity", "Likes tea"),
        ("audit", "changed city"),
        ("activity", "First call"),
        ("audit", "created"),
    ]
    assert [i.summary for i in timeline(xrm, "account", acme["id"], limit=2)] == [
        "Likes tea",
        "changed city",
    ]


def test_the_timeline_shows_only_what_the_caller_may_read(xrm: XRM) -> None:
    cells = [(e, p, "own") for e in ("account", "activity") for p in ("create", "read")]
    xrm.security.create_role("Own accounts", cells)
    ann = xrm.as_user(xrm.security.create_user("ann", roles=["Own accounts"]))
    bob_id = xrm.security.create_user("bob", roles=["Own accounts"])
    bob = xrm.as_user(bob_id)
    acme = ann.records("account").create({"name": "Acme"})
    xrm.records("account").share(acme["id"], bob_id)
    regarding = {"entity": "account", "id": acme["id"]}
    ann.records("activity").create({"subject": "Ann's call", "regarding": regarding})

    # bob reads the account (shared with him) but not ann's activities.
    assert [i.summary for i in timeline(bob, "account", acme["id"])] == ["share", "created"]
    assert [i.summary for i in timeline(ann, "account", acme["id"])] == [
        "Ann's call",
        "share",
        "created",
    ]
    carol = xrm.as_user(xrm.security.create_user("carol", roles=["Own accounts"]))
    with pytest.raises(RecordNotFound):
        timeline(carol, "account", acme["id"])


def test_the_timeline_works_for_a_record_of_any_entity(xrm: XRM) -> None:
    user = xrm.security.create_user("dora")

    items = timeline(xrm, "user", user)

    assert [i.kind for i in items] == ["create"]


def test_the_timeline_action_is_served_for_each_entity(xrm: XRM) -> None:
    ada = xrm.records("contact").create({"last_name": "Lovelace"})
    xrm.records("activity").create(
        {"kind": "email", "subject": "Hello", "regarding": {"entity": "contact", "id": ada["id"]}}
    )

    output = xrm.actions.run("contact.timeline", ada["id"], {"limit": 1})

    assert [(i.kind, i.summary) for i in output.items] == [("email", "Hello")]  # type: ignore[attr-defined]
    names = {a.qualified_name for a in xrm.actions.list()}
    assert {"account.timeline", "contact.timeline", "activity.timeline"} <= names
