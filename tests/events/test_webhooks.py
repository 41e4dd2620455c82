"""Webhooks against a real HTTP receiver on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from xrm_core import XRM
from xrm_core.errors import AccessDenied, RecordNotFound
from xrm_core.events.signing import verify_signature
from xrm_core.events.webhooks import InvalidWebhook, UnknownWebhook, Webhook, Webhooks
from xrm_core.events.worker import Worker

CONTACT = {
    "x-xrm": {"name": "contact"},
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
    "required": ["name"],
}
ACCOUNT = {"x-xrm": {"name": "account"}, "properties": {"name": {"type": "string"}}}
#: How long a test waits for something another thread or process does.
WAIT = 60


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def event_id(self) -> str:
        return self.headers["X-XRM-Event-Id"]


class Receiver:
    """An HTTP server on loopback that checks signatures as an integrator's would.

    Its port is reserved from the start, but it refuses connections until
    :meth:`start` (a receiver that is down). ``answers`` are the statuses to
    give, in order, then 200. While ``holding`` is set, a request waits until
    :meth:`release` (a receiver slow enough for a worker to die meanwhile).
    """

    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.holding = False
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        #: What the integrator's code did: each event once, deduped by event id.
        self.handled: dict[str, dict[str, Any]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()  # the port is ours; connecting is refused until start()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/xrm"

    def start(self) -> None:
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers["Content-Length"]))
        verified = verify_signature(self.secrets, request.headers, body)
        got = Received(dict(request.headers.items()), body, verified)
        with self._lock:
            self.received.append(got)
            status = self.answers.pop(0) if self.answers else 200
            if verified and 200 <= status < 300:
                self.handled.setdefault(got.event_id, got.event)
        if self.holding:
            self.arrived.set()
            self._released.wait(WAIT)
        try:
            request.send_response(status)
            request.send_header("Location", self.url + "/elsewhere")
            request.end_headers()
            request.wfile.write(b"internal   trouble\n" if status >= 500 else b"ok")
        except OSError:  # the worker is gone: nobody reads the answer
            pass


class Clock:
    """The workers' clock, moved by hand; ahead of real time, so what a test writes is due."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def crm(xrm: XRM) -> XRM:
    xrm.metadata.define([CONTACT, ACCOUNT])
    return xrm


@pytest.fixture
def clock() -> Clock:
    return Clock()


def worker(xrm: XRM, clock: Clock, name: str = "w1", **kw: Any) -> Worker:
    return Worker(
        xrm.db,
        xrm.events,
        name=name,
        jitter=False,
        clock=clock,
        refresh=xrm.webhook_registry.refresh,
        **kw,
    )


def drain(w: Worker) -> int:
    total = 0
    while done := w.run_once():
        total += done
    return total


def hook(
    xrm: XRM, receiver: Receiver, name: str = "crm", events: Any = "contact.*", **kw: Any
) -> Webhook:
    created = xrm.webhooks.create(name, receiver.url, events, **kw)
    assert created.secret is not None
    receiver.secrets.append(created.secret)
    return created


# -- delivery ---------------------------------------------------------------


def test_a_webhook_posts_each_matching_change_signed_with_its_secret(
    crm: XRM, receiver: Receiver, clock: Clock
) -> None:
    receiver.start()
    hook(crm, receiver)
    # Created a moment ago in this process: the very next write is sent.
    ada = crm.records("contact").create({"name": "Ada"})
    crm.records("contact").update(ada["id"], {"email": "ada@analytical.engine"})
    crm.records("account").create({"name": "Analytical Engines"})  # not a contact.*

    assert worker(crm, clock).run_once() == 2

    created, updated = receiver.received
    assert created.verified and updated.verified
    assert created.headers["Content-Type"] == "application/json"
    assert created.headers["X-XRM-Event"] == "contact.created"
    assert created.headers["X-XRM-Webhook"] == "crm"
    assert created.event["id"] == created.event_id
    assert (created.event["record_id"], created.event["after"]["name"]) == (str(ada["id"]), "Ada")
    assert updated.event["name"] == "contact.updated"
    assert updated.event["changed"] == ["email"]
    # Each attempt is in the delivery log, with the receiver's answer.
    log = crm.webhooks.attempts("crm")
    assert [(a.number, a.outcome, a.status_code, a.worker) for a in log] == [
        (1, "delivered", 200, "w1")
    ] * 2
    assert {a.event_id for a in log} == {uuid.UUID(r.event_id) for r in receiver.received}
    assert all(a.duration is not None and a.duration >= 0 for a in log)
    assert [d.status for d in crm.webhooks.deliveries("crm")] == ["delivered"] * 2


