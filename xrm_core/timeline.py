"""A record's timeline: its audited changes and what plugins add, newest first.

The core contributes the record's audit entries; every started plugin may add
entries through the ``xrm_timeline_entries`` hook (the contacts plugin adds the
activities regarding the record). :func:`record_timeline` is the one service
behind ``xrm.timeline(...)``, the REST endpoint ``GET /api/v1/{entity}/{id}/timeline``
and the admin UI's record page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xrm_core.errors import AccessDenied, InvalidDeclaration, InvalidRequest, Problem, pointer

if TYPE_CHECKING:
    import pluggy

    from xrm_core.xrm import XRM

#: Entries a timeline holds unless asked for fewer; also the most it holds.
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: ``source`` of the entries the core adds from the audit log.
AUDIT = "audit"


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a record, for people to read.

    ``source`` says where it comes from (``audit`` for the core's entries; a
    plugin chooses its own word, e.g. ``activity``). ``kind`` is what happened
    (``create``, ``update``; ``call``, ``email``). ``entity`` and ``record_id``
    link to the record the entry is about, when it has one of its own (the
    activity); ``actor_id`` is the user who did it, if any; ``changes`` are an
    audit entry's ``{field: {"old": ..., "new": ...}}``.
    """

    at: dt.datetime
    source: str
    kind: str
    title: str
    text: str = ""
    entity: str | None = None
    record_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (what the REST endpoint returns per entry)."""
        return {
            "at": self.at.isoformat(),
            "source": self.source,
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "entity": self.entity,
            "record_id": None if self.record_id is None else str(self.record_id),
            "actor_id": None if self.actor_id is None else str(self.actor_id),
            "changes": dict(self.changes),
        }


class TimelineSources:
    """The started plugins asked for timeline entries; :func:`~xrm_core.plugins.start` sets them."""

    def __init__(self) -> None:
        self._plugin_manager: pluggy.PluginManager | None = None
        self._order: tuple[str, ...] = ()

    def use(self, pm: pluggy.PluginManager, order: Sequence[str]) -> None:
        """Ask ``pm``'s plugins named in ``order`` (the started ones), in that order."""
        self._plugin_manager, self._order = pm, tuple(order)

    def entries(
        self, xrm: XRM, entity: str, record_id: uuid.UUID, limit: int
    ) -> list[TimelineEntry]:
        """Every started plugin's entries for the record, checked.

        Raises :class:`~xrm_core.errors.InvalidDeclaration` naming the plugin
        whose answer is not a list of :class:`TimelineEntry`.
        """
        if self._plugin_manager is None:
            return []
        # Imported here: the plugin manager imports the hook specs, which import this module.
        from xrm_core.plugins.manager import call_each

        answers = call_each(
            self._plugin_manager,
            "xrm_timeline_entries",
            self._order,
            xrm=xrm,
            entity=entity,
            record_id=record_id,
            limit=limit,
        )
        found: list[TimelineEntry] = []
        for plugin, answer in answers.items():
            found.extend(_checked(plugin, answer))
        return found


def _checked(plugin: str, answer: Any) -> list[TimelineEntry]:
    if answer is None:
        return []
    if not isinstance(answer, Sequence) or isinstance(answer, str | bytes):
        problems = [Problem("", f"returned {type(answer).__name__}, not a list")]
    else:
        problems = [
            Problem(pointer(i), f"item {i} is {type(item).__name__}, not TimelineEntry")
            for i, item in enumerate(answer)
            if not isinstance(item, TimelineEntry)
        ]
    if problems:
        raise InvalidDeclaration(
            f"plugin {plugin!r}, xrm_timeline_entries: " + "; ".join(p.message for p in problems),
            problems,
            {"plugins": [plugin], "hook": "xrm_timeline_entries"},
        )
    return list(answer)


def record_timeline(
    xrm: XRM, entity: str, record_id: uuid.UUID | str, *, limit: int = DEFAULT_LIMIT
) -> list[TimelineEntry]:
    """The newest ``limit`` entries of a record's timeline, as ``xrm``'s caller may see them.

    Its audit entries (secured fields the caller may not read left out) and
    the started plugins' entries, newest first. Raises
    :class:`~xrm_core.errors.RecordNotFound` when the caller may not read the
    record, :class:`~xrm_core.errors.UnknownEntity`, and
    :class:`~xrm_core.errors.InvalidRequest` for a ``limit`` outside 1 to 200.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(
            f"limit must be a whole number from 1 to {MAX_LIMIT}",
            [Problem("/limit", f"{limit!r} is not from 1 to {MAX_LIMIT}")],
        )
    rid = xrm.records(entity).get(record_id)["id"]
    entries = [*_changes(xrm, entity, rid, limit)]
    entries.extend(xrm.timeline_sources.entries(xrm, entity, rid, limit))
    # Stable: entries at the same moment keep the audit-first, plugin-order sequence.
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _changes(xrm: XRM, entity: str, rid: uuid.UUID, limit: int) -> list[TimelineEntry]:
    try:
        found = xrm.audit.for_record(entity, rid, limit=limit)
    except AccessDenied:
        return []
    return [
        TimelineEntry(
            at=e.at,
            source=AUDIT,
            kind=e.operation,
            title=_summary(e.operation, e.changes),
            actor_id=e.actor_id,
            changes=dict(e.changes),
        )
        for e in found
    ]


def _summary(operation: str, changes: Mapping[str, Any]) -> str:
    if operation == "update" and changes:
        return f"changed {', '.join(sorted(changes))}"
    return {"create": "created", "delete": "deleted"}.get(operation, operation)
