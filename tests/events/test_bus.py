"""The bus on its own: matching, order, loop protection."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from xrm_core.errors import InvalidDeclaration
from xrm_core.events.bus import EventBus, EventLoop
from xrm_core.events.model import MAX_DEPTH, Event, Proposal, Subscriber, changed_fields


def event(name: str = "contact.updated", record: uuid.UUID | None = None, **kw: Any) -> Event:
    entity = kw.pop("entity", name.split(".")[0])
    return Event(
        id=uuid.uuid4(),
        name=name,
        entity=entity,
        record_id=record or uuid.uuid4(),
        actor_id=None,
        correlation_id="c",
        occurred_at=dt.datetime.now(dt.UTC),
        **kw,
    )


def test_subscribers_match_by_pattern_entity_and_changed_fields() -> None:
    bus = EventBus()
    seen: list[str] = []
    for name, pattern, entity, fields in (
        ("all_contacts", "contact.*", None, ()),
        ("every_create", "*.created", None, ()),
        ("emails_only", "contact.updated", "contact", ("email",)),
        ("accounts", "*", "account", ()),
    ):
        bus.subscribe(
            Subscriber(name, "after", pattern, lambda e, n=name: seen.append(n), entity, fields)
        )

    bus.run("after", event("contact.updated", changed=("name",)))
    bus.run("after", event("contact.updated", changed=("email",)))
    bus.run("after", event("account.created"))

    assert seen == ["all_contacts", "all_contacts", "emails_only", "accounts", "every_create"]


def test_subscribers_run_by_order_then_name() -> None:
    bus = EventBus()
    seen: list[str] = []
    for name, order in (("b", 0), ("a", 0), ("late", 10), ("early", -5)):
        bus.subscribe(
            Subscriber(name, "before", "*", lambda e, n=name: seen.append(n), order=order)
        )

    bus.run("before", event())

    assert seen == ["early", "a", "b", "late"]


def test_a_subscriber_name_is_unique_and_a_stage_must_exist() -> None:
    bus = EventBus()
    bus.subscribe(Subscriber("x", "after", "*", print))
    with pytest.raises(ValueError, match="exists already"):
        bus.subscribe(Subscriber("x", "before", "*", print))
    with pytest.raises(InvalidDeclaration, match="invalid subscriber"):
        Subscriber("y", "later", "*", print)  # type: ignore[arg-type]
    bus.unsubscribe("x")
    assert bus.subscribers("after", "contact.updated", "contact") == []


def test_validate_subscribers_may_change_the_input() -> None:
    bus = EventBus()

    def shout(proposal: Proposal) -> None:
        proposal.data["name"] = proposal.data["name"].upper()

    bus.subscribe(Subscriber("shout", "validate", "contact.created", shout))
    proposal = Proposal("contact", "create", {"name": "ada"}, None, None, "c")

    bus.validate(proposal)

    assert proposal.data == {"name": "ADA"}


def test_the_same_event_for_the_same_record_inside_its_own_handler_is_a_loop() -> None:
    bus = EventBus()
    record = uuid.uuid4()
    bus.subscribe(
        Subscriber("again", "after", "*", lambda e: bus.run("after", event(record=record)))
    )

    with pytest.raises(EventLoop, match="same record again") as caught:
        bus.run("after", event(record=record))
    assert caught.value.details["chain"] == ["contact.updated:after", "contact.updated:after"]
    assert bus.depth == 0


def test_handlers_nested_too_deep_are_stopped() -> None:
    bus = EventBus()
    depths: list[int] = []

    def deeper(e: Event) -> None:
        depths.append(bus.depth)
        bus.run("after", event())  # a new record each time: no cycle, only depth

    bus.subscribe(Subscriber("deeper", "after", "*", deeper))

    with pytest.raises(EventLoop, match=f"{MAX_DEPTH} deep"):
        bus.run("after", event())
    assert depths == list(range(1, MAX_DEPTH + 1))


def test_changed_fields_leave_bookkeeping_out() -> None:
    before = {"id": 1, "version": 1, "name": "a", "email": None}
    after = {"id": 1, "version": 2, "name": "b", "email": None}
    assert changed_fields(before, after) == ("name",)
    assert changed_fields(None, after) == ("name",)
    assert changed_fields(before, None) == ("name", "email")