def test_event_patterns_and_the_entity_choose_what_each_webhook_gets(
    crm: XRM, receiver: Receiver, clock: Clock
) -> None:
    receiver.start()
    hook(crm, receiver, "created", "*.created")
    hook(crm, receiver, "contact_changes", ["contact.updated", "contact.deleted"])
    hook(crm, receiver, "accounts", "*", entity="account")
    hook(crm, receiver, "wins", "sales.*.won")
    hook(crm, receiver, "paused", "*", active=False)

    ada = crm.records("contact").create({"name": "Ada"})
    crm.records("contact").update(ada["id"], {"name": "Ada King"})
    acme = crm.records("account").create({"name": "Acme"})
    crm.records("contact").delete(ada["id"])
    crm.records("account").delete(acme["id"])
    crm.raise_event("sales.deal.won", data={"amount": "10.00"})
    drain(worker(crm, clock))

    got: dict[str, list[str]] = {}
    for r in receiver.received:
        assert r.verified
        got.setdefault(r.headers["X-XRM-Webhook"], []).append(r.headers["X-XRM-Event"])
    assert got == {
        "created": ["contact.created", "account.created"],
        "contact_changes": ["contact.updated", "contact.deleted"],
        "accounts": ["account.created", "account.deleted"],
        "wins": ["sales.deal.won"],
    }


def test_a_failing_receiver_is_tried_again_and_every_attempt_is_logged(
    crm: XRM, receiver: Receiver, clock: Clock
) -> None:
    receiver.start()
    receiver.answers = [500, 302]
    hook(crm, receiver)
    crm.records("contact").create({"name": "Ada"})
    w = worker(crm, clock)

    assert w.run_once() == 0
    (pending,) = crm.webhooks.deliveries("crm")
    assert (pending.status, pending.attempts) == ("pending", 1)
    assert pending.last_error == "HTTP 500: internal trouble"
    clock.advance(1)
    assert w.run_once() == 0  # a redirect is not followed: a failure too
    clock.advance(2)
    assert w.run_once() == 1

    log = crm.webhooks.attempts("crm")
    assert [(a.number, a.outcome, a.status_code, a.error) for a in log] == [
        (1, "failed", 500, "HTTP 500: internal trouble"),
        (2, "failed", 302, "HTTP 302: ok"),
        (3, "delivered", 200, None),
    ]
    assert len({r.event_id for r in receiver.received}) == 1 and len(receiver.received) == 3
    assert len(receiver.handled) == 1


def test_nothing_is_lost_while_the_receiver_is_down(
    crm: XRM, receiver: Receiver, clock: Clock
) -> None:
    hook(crm, receiver)  # the receiver is not listening yet
    ids = [crm.records("contact").create({"name": f"C{n}"})["id"] for n in range(3)]
    w = worker(crm, clock)

    assert w.run_once() == 0
    log = crm.webhooks.attempts("crm")
    assert [(a.outcome, a.status_code) for a in log] == [("failed", None)] * 3
    assert all((a.error or "").startswith("ConnectError: ") for a in log)
    clock.advance(600)
    assert w.run_once() == 0  # still down: the next try waits longer

    receiver.start()
    clock.advance(600)
    assert drain(w) == 3

    assert sorted(e["record_id"] for e in receiver.handled.values()) == sorted(map(str, ids))
    assert all(r.verified for r in receiver.received)
    assert {(d.status, d.attempts) for d in crm.webhooks.deliveries("crm")} == {("delivered", 3)}


def test_a_receiver_slower_than_the_timeout_fails_the_attempt(
    crm: XRM, receiver: Receiver, clock: Clock
) -> None:
    receiver.start()
    receiver.holding = True
    crm.webhook_registry.timeout = 0.2
    hook(crm, receiver)
    crm.records("contact").create({"name": "Ada"})

    assert worker(crm, clock).run_once() == 0

    (attempt,) = crm.webhooks.attempts("crm")
    assert attempt.outcome == "failed" and (attempt.error or "").startswith("ReadTimeout")


def test_replay_sends_a_dead_delivery_again(crm: XRM, receiver: Receiver, clock: Clock) -> None:
    receiver.start()
    receiver.answers = [503, 503]
    hook(crm, receiver)
    crm.records("contact").create({"name": "Ada"})
    w = worker(crm, clock, max_attempts=2)
    w.run_once()
    clock.advance(1)
    w.run_once()
    (dead,) = crm.webhooks.deliveries("crm", status="dead")

    assert crm.webhooks.replay("crm") == 1
    assert w.run_once() == 1
    assert crm.webhooks.replay("crm", [dead.id]) == 1  # delivered: sent again
    assert w.run_once() == 1

    log = crm.webhooks.attempts("crm", delivery_id=dead.id)
    assert [(a.number, a.outcome, a.status_code) for a in log] == [
        (1, "failed", 503),
        (2, "failed", 503),
        (3, "delivered", 200),
        (4, "delivered", 200),
    ]
    assert [r.event_id for r in receiver.received] == [str(dead.event_id)] * 4
    assert list(receiver.handled) == [str(dead.event_id)]  # the receiver deduped


