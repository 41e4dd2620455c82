"""A record's timeline on its page: ``xrm.timeline`` (audited changes and what plugins add).

The entries come from the core's timeline service, which asks every started
plugin (``xrm_timeline_entries``: the contacts plugin adds the activities
regarding the record) as the signed-in user; this module only makes them
readable: actors' names, links to the records entries are about, changes
field by field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from admin_ui.record_form_lookup import labels_of
from admin_ui.web import admin_url
from xrm_core.errors import AccessDenied, RecordNotFound
from xrm_core.timeline import AUDIT
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
    """One thing that happened to a record, as the page shows it."""

    at: dt.datetime
    #: ``audit`` for a change; what a plugin calls its entries (``activity``) otherwise.
    source: str
    #: ``call``, ``email`` ... for an activity; ``create``, ``update`` ... for a change.
    kind: str
    summary: str
    #: The page of the record the entry is about (an activity's), if it has one.
    link: str | None = None
    text: str = ""
    actor: str = ""
    changes: tuple[Change, ...] = field(default_factory=tuple)


def timeline(xrm: XRM, entity: str, record_id: Any, limit: int = SHOWN) -> list[TimelineItem]:
    """The newest ``limit`` items of the record's timeline, as ``xrm``'s caller may see them."""
    try:
        entries = xrm.timeline(entity, record_id, limit=limit)
    except (AccessDenied, RecordNotFound):  # the page says so already; no timeline to add
        return []
    actors = labels_of(xrm, "user", [e.actor_id for e in entries])
    return [
        TimelineItem(
            at=e.at,
            source=e.source,
            kind=e.kind,
            summary=e.title,
            link=(
                admin_url(f"/records/{e.entity}/{e.record_id}")
                if e.entity and e.record_id is not None
                else None
            ),
            text=e.text,
            actor=actors.get(str(e.actor_id), "the system" if e.actor_id is None else "a user"),
            changes=_changes(e.changes) if e.source == AUDIT else (),
        )
        for e in entries
    ]


def _changes(changes: Mapping[str, Any]) -> tuple[Change, ...]:
    return tuple(
        Change(name, _shown(change, "old"), _shown(change, "new"))
        for name, change in sorted(changes.items())
    )


def _shown(change: Any, side: str) -> str:
    value = change.get(side) if isinstance(change, Mapping) else None
    return "—" if value is None else str(value)
