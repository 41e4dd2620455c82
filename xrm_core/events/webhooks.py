"""Webhooks: managing them (``xrm.webhooks``), for administrators and the system context.

A webhook POSTs each event matching its patterns (and entity) to its URL,
signed with its secret (:mod:`xrm_core.events.signing`), through the outbox:
at least once, retried with backoff, dead after too many failures and then
replayable, every attempt in the delivery log. How deliveries work is in
:mod:`xrm_core.events.webhook_delivery`; see docs/webhooks.md.
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from xrm_core.declaring import name_problems
from xrm_core.errors import (
    AccessDenied,
    InvalidDeclaration,
    Problem,
    RecordNotFound,
    RecordValidationError,
    VersionConflict,
    pointer,
    shown,
)
from xrm_core.events.attempts import Attempt
from xrm_core.events.model import Subscriber
from xrm_core.events.outbox import Delivery, Outbox, Status, delivery_table, feed_only
from xrm_core.events.webhook_delivery import (
    Webhook,
    WebhookRegistry,
    read_row,
    stored_secret,
    webhook_table,
)
from xrm_core.ids import as_uuid, new_id
from xrm_core.security.caller import Caller

#: The most event patterns one webhook has.
MAX_PATTERNS = 20
MAX_URL = 2000
#: Shortest and longest secret an administrator may choose.
SECRET_LENGTHS = (16, 200)


class InvalidWebhook(RecordValidationError):
    """A webhook's name, URL, patterns, entity or secret is not acceptable."""

    code = "invalid_webhook"


class UnknownWebhook(RecordNotFound):
    """No webhook has that name."""

    code = "webhook_not_found"


class _Keep(enum.Enum):
    KEEP = "keep"


#: ``update(entity=KEEP)``: leave the entity filter as it is.
KEEP = _Keep.KEEP