def test_a_webhook_changed_in_another_process_applies_within_the_refresh_interval(
    crm: XRM, receiver: Receiver, clock: Clock, db_url: str, tmp_path: Path
) -> None:
    receiver.start()
    seconds = [0.0]
    crm.webhook_registry.configure_refresh(interval=1.0, clock=lambda: seconds[0])
    other = XRM.from_url(db_url, export_dir=tmp_path / "other").as_system("admin console")
    try:
        crm.records("contact").create({"name": "Before"})  # loads: no webhooks yet
        created = other.webhooks.create("crm", receiver.url, "contact.*")
        receiver.secrets.append(created.secret or "")
        seconds[0] = 0.5
        crm.records("contact").create({"name": "Too soon"})
        seconds[0] = 1.0
        crm.records("contact").create({"name": "Seen"})
        other.webhooks.update("crm", active=False)
        seconds[0] = 2.0
        crm.records("contact").create({"name": "Paused"})
        other.webhooks.update("crm", active=True)
        seconds[0] = 3.0
        # The worker of yet another process finds the webhook in the database.
        assert drain(worker(other, clock)) == 1
    finally:
        other.close()

    assert [e["after"]["name"] for e in receiver.handled.values()] == ["Seen"]


def test_changes_apply_to_pending_deliveries_and_delete_takes_them_away(
    crm: XRM, receiver: Receiver, clock: Clock
) -> None:
    receiver.start()
    first = hook(crm, receiver)
    crm.records("contact").create({"name": "Ada"})
    moved = Receiver()
    try:
        moved.start()
        rotated = crm.webhooks.update("crm", url=moved.url, rotate_secret=True)
        assert rotated.secret not in (None, first.secret) and rotated.version == 2
        moved.secrets.append(first.secret or "")
        assert worker(crm, clock).run_once() == 1
        (got,) = moved.received
        assert not got.verified  # signed with the new secret
        assert verify_signature([first.secret or "", rotated.secret or ""], got.headers, got.body)
    finally:
        moved.close()
    assert receiver.received == []
    assert crm.webhooks.get("crm").secret is None  # shown once only

    crm.webhooks.update("crm", active=False)
    crm.records("contact").create({"name": "Bob"})
    assert worker(crm, clock).run_once() == 0
    crm.webhooks.delete("crm")

    assert crm.webhooks.list() == []
    assert crm.outbox.deliveries(subscriber="webhook:crm") == []
    assert crm.outbox.attempts(subscriber="webhook:crm") == []
    assert "webhook:crm" not in [s.name for s in crm.events.of_stage("committed")]


