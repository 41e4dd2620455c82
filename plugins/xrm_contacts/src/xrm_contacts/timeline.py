"""The timeline of a record: its activities and its audited changes, newest first.

:func:`entries` answers the core's ``xrm_timeline_entries`` hook (``xrm.timeline``,
the admin UI's record page, ``GET /api/v1/{entity}/{id}/timeline``);
:func:`timeline` is the output of the ``<entity>.timeline`` actions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel
from xrm_core import XRM, AccessDenied, TimelineEntry


class TimelineItem(BaseModel):
    """One thing that happened to a record: an activity about it, or an audited change."""

    at: dt.datetime
    source: Literal["activity", "audit"]
    #: The activity's id, or the audit entry's.
    id: uuid.UUID
    #: ``call``, ``email``, ... for an activity; ``create``, ``update``, ... for a change.
    kind: str
    summary: str
    status: str | None = None
    due: dt.datetime | None = None
    actor_id: uuid.UUID | None = None
    changes: dict[str, Any] = {}


def timeline(
    xrm: XRM, entity: str, record_id: uuid.UUID | str, *, limit: int = 50
) -> list[TimelineItem]:
    """The newest ``limit`` items of a record's timeline, as ``xrm``'s caller may see them.

    Works for a record of any entity: the activities whose ``regarding`` points
    at it (those the caller may read; an activity counts from when it was
    logged) and its audit entries (secured fields the caller may not read left
    out). Raises :class:`RecordNotFound` when the caller may not read the record.
    """
    record = xrm.records(entity).get(record_id)
    rid = record["id"]
    items = [*_activities(xrm, entity, rid, limit), *_changes(xrm, entity, rid, limit)]
    items.sort(key=lambda item: (item.at, str(item.id)), reverse=True)
    return items[:limit]


def entries(xrm: XRM, entity: str, record_id: uuid.UUID, limit: int) -> list[TimelineEntry]:
    """The newest ``limit`` activities regarding the record, as timeline entries.

    Read as ``xrm``'s caller: none when they may read no activity.
    """
    try:
        found = _regarding(xrm, entity, record_id, limit)
    except AccessDenied:
        return []
    return [
        TimelineEntry(
            at=a["created_at"],
            source="activity",
            # Field security may hide any of them from this caller.
            kind=str(a.get("kind") or "activity"),
            title=str(a.get("subject") or ""),
            text=_status(a),
            entity="activity",
            record_id=a["id"],
            actor_id=a.get("created_by"),
        )
        for a in found
    ]


def _status(activity: dict[str, Any]) -> str:
    due = activity.get("due")
    when = f", due {due:%Y-%m-%d %H:%M}" if due is not None else ""
    return f"{activity.get('status') or ''}{when}"


def _regarding(xrm: XRM, entity: str, rid: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    if not xrm.metadata.exists("activity"):
        return []
    regarding = xrm.metadata.get("activity").field("regarding")
    if not regarding.refers_to(entity):
        return []
    return list(
        xrm.records("activity").query(
            filter={"regarding.entity": entity, "regarding.id": rid},
            order=["-created_at", "-id"],
            limit=limit,
        )
    )


def _activities(xrm: XRM, entity: str, rid: uuid.UUID, limit: int) -> list[TimelineItem]:
    page = _regarding(xrm, entity, rid, limit)
    return [
        TimelineItem(
            at=a["created_at"],
            source="activity",
            id=a["id"],
            kind=a["kind"],
            summary=a["subject"],
            status=a["status"],
            due=a["due"],
            actor_id=a["created_by"],
        )
        for a in page
    ]


def _changes(xrm: XRM, entity: str, rid: uuid.UUID, limit: int) -> list[TimelineItem]:
    return [
        TimelineItem(
            at=e.at,
            source="audit",
            id=e.id,
            kind=e.operation,
            summary=_summary(e.operation, e.changes),
            actor_id=e.actor_id,
            changes=dict(e.changes),
        )
        for e in xrm.audit.for_record(entity, rid, limit=limit)
    ]


def _summary(operation: str, changes: Any) -> str:
    if operation == "update" and changes:
        return f"changed {', '.join(sorted(changes))}"
    return {"create": "created", "delete": "deleted"}.get(operation, operation)