def new_secret() -> str:
    """A new signing secret: ``whsec_`` and 256 random bits."""
    return "whsec_" + secrets.token_urlsafe(32)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Webhooks:
    """Webhooks as one caller manages them; every call needs an administrator.

    ``entity_exists`` says whether an entity is defined (an entity filter
    must name one); ``is_administrator`` whether a caller may manage webhooks.
    """

    def __init__(
        self,
        registry: WebhookRegistry,
        outbox: Outbox,
        caller: Caller | None,
        *,
        is_administrator: Callable[[Caller], bool],
        entity_exists: Callable[[str], bool],
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.registry = registry
        self.outbox = outbox
        self.caller = caller
        self.is_administrator = is_administrator
        self.entity_exists = entity_exists
        self.clock = clock

    # -- changes ---------------------------------------------------------

    def create(
        self,
        name: str,
        url: str,
        events: str | Sequence[str],
        *,
        entity: str | None = None,
        secret: str | None = None,
        active: bool = True,
    ) -> Webhook:
        """Create a webhook; the result holds its secret, which is never shown again.

        ``events`` is one event pattern or several (``contact.*``,
        ``*.created``); ``secret`` is generated when not given. Matching
        events of changes committed from now on are delivered. Raises
        :class:`InvalidWebhook` (nothing written) for a bad or taken name, URL,
        pattern, entity or secret.
        """
        actor = self._manager()
        chosen = new_secret() if secret is None else secret
        values = self._checked(name, url, events, entity, chosen, active)
        now = self.clock()
        row = {
            **values,
            "id": new_id(),
            "name": name,
            "version": 1,
            "created_at": now,
            "created_by": actor.user_id,
            "updated_at": now,
            "updated_by": actor.user_id,
        }
        with self._changing() as conn:
            if self._row(conn, name) is not None:
                raise _taken(name)
            try:
                conn.execute(sa.insert(webhook_table).values(row))
            except sa.exc.IntegrityError:  # created meanwhile by another process
                raise _taken(name) from None
            self.registry.changed(conn)
        return self._saved(name, chosen)

    def update(
        self,
        name: str,
        *,
        url: str | None = None,
        events: str | Sequence[str] | None = None,
        entity: str | _Keep | None = KEEP,
        active: bool | None = None,
        secret: str | None = None,
        rotate_secret: bool = False,
    ) -> Webhook:
        """Change what is given; the result holds the secret only when it changed.

        ``entity=None`` removes the entity filter. ``rotate_secret`` makes a
        new secret; ``secret`` sets a chosen one (give the receiver the new one
        first: :func:`~xrm_core.events.signing.verify_signature` accepts
        several). Deactivating stops new events; what is pending waits and is
        delivered once the webhook is active again. Raises
        :class:`UnknownWebhook`, or :class:`InvalidWebhook` (nothing written).
        """
        actor = self._manager()
        if secret is not None and rotate_secret:
            raise InvalidWebhook(
                "give a new secret or ask for one to be made, not both",
                [Problem("/secret", "leave out secret to rotate, or rotate_secret to set one")],
            )
        with self._changing() as conn:
            hook, old_secret = self._found(conn, name)
            chosen = new_secret() if rotate_secret else secret
            values = self._checked(
                name,
                hook.url if url is None else url,
                hook.events if events is None else events,
                hook.entity if entity is KEEP else entity,
                old_secret if chosen is None else chosen,
                hook.active if active is None else active,
            )
            values |= {
                "version": hook.version + 1,
                "updated_at": self.clock(),
                "updated_by": actor.user_id,
            }
            # Only over the version read: a concurrent update in between would be undone.
            done = conn.execute(
                self._where(sa.update(webhook_table), name)
                .where(webhook_table.c.version == hook.version)
                .values(values)
            )
            if done.rowcount != 1:
                raise VersionConflict(
                    f"webhook {name!r} was changed meanwhile; read it again and retry",
                    details={"name": name},
                )
            self.registry.changed(conn)
        return self._saved(name, chosen)

    def delete(self, name: str) -> None:
        """Delete a webhook, with its deliveries (pending ones too) and their log."""
        self._manager()
        d = delivery_table
        with self._changing() as conn:
            hook, _ = self._found(conn, name)
            # Attempts go with their deliveries (ON DELETE CASCADE); events stay in the log.
            conn.execute(sa.delete(d).where(d.c.subscriber == hook.subscriber))
            conn.execute(self._where(sa.delete(webhook_table), name))
            self.registry.changed(conn)
        self.registry.refresh(force=True)

    def replay(self, name: str, delivery_ids: Iterable[uuid.UUID | str] | None = None) -> int:
        """Deliver again: every dead delivery of the webhook, or the ones given.

        Given deliveries of this webhook are put back if dead or delivered
        (those are sent again: receivers dedupe by event id). Returns how many;
        raises :class:`~xrm_core.errors.RecordNotFound` for a malformed id.
        """
        hook = self.get(name)
        ids = None
        if delivery_ids is not None:
            given = builtins.list(delivery_ids)
            ids = [as_uuid(i, pointer("delivery_ids", n)) for n, i in enumerate(given)]
        return self.outbox.replay(ids, subscriber=hook.subscriber)

    # -- reads -----------------------------------------------------------

    def get(self, name: str) -> Webhook:
        """The webhook called ``name`` (without its secret); raises :class:`UnknownWebhook`."""
        self._manager()
        with self.registry.db.transaction(write=False) as conn:
            hook, _ = self._found(conn, name)
        return hook

    def list(self) -> builtins.list[Webhook]:
        """Every webhook, by name (without secrets)."""
        self._manager()
        with self.registry.db.transaction(write=False) as conn:
            rows = conn.execute(sa.select(webhook_table).order_by(webhook_table.c.name))
            return [read_row(r)[0] for r in rows.mappings()]

    def deliveries(
        self, name: str, *, status: Status | None = None, limit: int = 100
    ) -> builtins.list[Delivery]:
        """The webhook's deliveries, oldest first (``status``: pending, delivered, dead)."""
        hook = self.get(name)
        return self.outbox.deliveries(subscriber=hook.subscriber, status=status, limit=limit)

    def attempts(
        self, name: str, *, delivery_id: uuid.UUID | str | None = None, limit: int = 100
    ) -> builtins.list[Attempt]:
        """The delivery log of the webhook (or of one delivery): by delivery, then number."""
        hook = self.get(name)
        delivery = None if delivery_id is None else as_uuid(delivery_id, "/delivery_id")
        return self.outbox.attempts(subscriber=hook.subscriber, delivery_id=delivery, limit=limit)

    # -- internals -------------------------------------------------------

    def _manager(self) -> Caller:
        if self.caller is None:
            raise AccessDenied(
                "no caller: manage webhooks through xrm.as_system('why') or as an administrator"
            )
        if not self.is_administrator(self.caller):
            raise AccessDenied("managing webhooks needs an administrator")
        return self.caller

    def _changing(self) -> AbstractContextManager[sa.Connection]:
        db = self.registry.db
        if db.in_transaction:
            # Every process applies a change once it is committed; one that a
            # surrounding transaction could still roll back would be applied too early.
            raise RuntimeError("webhooks are changed in a transaction of their own, not inside one")
        return db.transaction()

    def _saved(self, name: str, secret: str | None) -> Webhook:
        """After a change: this process applies it now; the webhook as saved."""
        self.registry.refresh(force=True)
        with self.registry.db.transaction(write=False) as conn:
            hook, _ = self._found(conn, name)
        return hook if secret is None else replace(hook, secret=secret)

    def _checked(
        self,
        name: str,
        url: str,
        events: str | Sequence[str],
        entity: str | None,
        secret: str,
        active: bool,
    ) -> dict[str, Any]:
        """The columns of a valid webhook; raises :class:`InvalidWebhook` listing every problem."""
        patterns = [events] if isinstance(events, str) else events
        problems = [
            *name_problems("/name", name, "webhook name"),
            *_url_problems(url),
            *_pattern_problems(patterns),
            *self._entity_problems(entity),
            *_secret_problems(secret),
        ]
        if not isinstance(active, bool):
            problems.append(Problem("/active", "must be true or false"))
        if problems:
            raise InvalidWebhook(f"invalid webhook {shown(name)}", problems)
        return {
            "url": url,
            "events": builtins.list(dict.fromkeys(patterns)),
            "entity": entity,
            "secret": stored_secret(secret),
            "active": active,
        }

    def _entity_problems(self, entity: object) -> builtins.list[Problem]:
        if entity is None:
            return []
        problems = name_problems("/entity", entity, "entity name")
        if not problems and not self.entity_exists(str(entity)):
            problems.append(Problem("/entity", f"no entity called {entity!r}"))
        return problems

    @staticmethod
    def _where(statement: Any, name: str) -> Any:
        return statement.where(webhook_table.c.name == name)

    @staticmethod
    def _row(conn: sa.Connection, name: str) -> Any:
        query = sa.select(webhook_table).where(webhook_table.c.name == name)
        return conn.execute(query).mappings().first()

    def _found(self, conn: sa.Connection, name: str) -> tuple[Webhook, str]:
        row = self._row(conn, name) if isinstance(name, str) else None
        if row is None:
            raise UnknownWebhook(f"no webhook called {shown(name)}")
        return read_row(row)


def _taken(name: str) -> InvalidWebhook:
    return InvalidWebhook(
        f"a webhook called {name!r} exists already",
        [Problem("/name", "taken: choose another name")],
    )


def _url_problems(url: object) -> builtins.list[Problem]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        return [Problem("/url", f"give the receiver's URL (at most {MAX_URL} characters)")]
    if any(c.isspace() or ord(c) < 32 for c in url):
        return [Problem("/url", "a URL has no spaces or control characters")]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port is what raises for a bad one
    except ValueError as exc:
        return [Problem("/url", f"not a URL: {exc}")]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Problem("/url", "use an http:// or https:// URL with a host")]
    if parts.fragment:
        return [Problem("/url", "a fragment (#...) is never sent: leave it out")]
    return []


def _pattern_problems(patterns: object) -> builtins.list[Problem]:
    if not isinstance(patterns, Sequence) or not patterns or len(patterns) > MAX_PATTERNS:
        return [Problem("/events", f"give 1 to {MAX_PATTERNS} event patterns (contact.*)")]
    problems = []
    for n, pattern in enumerate(patterns):
        try:
            Subscriber("check", "committed", pattern, feed_only)
        except InvalidDeclaration as exc:
            problems += [Problem(pointer("events", n), p.message) for p in exc.problems]
    return problems


def _secret_problems(secret: object) -> builtins.list[Problem]:
    low, high = SECRET_LENGTHS
    if not isinstance(secret, str) or not low <= len(secret) <= high:
        return [Problem("/secret", f"a secret has {low} to {high} characters")]
    if not secret.isascii() or not secret.isprintable() or " " in secret:
        return [Problem("/secret", "a secret is printable ASCII without spaces")]
    return []


__all__ = ["KEEP", "InvalidWebhook", "UnknownWebhook", "Webhook", "Webhooks", "new_secret"]