def test_a_worker_process_killed_mid_delivery_leaves_it_to_another_and_the_receiver_dedupes(
    crm: XRM, receiver: Receiver, clock: Clock, db_url: str
) -> None:
    receiver.start()
    receiver.holding = True
    hook(crm, receiver)
    crm.records("contact").create({"name": "Ada"})
    command = [sys.executable, "-c", "from xrm_core.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "worker", "--db", db_url, "--poll", "0.05"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.arrived.wait(WAIT), "the worker process never posted"
        (started,) = crm.webhooks.attempts("crm")
        process.kill()  # in the middle of the delivery: no answer read, nothing recorded
        process.wait(WAIT)
    finally:
        process.kill()
        _, err = process.communicate()
    receiver.holding = False
    receiver.release()
    assert started.outcome is None and started.worker.endswith(f":{process.pid}"), err

    other = worker(crm, clock, "w2")
    clock.now = started.started_at + dt.timedelta(seconds=29)
    assert other.run_once() == 0  # the dead worker's lease (30 s) still holds
    clock.now = started.started_at + dt.timedelta(seconds=30)
    assert other.run_once() == 1

    first, second = receiver.received
    assert first.event_id == second.event_id and first.verified and second.verified
    assert len(receiver.handled) == 1  # delivered twice, handled once
    log = crm.webhooks.attempts("crm")
    assert [(a.number, a.outcome, a.worker) for a in log] == [
        (1, None, started.worker),
        (2, "delivered", "w2"),
    ]


# -- managing webhooks --------------------------------------------------------


def test_bad_webhooks_are_refused_with_the_problem_and_nothing_is_written(
    crm: XRM, receiver: Receiver
) -> None:
    url = receiver.url
    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": "Not A Name"}, "/name"),
        ({"url": "ftp://example.org/hook"}, "/url"),
        ({"url": "http://"}, "/url"),
        ({"url": "example.org/hook"}, "/url"),
        ({"url": "http://example.org:99999/"}, "/url"),
        ({"url": "http://example.org/a b"}, "/url"),
        ({"url": "https://example.org/hook#part"}, "/url"),
        ({"url": 42}, "/url"),
        ({"events": []}, "/events"),
        ({"events": ["contact.*", "Contact.*"]}, "/events/1"),
        ({"events": "contact..created"}, "/events/0"),
        ({"events": ["*"] * 21}, "/events"),
        ({"entity": "no_such_entity"}, "/entity"),
        ({"entity": "Bad-Name"}, "/entity"),
        ({"secret": "too-short"}, "/secret"),
        ({"secret": "sixteen chars or more, with spaces"}, "/secret"),
        ({"active": "yes"}, "/active"),
    ]
    for change, where in bad:
        given = {"name": "crm", "url": url, "events": "contact.*", **change}
        with pytest.raises(InvalidWebhook) as refused:
            crm.webhooks.create(given.pop("name"), given.pop("url"), given.pop("events"), **given)
        assert [p.pointer for p in refused.value.problems] == [where], change
        assert refused.value.code == "invalid_webhook"
    assert crm.webhooks.list() == []

    made = hook(crm, receiver)
    with pytest.raises(InvalidWebhook, match="exists already"):
        crm.webhooks.create("crm", url, "*")
    with pytest.raises(InvalidWebhook) as refused:
        crm.webhooks.update("crm", url="mailto:someone@example.org", events=["bad pattern"])
    assert [p.pointer for p in refused.value.problems] == ["/url", "/events/0"]
    with pytest.raises(InvalidWebhook, match="not both"):
        crm.webhooks.update("crm", secret="a-chosen-secret-0123", rotate_secret=True)
    assert crm.webhooks.get("crm") == replace(made, secret=None)

    for call in (
        lambda: crm.webhooks.get("nope"),
        lambda: crm.webhooks.update("nope", active=False),
        lambda: crm.webhooks.delete("nope"),
        lambda: crm.webhooks.replay("nope"),
        lambda: crm.webhooks.attempts("nope"),
    ):
        with pytest.raises(UnknownWebhook) as missing:
            call()
        assert missing.value.code == "webhook_not_found"
    with pytest.raises(RecordNotFound) as not_an_id:
        crm.webhooks.replay("crm", [str(uuid.uuid4()), "not-an-id"])
    assert [p.pointer for p in not_an_id.value.problems] == ["/delivery_ids/1"]
    with pytest.raises(RuntimeError, match="transaction of their own"), crm.transaction():
        crm.webhooks.update("crm", active=False)
    assert crm.webhooks.get("crm").active


def test_a_chosen_secret_and_an_entity_filter_can_be_set_and_cleared(
    crm: XRM, receiver: Receiver
) -> None:
    made = crm.webhooks.create("crm", receiver.url, "*", entity="contact", secret="s" * 16)
    assert made.secret == "s" * 16 and made.entity == "contact"

    changed = crm.webhooks.update("crm", entity=None, events=["contact.*", "account.*"])
    assert (changed.entity, changed.events, changed.secret) == (
        None,
        ("contact.*", "account.*"),
        None,
    )
    again = crm.webhooks.update("crm", secret="t" * 16)
    assert again.secret == "t" * 16 and again.version == 3
    assert [h.name for h in crm.webhooks.list()] == ["crm"]


def test_only_administrators_and_the_system_context_manage_webhooks(
    crm: XRM, receiver: Receiver
) -> None:
    crm.security.install()
    ann = crm.security.create_user("ann", roles=["System Administrator"])
    bob = crm.security.create_user("bob", roles=["Basic User"])

    made = crm.as_user(ann).webhooks.create("crm", receiver.url, "contact.*")
    assert made.created_by == ann and made.updated_by == ann
    changed = crm.as_user(ann).webhooks.update("crm", active=False)
    assert changed.updated_by == ann and changed.created_by == ann

    nobody = XRM(crm.db, export_dir=crm.metadata.export_dir)
    calls: list[Callable[[Webhooks], object]] = [
        lambda w: w.list(),
        lambda w: w.get("crm"),
        lambda w: w.create("mine", receiver.url, "*"),
        lambda w: w.update("crm", url=receiver.url + "/mine"),
        lambda w: w.delete("crm"),
        lambda w: w.deliveries("crm"),
        lambda w: w.replay("crm"),
    ]
    for webhooks in (crm.as_user(bob).webhooks, nobody.webhooks):
        for call in calls:
            with pytest.raises(AccessDenied):
                call(webhooks)
    assert [(h.name, h.url) for h in crm.webhooks.list()] == [("crm", receiver.url)]
