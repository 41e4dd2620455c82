"""What every write reports, in one place: event stages and the audit log.

Writers call :meth:`ChangeLog.propose` with the caller's input (the ``validate``
stage), :meth:`ChangeLog.before` just before their statement and
:meth:`ChangeLog.write` just after it, in the same transaction. Nothing is
built when nobody listens: an entity without subscribers and without auditing
costs one dictionary lookup per call.

A caller bypassing handlers (``XRM.bypassing_handlers``) skips every
``validate``, ``before`` and ``after`` subscriber but the core's own; its
changes still go to ``committed`` subscribers and to the audit log, both
marked with the bypass and its reason (:attr:`Caller.audit_reason`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from sqlalchemy.engine import Connection

from xrm_core.audit.log import AuditWriter, RecordChange
from xrm_core.context import correlation_id
from xrm_core.events.bus import EventBus
from xrm_core.events.model import Event, Proposal, Stage, changed_fields
from xrm_core.ids import new_id
from xrm_core.metadata.definition import EntityDefinition
from xrm_core.security.caller import Caller

#: The event each operation raises, after the entity's name: ``contact.created``.
EVENT_NAMES = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "assign": "assigned",
    "share": "shared",
    "unshare": "unshared",
    "restore": "restored",
}


def event_name(entity: str, operation: str) -> str:
    """``contact.created`` for a create of a contact."""
    return f"{entity}.{EVENT_NAMES[operation]}"


class OutboxWriter(Protocol):
    """Where ``committed`` events wait, in the writer's transaction, for ``xrm worker``."""

    def enqueue(self, conn: Connection, events: Sequence[Event]) -> None:
        """Keep ``events`` for delivery to their ``committed`` subscribers."""


class ChangeLog:
    """The event bus, the outbox and the audit log, as one caller's writes see them."""

    def __init__(
        self,
        caller: Caller,
        audit: AuditWriter | None,
        events: EventBus | None,
        outbox: OutboxWriter | None = None,
    ) -> None:
        self.caller = caller
        self.audit = audit
        self.events = events
        self.outbox = outbox
        #: Only the core's own synchronous subscribers run (the caller bypasses the rest).
        self.bypass = bool(caller.bypass)

    def wants(self, definition: EntityDefinition, operation: str) -> bool:
        """True when a write must read the records it changes (for the log or for handlers)."""
        if self.audit is not None and definition.audited:
            return True
        return self.events is not None and self.events.listens(
            event_name(definition.name, operation), definition.name, bypass=self.bypass
        )

    def propose(
        self,
        entity: str,
        operation: Literal["create", "update"],
        data: Any,
        record_id: uuid.UUID | None = None,
    ) -> Any:
        """The input after ``validate`` subscribers had their say (a copy when they did)."""
        if self.events is None or not isinstance(data, Mapping):
            return data
        name = event_name(entity, operation)
        if not self.events.running("validate", name, entity, bypass=self.bypass):
            return data
        proposal = Proposal(
            entity,
            operation,
            dict(data),
            record_id,
            self.caller.user_id,
            correlation_id() or "",
            self.events.depth,
        )
        self.events.validate(proposal, bypass=self.bypass)
        return proposal.data

    def before(
        self,
        conn: Connection,
        definition: EntityDefinition,
        operation: str,
        changes: Sequence[RecordChange],
    ) -> None:
        """Run ``before`` subscribers, in the transaction, ahead of the write."""
        self._run("before", definition, operation, changes)

    def write(
        self,
        conn: Connection,
        caller: Caller,
        definition: EntityDefinition,
        operation: str,
        changes: Sequence[RecordChange],
    ) -> None:
        """After the write: the audit entries, ``after`` subscribers (an error rolls
        back), then the outbox for ``committed`` ones."""
        if self.audit is not None and changes:
            self.audit.write(conn, caller, definition, operation, changes)
        events = self._run("after", definition, operation, changes)
        if self.outbox is None or self.events is None or not changes:
            return
        name = event_name(definition.name, operation)
        if self.events.subscribers("committed", name, definition.name):
            if events is None:
                events = _events(self.caller, self.events.depth, definition.name, name, changes)
            self.outbox.enqueue(conn, events)

    def _run(
        self,
        stage: Stage,
        definition: EntityDefinition,
        operation: str,
        changes: Sequence[RecordChange],
    ) -> list[Event] | None:
        """Run ``stage``; the events it built (None when nobody listened)."""
        if self.events is None or not changes:
            return None
        name = event_name(definition.name, operation)
        if not self.events.running(stage, name, definition.name, bypass=self.bypass):
            return None
        events = _events(self.caller, self.events.depth, definition.name, name, changes)
        for event in events:
            self.events.run(stage, event, bypass=self.bypass)
        return events


def _events(
    caller: Caller, depth: int, entity: str, name: str, changes: Sequence[RecordChange]
) -> list[Event]:
    now = dt.datetime.now(dt.UTC)
    common: dict[str, Any] = {
        "name": name,
        "entity": entity,
        "actor_id": caller.user_id,
        "reason": caller.audit_reason,
        "correlation_id": correlation_id() or "",
        "depth": depth,
        "occurred_at": now,
    }
    return [
        Event(
            id=new_id(),
            record_id=record_id,
            changed=changed_fields(before, after),
            before=None if before is None else dict(before),
            after=None if after is None else dict(after),
            **common,
        )
        for record_id, before, after in changes
    ]


__all__ = ["EVENT_NAMES", "ChangeLog", "event_name"]
