"""A record's timeline: the activities regarding it and its audited changes, newest first.

Built from the services, not by importing a plugin: the contacts plugin's
``timeline()`` (and its ``<entity>.timeline`` action, declared for its own
entities only) does the same for accounts and contacts, but the admin UI must
run without that plugin and show a timeline for any entity. Activities are the
records of an ``activity`` entity whose ``regarding`` lookup points here, when
such an entity is installed; changes come from ``xrm.audit`` (what the caller
may read of it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from admin_ui.record_form_lookup import labels_of
from xrm_core.errors import AccessDenied
from xrm_core.xrm import XRM

#: How many items the record page shows.
SHOWN = 30


@dataclass(frozen=True)
class Change:
    """One field's change in an audit entry."""

    field: str
    old: str
    new: str


@dataclass(frozen=True)
class TimelineItem:
    """One thing that happened to a record."""

    at: dt.datetime
    #: ``activity`` or ``audit``.
    source: str
    #: ``call``, ``email`` ... for an activity; ``create``, ``update`` ... for a change.
    kind: str
    summary: str
    #: The activity's id (its page), or None for a change.
    activity_id: uuid.UUID | None = None
    status: str = ""
    actor: str = ""
    changes: tuple[Change, ...] = field(default_factory=tuple)


def timeline(xrm: XRM, entity: str, record_id: uuid.UUID, limit: int = SHOWN) -> list[TimelineItem]:
    """The newest ``limit`` items of the record's timeline, as ``xrm``'s caller may see them."""
    items = [*_activities(xrm, entity, record_id, limit), *_changes(xrm, entity, record_id, limit)]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def _activities(xrm: XRM, entity: str, rid: uuid.UUID, limit: int) -> list[TimelineItem]:
    if not xrm.metadata.exists("activity"):
        return []
    activity = xrm.metadata.get("activity")
    if not activity.has_field("regarding") or not activity.field("regarding").refers_to(entity):
        return []
    try:
        page = xrm.records("activity").query(
            filter={"regarding.entity": entity, "regarding.id": str(rid)},
            order=["-created_at", "-id"],
            limit=limit,
        )
    except AccessDenied:
        return []
    return [
        TimelineItem(
            at=a["created_at"],
            source="activity",
            kind=str(a.get("kind") or "activity"),
            summary=str(a.get("subject") or ""),
            activity_id=a["id"],
            status=str(a.get("status") or ""),
        )
        for a in page
    ]


def _changes(xrm: XRM, entity: str, rid: uuid.UUID, limit: int) -> list[TimelineItem]:
    try:
        entries = xrm.audit.for_record(entity, rid, limit=limit)
    except AccessDenied:
        return []
    actors = labels_of(xrm, "user", [e.actor_id for e in entries])
    return [
        TimelineItem(
            at=e.at,
            source="audit",
            kind=e.operation,
            summary=_summary(e.operation, e.changes),
            actor=actors.get(str(e.actor_id), e.actor_type if e.actor_id is None else "a user"),
            changes=tuple(
                Change(name, _shown(change, "old"), _shown(change, "new"))
                for name, change in sorted(e.changes.items())
            ),
        )
        for e in entries
    ]


def _shown(change: Any, side: str) -> str:
    value = change.get(side) if isinstance(change, Mapping) else None
    return "—" if value is None else str(value)


def _summary(operation: str, changes: Any) -> str:
    if operation == "update" and changes:
        return f"changed {', '.join(sorted(changes))}"
    return {"create": "created", "delete": "deleted"}.get(operation, operation)
