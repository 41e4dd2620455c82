"""Domain events raised by plugins: the after stage in the transaction, the outbox after."""

from __future__ import annotations

import pytest

from xrm_core import XRM, AccessDenied, Event, RecordValidationError, Subscriber, XRMError
from xrm_core.events.worker import Worker

DEAL = {"x-xrm": {"name": "deal"}, "properties": {"name": {"type": "string"}}}


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    xrm.metadata.define(DEAL)
    return xrm


def test_a_domain_event_reaches_after_and_committed_subscribers(crm: XRM) -> None:
    now: list[Event] = []
    later: list[Event] = []
    crm.events.subscribe(Subscriber("celebrate", "after", "sales.*.won", now.append))
    crm.events.subscribe(Subscriber("notify_erp", "committed", "sales.deal.won", later.append))
    deal = crm.records("deal").create({"name": "Big one"})

    with crm.transaction():
        raised = crm.raise_event(
            "sales.deal.won", entity="deal", record_id=deal["id"], data={"amount": "1200.00"}
        )

    assert [(e.name, e.record_id, e.data) for e in now] == [
        ("sales.deal.won", deal["id"], {"amount": "1200.00"})
    ]
    assert now[0].reason == "tests" and now[0].correlation_id == raised.correlation_id
    assert later == []
    assert Worker(crm.db, crm.events, name="w").run_once() == 1
    assert [e.id for e in later] == [raised.id]


def test_an_after_subscriber_that_fails_rolls_back_the_raisers_unit_of_work(crm: XRM) -> None:
    def refuse(event: Event) -> None:
        raise XRMError("no celebrations today")

    crm.events.subscribe(Subscriber("grumpy", "after", "sales.deal.won", refuse))

    with pytest.raises(XRMError, match="no celebrations"), crm.transaction():
        crm.records("deal").create({"name": "Big one"})
        crm.raise_event("sales.deal.won")

    assert crm.records("deal").count() == 0


@pytest.mark.parametrize("name", ["deal.created", "deal.deleted", "won", "Sales.Won", "sales..won"])
def test_names_of_record_changes_and_bad_names_are_refused(crm: XRM, name: str) -> None:
    with pytest.raises(RecordValidationError, match="not a domain event name"):
        crm.raise_event(name)


def test_raising_needs_a_caller(crm: XRM, db_url: str) -> None:
    bare = XRM.from_url(db_url)
    try:
        with pytest.raises(AccessDenied, match="no caller"):
            bare.raise_event("sales.deal.won")
    finally:
        bare.close()
