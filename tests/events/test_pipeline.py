"""The event stages around every write of the record service, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from xrm_core import XRM, Event, Proposal, Subscriber
from xrm_core.errors import RecordValidationError, XRMError
from xrm_core.events.bus import EventLoop

ACCOUNT = {
    "x-xrm": {"name": "account"},
    "properties": {"name": {"type": "string"}, "tier": {"enum": ["a", "b"]}},
    "required": ["name"],
}
CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "account": {"x-xrm": {"kind": "lookup", "target": "account", "on_delete": "cascade"}},
    },
    "required": ["name"],
}


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    xrm.metadata.define([ACCOUNT, CONTACT])
    return xrm


def record(crm: XRM, stage: str, pattern: str = "*", **kw: Any) -> list[Event]:
    seen: list[Event] = []
    crm.events.subscribe(Subscriber(f"seen_{stage}", stage, pattern, seen.append, **kw))  # type: ignore[arg-type]
    return seen


def subscribe(
    crm: XRM, name: str, stage: str, pattern: str, handler: Callable[[Any], object]
) -> None:
    crm.events.subscribe(Subscriber(name, stage, pattern, handler))  # type: ignore[arg-type]


def test_validate_subscribers_may_change_the_input_before_it_is_validated(crm: XRM) -> None:
    def tidy(proposal: Proposal) -> None:
        proposal.data["name"] = proposal.data["name"].strip().title()

    subscribe(crm, "tidy", "validate", "contact.*", tidy)

    made = crm.records("contact").create({"name": "  ada lovelace "})
    changed = crm.records("contact").update(made["id"], {"name": "grace hopper"})

    assert (made["name"], changed["name"]) == ("Ada Lovelace", "Grace Hopper")


def test_a_validate_subscriber_that_refuses_leaves_nothing_written(crm: XRM) -> None:
    def no_gmail(proposal: Proposal) -> None:
        if str(proposal.data.get("email", "")).endswith("@gmail.com"):
            raise RecordValidationError("business addresses only")

    subscribe(crm, "no_gmail", "validate", "contact.created", no_gmail)

    with pytest.raises(RecordValidationError, match="business addresses"):
        crm.records("contact").create({"name": "Ada", "email": "ada@gmail.com"})
    assert crm.records("contact").count() == 0


def test_before_and_after_see_the_change_with_its_images(crm: XRM) -> None:
    before, after = record(crm, "before"), record(crm, "after")
    acme = crm.records("account").create({"name": "Acme", "tier": "a"})
    crm.records("account").update(acme["id"], {"tier": "b"})

    assert [e.name for e in before] == ["account.created", "account.updated"]
    assert [e.name for e in after] == ["account.created", "account.updated"]
    created, updated = after
    assert created.record_id == acme["id"]
    assert created.before is None and created.after is not None
    assert created.after["name"] == "Acme"
    assert set(created.changed) >= {"name", "tier"}
    assert updated.changed == ("tier",)
    assert (updated.before or {})["tier"] == "a"
    assert (updated.after or {})["tier"] == "b"
    assert (before[1].after or {})["version"] == 1  # before the write: the proposal
    assert (updated.after or {})["version"] == 2
    assert updated.actor_id is None and updated.reason == "tests"
    assert updated.depth == 0 and updated.correlation_id


def test_an_after_subscriber_that_fails_rolls_the_whole_operation_back(crm: XRM) -> None:
    def refuse(event: Event) -> None:
        raise XRMError("the ledger is closed")

    subscribe(crm, "closed", "after", "contact.created", refuse)

    with pytest.raises(XRMError, match="ledger is closed"), crm.transaction():
        crm.records("account").create({"name": "Acme"})
        crm.records("contact").create({"name": "Ada"})

    assert crm.records("account").count() == 0
    assert crm.records("contact").count() == 0


def test_subscribers_filter_by_changed_fields(crm: XRM) -> None:
    tiers = record(crm, "after", "account.updated", entity="account", fields={"tier"})
    acme = crm.records("account").create({"name": "Acme", "tier": "a"})
    crm.records("account").update(acme["id"], {"name": "Acme Ltd"})
    crm.records("account").update(acme["id"], {"tier": "b"})

    assert [e.changed for e in tiers] == [("tier",)]


def test_a_cascading_delete_raises_an_event_for_every_record_it_removes(crm: XRM) -> None:
    deleted = record(crm, "after", "*.deleted")
    acme = crm.records("account").create({"name": "Acme"})
    crm.records("contact").create_many([{"name": n, "account": acme["id"]} for n in "ab"])

    crm.records("account").delete(acme["id"])

    assert sorted(e.name for e in deleted) == [
        "account.deleted",
        "contact.deleted",
        "contact.deleted",
    ]
    assert all(e.after is None and e.before is not None for e in deleted)
    assert len({e.correlation_id for e in deleted}) == 1


def test_a_handler_that_changes_other_records_raises_deeper_events(crm: XRM) -> None:
    deeper = record(crm, "after", "contact.created")

    def welcome(event: Event) -> None:
        crm.records("contact").create({"name": f"Contact of {(event.after or {})['name']}"})

    subscribe(crm, "welcome", "after", "account.created", welcome)
    crm.records("account").create({"name": "Acme"})

    assert [(e.name, e.depth) for e in deeper] == [("contact.created", 1)]


def test_a_handler_that_changes_its_own_record_again_is_stopped_and_nothing_stays(crm: XRM) -> None:
    def bump(event: Event) -> None:
        crm.records("account").update(event.record_id, {"name": "again"})  # type: ignore[arg-type]

    subscribe(crm, "bump", "after", "account.updated", bump)
    acme = crm.records("account").create({"name": "Acme"})

    with pytest.raises(EventLoop, match="same record again"):
        crm.records("account").update(acme["id"], {"name": "Acme Ltd"})
    assert crm.records("account").get(acme["id"])["name"] == "Acme"


def test_bulk_creates_raise_one_event_per_record(crm: XRM) -> None:
    created = record(crm, "after", "account.created")
    crm.records("account").create_many([{"name": f"n{i}"} for i in range(1200)])

    assert len(created) == 1200
    assert len({e.record_id for e in created}) == 1200


def test_assign_and_share_raise_their_events(xrm: XRM) -> None:
    xrm.security.install()
    xrm.metadata.define([ACCOUNT, CONTACT])
    seen = record(xrm, "after", "contact.*")
    ahead = record(xrm, "before", "contact.*")
    bob = xrm.security.create_user("bob")
    ada = xrm.records("contact").create({"name": "Ada"})

    xrm.records("contact").assign(ada["id"], bob)
    xrm.records("contact").share(ada["id"], bob)
    xrm.records("contact").unshare(ada["id"], bob)

    assert [e.name for e in seen] == [
        "contact.created",
        "contact.assigned",
        "contact.shared",
        "contact.unshared",
    ]
    assert "owner_id" in seen[1].changed
    assert [e.name for e in ahead] == [e.name for e in seen]
