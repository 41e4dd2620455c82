"""Webhooks at work: their table, their subscribers on the bus, and the signed POST.

Webhooks live in the ``xrm_webhook`` table so that every process sharing the
database — servers that write, workers that deliver — has them. Each process
keeps a :class:`WebhookRegistry` that puts every active webhook on its event
bus as a ``committed`` :class:`WebhookSubscriber` called ``webhook:<name>``
(no declared subscriber can take that name: they are snake_case). A change
bumps the ``webhooks`` version in ``xrm_state`` in its own transaction; a
process applies its own changes at once and looks for other processes' at
most once per :attr:`WebhookRegistry.interval` seconds.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.events.attempts import DeliveryFailed, Receipt
from xrm_core.events.bus import EventBus
from xrm_core.events.model import Event, Subscriber, _event_regex
from xrm_core.events.signing import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_HEADER,
    sign,
)
from xrm_core.storage.database import Database
from xrm_core.storage.tables import core_metadata, state_table
from xrm_core.storage.types import DocumentType, UTCDateTime
from xrm_core.version import __version__

#: Bus names of webhook subscribers start with this.
PREFIX = "webhook:"
#: Seconds a receiver has to answer (connecting: at most 5 of them).
TIMEOUT = 10.0
#: How much of a failed response's body the delivery log keeps.
EXCERPT = 300
_VERSION_KEY = "webhooks"
# Stored secrets say how they are stored, so that encrypted ones can come later.
_PLAIN = "plain:"

webhook_table = sa.Table(
    "xrm_webhook",
    core_metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    # A JSON list of event patterns (contact.*, *.created).
    sa.Column("events", DocumentType, nullable=False),
    sa.Column("entity", sa.String(64), nullable=True),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Uuid, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.Uuid, nullable=True),
)


@dataclass(frozen=True)
class Webhook:
    """A subscription that POSTs matching events, signed, to a URL."""

    id: uuid.UUID
    name: str
    url: str
    #: Event patterns; an event matching any of them is sent.
    events: tuple[str, ...]
    #: Only events about this entity's records, when set.
    entity: str | None
    #: An inactive webhook gets no new events; what is pending waits for it.
    active: bool
    #: 1 when created, one more with each change.
    version: int
    created_at: dt.datetime
    created_by: uuid.UUID | None
    updated_at: dt.datetime
    updated_by: uuid.UUID | None
    #: The signing secret: only in what ``create`` and a rotation return (never in a repr).
    secret: str | None = field(default=None, repr=False)

    @property
    def subscriber(self) -> str:
        """Its name on the event bus and in the outbox: ``webhook:<name>``."""
        return PREFIX + self.name


@dataclass(frozen=True)
class WebhookSubscriber(Subscriber):
    """A webhook on the bus: ``committed``, matching any of its ``patterns``."""

    patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked when the webhook was saved; the name's prefix is on purpose
        # outside the snake_case every declared subscriber must use.
        object.__setattr__(self, "fields", frozenset(self.fields))

    def matches(self, event: str, entity: str | None = None) -> bool:
        """True when the event (about ``entity``) matches one of the patterns."""
        if self.entity is not None and self.entity != entity:
            return False
        return any(_event_regex(p).fullmatch(event) for p in self.patterns)


class WebhookSender:
    """The handler of a webhook: one signed POST of the event per delivery.

    A 2xx answer is a delivery; any other status, a timeout or a network error
    raises :class:`DeliveryFailed`, and the worker tries again later.
    Redirects are not followed: a signed body goes only where it was meant to.
    """

    def __init__(
        self, hook: Webhook, secret: str, client: httpx.Client, wall: Callable[[], float]
    ) -> None:
        self.hook = hook
        self.secret = secret
        self.client = client
        self.wall = wall

    def __call__(self, event: Event) -> Receipt:
        body = event.model_dump_json().encode()
        stamp = int(self.wall())
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(event.id),
            EVENT_HEADER: event.name,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self.secret, str(event.id), stamp, body),
            WEBHOOK_HEADER: self.hook.name,
        }
        try:
            with self.client.stream("POST", self.hook.url, content=body, headers=headers) as got:
                # Read either way: a short body read to its end lets the connection be reused.
                excerpt = _excerpt(got.iter_bytes())
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc or 'no answer'}") from exc
        if not got.is_success:
            message = f"HTTP {got.status_code}" + (f": {excerpt}" if excerpt else "")
            raise DeliveryFailed(message, status_code=got.status_code)
        return Receipt(status_code=got.status_code)


def _excerpt(chunks: Iterable[bytes]) -> str:
    """The start of a response body, on one line: enough to say what went wrong."""
    taken = b""
    for chunk in chunks:
        taken += chunk
        if len(taken) >= EXCERPT:
            break
    text = " ".join(taken[:EXCERPT].decode("utf-8", "replace").split())
    return text if len(taken) <= EXCERPT else text + "..."


class WebhookRegistry:
    """The webhooks of one database, kept on one process's event bus.

    ``transport`` replaces httpx's network transport (tests of the sender);
    ``wall`` is the clock of the signature timestamps.
    """

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        timeout: float = TIMEOUT,
        wall: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.timeout = timeout
        self.wall = wall
        self.transport = transport
        #: Seconds between two looks for other processes' changes (see :meth:`refresh`).
        self.interval = 1.0
        self.clock: Callable[[], float] = time.monotonic
        self._checked_at = float("-inf")
        self._version = -1
        self._hooks: dict[str, tuple[Webhook, str]] = {}
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def configure_refresh(
        self, *, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """How often to look for webhook changes made by other processes (seconds)."""
        self.interval = interval
        self.clock = clock

    def refresh(self, *, force: bool = False) -> None:
        """Bring the bus's webhook subscribers up to date with the database.

        Looks at most once per :attr:`interval` seconds unless ``force``: a
        change made in another process applies here within that time.
        """
        now = self.clock()
        if not force and now - self._checked_at < self.interval:
            return
        self._checked_at = now
        s, w = state_table, webhook_table
        with self.db.transaction(write=False) as conn:
            # The version first: rows newer than it only cause one more reload.
            version = conn.execute(sa.select(s.c.value).where(s.c.key == _VERSION_KEY)).scalar()
            if (version or 0) == self._version:
                return
            rows = conn.execute(sa.select(w)).mappings().all()
        self._sync(version or 0, rows)

    def changed(self, conn: Connection) -> None:
        """Note, in the transaction of a webhook change, that webhooks changed."""
        s = state_table
        done = conn.execute(
            s.update().where(s.c.key == _VERSION_KEY).values(value=s.c.value + 1)
        ).rowcount
        if not done:
            conn.execute(s.insert().values(key=_VERSION_KEY, value=1))

    def loaded(self) -> list[tuple[Webhook, str]]:
        """Every webhook as last loaded, with its secret, by name."""
        return [self._hooks[name] for name in sorted(self._hooks)]

    def close(self) -> None:
        """Close the HTTP connections kept for deliveries."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _sync(self, version: int, rows: Iterable[Any]) -> None:
        with self._lock:
            if version < self._version:  # another thread loaded something newer
                return
            hooks = {r["name"]: read_row(r) for r in rows}
            for name in self._hooks.keys() - hooks.keys():
                self.bus.unsubscribe(PREFIX + name)
            for name, (hook, secret) in hooks.items():
                if not hook.active:
                    self.bus.unsubscribe(PREFIX + name)
                elif self._hooks.get(name) != (hook, secret):
                    self.bus.replace(self._subscriber(hook, secret))
            self._hooks, self._version = hooks, version

    def _subscriber(self, hook: Webhook, secret: str) -> WebhookSubscriber:
        return WebhookSubscriber(
            hook.subscriber,
            "committed",
            hook.events[0],
            WebhookSender(hook, secret, self._http(), self.wall),
            entity=hook.entity,
            patterns=hook.events,
        )

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                follow_redirects=False,
                headers={"User-Agent": f"xrm-webhooks/{__version__}"},
                transport=self.transport,
            )
        return self._client


def read_row(row: Any) -> tuple[Webhook, str]:
    """A webhook row as a :class:`Webhook` (no secret) and its secret."""
    stored: str = row["secret"]
    if not stored.startswith(_PLAIN):
        raise RuntimeError(f"webhook {row['name']!r}: its secret is stored in an unknown way")
    fields = {f: row[f] for f in _FIELDS}
    return Webhook(**{**fields, "events": tuple(row["events"])}), stored.removeprefix(_PLAIN)


def stored_secret(secret: str) -> str:
    """How a secret is kept in ``xrm_webhook.secret``."""
    return _PLAIN + secret


_FIELDS = [f for f in Webhook.__dataclass_fields__ if f != "secret"]

__all__ = [
    "PREFIX",
    "Webhook",
    "WebhookRegistry",
    "WebhookSender",
    "WebhookSubscriber",
    "read_row",
    "stored_secret",
    "webhook_table",
]
