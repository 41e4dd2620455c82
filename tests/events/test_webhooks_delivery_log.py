"""The delivery log (one row per attempt) for any committed subscriber, webhooks' included."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest

from xrm_core import XRM, Event, Subscriber
from xrm_core.events.attempts import DeliveryFailed, Receipt
from xrm_core.events.worker import Worker
from xrm_core.ids import new_id


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Killed(BaseException):
    """The process dies: nothing after this line runs."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


def enqueue(xrm: XRM, count: int = 1) -> list[uuid.UUID]:
    events = [
        Event(
            id=new_id(),
            name="contact.created",
            entity="contact",
            record_id=new_id(),
            actor_id=None,
            correlation_id="c",
            occurred_at=dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC),
        )
        for _ in range(count)
    ]
    with xrm.db.transaction() as conn:
        xrm.outbox.enqueue(conn, events)
    return [e.id for e in events]


def subscribe(xrm: XRM, name: str, handler: Any) -> None:
    xrm.events.subscribe(Subscriber(name, "committed", "contact.*", handler))


def worker(xrm: XRM, clock: Clock, name: str = "w1", **kw: Any) -> Worker:
    return Worker(xrm.db, xrm.events, name=name, jitter=False, clock=clock, **kw)


def test_each_attempt_is_logged_with_what_the_handler_reported(xrm: XRM, clock: Clock) -> None:
    answers: list[Any] = [
        ValueError("bad data"),
        DeliveryFailed("HTTP 429: slow down", status_code=429),
        Receipt(status_code=202),
    ]

    def handler(e: Event) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    subscribe(xrm, "erp", handler)
    (event_id,) = enqueue(xrm)
    w = worker(xrm, clock)
    started = []
    for _ in range(3):
        started.append(clock.now)
        w.run_once()
        clock.advance(10)

    log = xrm.outbox.attempts(event_id=event_id)
    assert [(a.number, a.outcome, a.status_code, a.error) for a in log] == [
        (1, "failed", None, "ValueError: bad data"),
        (2, "failed", 429, "HTTP 429: slow down"),
        (3, "delivered", 202, None),
    ]
    assert [a.started_at for a in log] == started
    assert {(a.subscriber, a.worker, a.event_id) for a in log} == {("erp", "w1", event_id)}


def test_claims_handed_back_unstarted_leave_no_attempt(xrm: XRM, clock: Clock) -> None:
    stop = threading.Event()
    subscribe(xrm, "slow", lambda e: stop.set())  # as SIGTERM would, mid-round
    enqueue(xrm, 3)

    assert worker(xrm, clock).run(stop, poll=0) == 1
    assert [a.outcome for a in xrm.outbox.attempts()] == ["delivered"]

    late = worker(xrm, clock, "late", lease=30)
    claims = late.claim()
    clock.advance(31)  # its lease ran out before it started: another may have them
    assert late.deliver(claims) == 0
    assert [a.outcome for a in xrm.outbox.attempts()] == ["delivered"]
    assert worker(xrm, clock, "next").run_once() == 2
    assert [(a.number, a.worker) for a in xrm.outbox.attempts()][1:] == [(1, "next")] * 2


def test_an_attempt_cut_short_stays_without_outcome_and_the_next_one_counts_on(
    xrm: XRM, clock: Clock
) -> None:
    calls: list[uuid.UUID] = []

    def dies_once(e: Event) -> None:
        calls.append(e.id)
        if len(calls) == 1:
            raise Killed

    subscribe(xrm, "webhook_like", dies_once)
    (event_id,) = enqueue(xrm)
    with pytest.raises(Killed):
        worker(xrm, clock, "a", lease=30).run_once()
    clock.advance(30)
    assert worker(xrm, clock, "b").run_once() == 1

    log = xrm.outbox.attempts(subscriber="webhook_like")
    assert [(a.number, a.worker, a.outcome, a.duration) for a in log[:1]] == [(1, "a", None, None)]
    assert [(a.number, a.worker, a.outcome) for a in log[1:]] == [(2, "b", "delivered")]
    (delivery,) = xrm.outbox.deliveries()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert calls == [event_id, event_id]
