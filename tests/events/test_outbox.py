"""The outbox and its workers: committed events delivered at least once, on both databases."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from xrm_core import XRM, Event, Subscriber
from xrm_core.context import correlation_id
from xrm_core.errors import QueryError
from xrm_core.events.bus import EventBus
from xrm_core.events.model import MAX_DEPTH
from xrm_core.events.outbox import Outbox
from xrm_core.events.worker import Worker
from xrm_core.ids import new_id
from xrm_core.storage.database import Database

CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
    "required": ["name"],
}


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


@pytest.fixture
def outbox(xrm: XRM, clock: Clock) -> Outbox:
    return Outbox(xrm.db, xrm.events, clock=clock)


def event(name: str = "contact.created", **kw: Any) -> Event:
    record_id = kw.pop("record_id", new_id())
    after = {
        "id": record_id,
        "name": "Ada",
        "note": 'tab\there\nnew "quoted" \\ back \u2713',
        "account": uuid.UUID(int=7),
        "revenue": decimal.Decimal("1234.50"),
        "born": dt.date(1815, 12, 10),
        "seen_at": dt.datetime(2030, 1, 1, 8, 30, tzinfo=dt.UTC),
    }
    fields: dict[str, Any] = {
        "id": new_id(),
        "name": name,
        "entity": name.split(".")[0],
        "record_id": record_id,
        "actor_id": None,
        "reason": "tests",
        "changed": ("name", "account", "revenue"),
        "after": after,
        "correlation_id": "request-1",
        "occurred_at": dt.datetime(2030, 1, 1, 8, 59, tzinfo=dt.UTC),
    }
    return Event(**{**fields, **kw})


def ignore(e: object) -> None:
    pass


def enqueue(outbox: Outbox, *events: Event) -> None:
    with outbox.db.transaction() as conn:
        outbox.enqueue(conn, events)


def subscribe(
    xrm: XRM, name: str, handler: Callable[[Event], object], pattern: str = "contact.*", **kw: Any
) -> None:
    xrm.events.subscribe(Subscriber(name, "committed", pattern, handler, **kw))


def worker(xrm: XRM, clock: Clock, name: str = "w1", **kw: Any) -> Worker:
    return Worker(xrm.db, xrm.events, name=name, jitter=False, clock=clock, **kw)


def drain(w: Worker) -> int:
    total = 0
    while done := w.run_once():
        total += done
    return total


def test_nothing_is_kept_when_no_committed_subscriber_wants_the_event(
    xrm: XRM, outbox: Outbox
) -> None:
    xrm.events.subscribe(Subscriber("in_transaction", "after", "contact.*", ignore))
    subscribe(xrm, "accounts", ignore, "account.*")
    subscribe(xrm, "emails", ignore, "contact.updated", entity="contact", fields={"email"})

    enqueue(outbox, event("contact.created"), event("contact.updated", changed=("name",)))

    assert outbox.feed() == ([], None)
    assert outbox.deliveries() == []


def test_a_committed_subscriber_receives_the_event_once_delivered(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    seen: dict[str, list[Event]] = {"crm_sync": [], "mailer": []}
    subscribe(xrm, "crm_sync", seen["crm_sync"].append)
    subscribe(xrm, "mailer", seen["mailer"].append, "*.created")
    sent = event()
    enqueue(outbox, sent)

    assert worker(xrm, clock).run_once() == 2
    assert worker(xrm, clock).run_once() == 0

    for received in seen.values():
        assert [e.id for e in received] == [sent.id]
    got = seen["crm_sync"][0]
    assert (got.name, got.record_id, got.occurred_at) == (
        sent.name,
        sent.record_id,
        sent.occurred_at,
    )
    assert got.changed == sent.changed and got.correlation_id == "request-1"
    # Images arrive as JSON has them: ids, decimals and dates as text.
    assert got.after == {
        "id": str(sent.record_id),
        "name": "Ada",
        "note": 'tab\there\nnew "quoted" \\ back \u2713',
        "account": str(uuid.UUID(int=7)),
        "revenue": "1234.50",
        "born": "1815-12-10",
        "seen_at": "2030-01-01T08:30:00Z",
    }
    deliveries = outbox.deliveries()
    assert {(d.subscriber, d.status, d.attempts) for d in deliveries} == {
        ("crm_sync", "delivered", 1),
        ("mailer", "delivered", 1),
    }
    assert all(d.delivered_at == clock.now and d.leased_until is None for d in deliveries)


def test_events_of_a_rolled_back_transaction_are_never_delivered(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    seen: list[Event] = []
    subscribe(xrm, "crm_sync", seen.append)

    with pytest.raises(RuntimeError, match="changed my mind"), xrm.db.transaction() as conn:
        outbox.enqueue(conn, [event()])
        raise RuntimeError("changed my mind")

    assert worker(xrm, clock).run_once() == 0
    assert seen == [] and outbox.deliveries() == [] and outbox.feed()[0] == []


def test_a_failing_delivery_is_tried_again_with_exponential_backoff(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    calls: list[dt.datetime] = []

    def flaky(e: Event) -> None:
        calls.append(clock.now)
        if len(calls) <= 3:
            raise ConnectionError(f"receiver down ({len(calls)})")

    subscribe(xrm, "flaky", flaky)
    enqueue(outbox, event())
    w = worker(xrm, clock)
    start = clock.now

    assert w.run_once() == 0
    (pending,) = outbox.deliveries()
    assert (pending.status, pending.attempts) == ("pending", 1)
    assert pending.last_error == "ConnectionError: receiver down (1)"
    assert pending.next_attempt_at == start + dt.timedelta(seconds=1)

    for wait in (0.999, 0.001, 1.999, 0.001, 3.999, 0.001):
        clock.advance(wait)
        w.run_once()

    seconds = [(c - start).total_seconds() for c in calls]
    assert seconds == [0, 1, 3, 7]  # waits of 1, 2 and 4 seconds
    (delivered,) = outbox.deliveries()
    assert (delivered.status, delivered.attempts) == ("delivered", 4)


def test_after_max_attempts_a_delivery_is_dead_until_replayed(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    receiver_up = False
    seen: list[Event] = []

    def receiver(e: Event) -> None:
        if not receiver_up:
            raise ConnectionError("connection refused")
        seen.append(e)

    subscribe(xrm, "webhook", receiver)
    enqueue(outbox, event(), event())
    w = worker(xrm, clock, max_attempts=3)
    for _ in range(5):
        w.run_once()
        clock.advance(3600)

    dead = outbox.deliveries(status="dead")
    assert [(d.attempts, d.last_error) for d in dead] == [
        (3, "ConnectionError: connection refused")
    ] * 2
    assert outbox.deliveries(status="pending") == []

    receiver_up = True
    assert outbox.replay([dead[0].id]) == 1
    assert drain(w) == 1
    assert outbox.replay() == 1  # every dead one: the other
    assert drain(w) == 1
    assert outbox.replay([dead[0].id]) == 1  # a delivered one: delivered again
    assert drain(w) == 1
    assert [e.id for e in seen] == [dead[0].event_id, dead[1].event_id, dead[0].event_id]
    assert {d.status for d in outbox.deliveries()} == {"delivered"}


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens_it() -> None:
    db = Database.from_url("sqlite://")
    exact = Worker(db, EventBus(), name="w", jitter=False)
    assert [exact.backoff(n) for n in (1, 2, 3, 12, 13, 5000)] == [1, 2, 4, 2048, 3600, 3600]
    jittered = Worker(db, EventBus(), name="w", backoff=10, max_backoff=60)
    for attempts, top in ((1, 10), (2, 20), (4, 60)):
        assert all(top / 2 <= jittered.backoff(attempts) <= top for _ in range(50))
    with pytest.raises(ValueError, match="batch"):
        Worker(db, EventBus(), name="w", batch=0)
    db.dispose()


def test_deliveries_to_a_subscriber_this_process_lacks_are_left_pending(
    xrm: XRM, outbox: Outbox, clock: Clock, db_url: str, tmp_path: Path
) -> None:
    subscribe(xrm, "erp_sync", ignore)
    enqueue(outbox, event())
    other = XRM.from_url(db_url, export_dir=tmp_path / "other")
    try:
        subscribe(other, "mailer", ignore)  # a different subscriber
        assert worker(other, clock).run_once() == 0
    finally:
        other.close()

    (left,) = outbox.deliveries()
    assert (left.status, left.attempts, left.leased_by) == ("pending", 0, None)


def test_two_workers_never_deliver_the_same_delivery_twice(
    xrm: XRM, outbox: Outbox, clock: Clock, db_url: str, tmp_path: Path
) -> None:
    subscribe(xrm, "crm_sync", ignore)
    subscribe(xrm, "mailer", ignore)
    for _ in range(6):
        enqueue(outbox, *(event() for _ in range(10)))
    lock = threading.Lock()
    delivered: Counter[tuple[str, uuid.UUID]] = Counter()
    by_worker: Counter[str] = Counter()
    both_busy = threading.Barrier(2, timeout=60)

    def run(name: str) -> int:
        # Each worker as its own process would have it: its own engine and bus.
        own = XRM.from_url(db_url, export_dir=tmp_path / name)
        try:
            for subscriber in ("crm_sync", "mailer"):

                def handle(e: Event, subscriber: str = subscriber) -> None:
                    with lock:
                        delivered[subscriber, e.id] += 1
                        by_worker[name] += 1
                        first = by_worker[name] == 1
                    if first:  # both hold a claim at once before either goes on
                        both_busy.wait()

                subscribe(own, subscriber, handle)
            return drain(worker(own, clock, name, batch=7))
        finally:
            own.close()

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(run, ["a", "b"]))

    assert sum(counts) == 120 and all(counts)
    assert len(delivered) == 120 and set(delivered.values()) == {1}
    assert {d.status for d in outbox.deliveries(limit=1000)} == {"delivered"}


def test_a_worker_killed_mid_delivery_leaves_a_lease_another_takes_over_when_it_expires(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    received: list[uuid.UUID] = []

    def receiver(e: Event) -> None:
        received.append(e.id)
        if len(received) == 1:
            raise Killed

    subscribe(xrm, "webhook", receiver)
    sent = event()
    enqueue(outbox, sent)

    with pytest.raises(Killed):
        worker(xrm, clock, "a", lease=30).run_once()
    b = worker(xrm, clock, "b")
    assert b.run_once() == 0  # still leased to a
    clock.advance(30)
    assert b.run_once() == 1

    # Delivered twice: the receiver dedupes by the event's id.
    assert received == [sent.id, sent.id]
    (d,) = outbox.deliveries()
    assert (d.status, d.attempts) == ("delivered", 1)


def test_a_claim_never_finished_is_delivered_by_another_worker_and_not_by_the_late_one(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    received: list[uuid.UUID] = []
    subscribe(xrm, "webhook", lambda e: received.append(e.id))
    sent = event()
    enqueue(outbox, sent)
    a, b = worker(xrm, clock, "a", lease=30), worker(xrm, clock, "b")

    claims = a.claim()
    clock.advance(31)
    assert b.run_once() == 1
    assert a.deliver(claims) == 0  # its lease ran out: it does not start

    assert received == [sent.id]


def test_a_stop_lets_the_delivery_under_way_finish_and_hands_back_the_rest(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    stop = threading.Event()
    seen: list[Event] = []

    def handler(e: Event) -> None:
        seen.append(e)
        stop.set()  # as SIGTERM would, in the middle of the round

    subscribe(xrm, "slow", handler)
    enqueue(outbox, event(), event(), event())

    assert worker(xrm, clock).run(stop, poll=0) == 1
    assert Counter(d.status for d in outbox.deliveries()) == {"delivered": 1, "pending": 2}
    assert all(d.leased_until is None for d in outbox.deliveries(status="pending"))
    assert worker(xrm, clock, "next").run_once() == 2  # no lease to wait for


def test_handlers_run_one_level_deeper_under_the_event_correlation_id(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    seen: list[tuple[str | None, int]] = []
    subscribe(xrm, "deep", lambda e: seen.append((correlation_id(), xrm.events.depth)))
    enqueue(outbox, event(depth=2), event(depth=MAX_DEPTH, correlation_id="too-deep"))

    assert worker(xrm, clock).run_once() == 1

    assert seen == [("request-1", 3)]
    # A loop does not heal by waiting: dead at once.
    (dead,) = outbox.deliveries(status="dead")
    assert dead.attempts == 1 and (dead.last_error or "").startswith("EventLoop:")


def test_the_feed_reads_the_log_in_order_from_a_cursor(xrm: XRM, outbox: Outbox) -> None:
    outbox.follow("erp_feed", "contact.*")
    subscribe(xrm, "accounts", ignore, "account.*")
    sent = [event("contact.created"), event("account.created"), event("contact.updated")]
    enqueue(outbox, *sent[:2])
    enqueue(outbox, sent[2])

    first, cursor = outbox.feed(limit=2)
    rest, cursor = outbox.feed(after=cursor)
    assert [e.id for e in first + rest] == [e.id for e in sent]
    assert outbox.feed(after=cursor) == ([], cursor)  # caught up: ask again later
    accounts, _ = outbox.feed(events="account.*")
    assert [e.name for e in accounts] == ["account.created"]
    assert [e.name for e in outbox.feed(events="*.updated")[0]] == ["contact.updated"]
    # A feed subscriber keeps events in the log and has nothing to deliver.
    assert [d.subscriber for d in outbox.deliveries()] == ["accounts"]


def test_domain_events_without_a_record_go_through_the_outbox_too(
    xrm: XRM, outbox: Outbox, clock: Clock
) -> None:
    won: list[Event] = []
    subscribe(xrm, "bonus", won.append, "sales.opportunity.won")
    sent = event("sales.opportunity.won", entity=None, record_id=None, data={"amount": "9.50"})
    enqueue(outbox, sent)

    assert worker(xrm, clock).run_once() == 1
    assert [(e.id, e.entity, e.record_id, e.data) for e in won] == [
        (sent.id, None, None, {"amount": "9.50"})
    ]


def test_an_event_committed_after_a_newer_one_still_reaches_the_feed(
    xrm: XRM, outbox: Outbox
) -> None:
    outbox.follow("erp_feed")
    older, newer = event(), event()  # ids in this order...
    enqueue(outbox, newer)  # ...committed the other way round
    read, cursor = outbox.feed()
    enqueue(outbox, older)

    assert [e.id for e in read] == [newer.id]
    assert [e.id for e in outbox.feed(after=cursor)[0]] == [older.id]


def test_bad_feed_and_delivery_queries_are_refused(outbox: Outbox) -> None:
    for kwargs, where in (
        ({"after": "not-a-cursor"}, "/after"),
        ({"limit": 0}, "/limit"),
        ({"events": "Contact.*"}, "/events"),
    ):
        with pytest.raises(QueryError) as refused:
            outbox.feed(**kwargs)
        assert [p.pointer for p in refused.value.problems] == [where]
    with pytest.raises(QueryError, match="not valid"):
        outbox.deliveries(status="lost")  # type: ignore[arg-type]


def test_a_record_change_reaches_a_committed_subscriber_through_the_worker(
    xrm: XRM, clock: Clock
) -> None:
    xrm.metadata.define(CONTACT)
    seen: list[Event] = []
    subscribe(xrm, "crm_sync", seen.append, "contact.created")

    ada = xrm.records("contact").create({"name": "Ada"})
    xrm.records("contact").create_many([{"name": f"Contact {n}"} for n in range(3)])
    with pytest.raises(RuntimeError), xrm.transaction():
        xrm.records("contact").create({"name": "Rolled back"})
        raise RuntimeError
    assert seen == []  # nothing before a worker runs

    assert worker(xrm, clock).run_once() == 4
    assert seen[0].record_id == ada["id"] and seen[0].after is not None
    assert seen[0].after["name"] == "Ada"
    assert sorted((e.after or {})["name"] for e in seen[1:]) == [f"Contact {n}" for n in range(3)]


def test_handlers_that_keep_changing_what_they_react_to_stop_at_the_depth_limit(
    xrm: XRM, clock: Clock
) -> None:
    xrm.metadata.define(CONTACT)
    depths: list[int] = []

    def bump(e: Event) -> None:
        depths.append(e.depth)
        xrm.records("contact").update(str(e.record_id), {"email": f"{e.depth}@example.org"})

    subscribe(xrm, "bump", bump)
    xrm.records("contact").create({"name": "Ada"})

    assert drain(worker(xrm, clock)) == MAX_DEPTH
    assert depths == list(range(MAX_DEPTH))
    (dead,) = xrm.outbox.deliveries(status="dead")
    assert (dead.last_error or "").startswith("EventLoop:")


@pytest.fixture
def pg_url(postgres_server: Any) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


def test_on_postgresql_the_feed_waits_for_older_transactions_still_running(
    pg_url: str, tmp_path: Path
) -> None:
    xrm = XRM.from_url(pg_url, export_dir=tmp_path)
    try:
        outbox = Outbox(xrm.db, xrm.events)
        outbox.follow("erp_feed")
        slow, quick = event(), event()
        with xrm.db.engine.connect() as long_running:
            with long_running.begin():
                outbox.enqueue(long_running, [slow])
                enqueue(outbox, quick)  # another transaction, committed first
                # Showing `quick` now would put the cursor past `slow`, for good.
                assert outbox.feed() == ([], None)
            read, _ = outbox.feed()
        assert [e.id for e in read] == [slow.id, quick.id]
    finally:
        xrm.close()


@pytest.mark.parametrize("count", [50, 51])
def test_a_bulk_write_keeps_every_event_in_order_on_either_write_path(xrm: XRM, count: int) -> None:
    # Up to 50 events go in one statement on PostgreSQL, more through COPY: both the same.
    xrm.metadata.define(CONTACT)
    seen: list[Event] = []
    xrm.events.subscribe(Subscriber("sync", "committed", "contact.created", seen.append))
    made = xrm.records("contact").create_many([{"name": f"n{i:03}"} for i in range(count)])

    events, _ = xrm.outbox.feed(limit=1000)
    assert [(e.after or {})["name"] for e in events] == [f"n{i:03}" for i in range(count)]
    assert [e.record_id for e in events] == [r.record["id"] for r in made.rows if r.record]
    assert Worker(xrm.db, xrm.events, name="w").run_once() == count
    assert len(seen) == count and not xrm.outbox.deliveries(status="pending")
