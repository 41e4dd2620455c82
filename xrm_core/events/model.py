"""What flows through the event pipeline: events, the validate context, subscribers.

Every change of a record is an event named ``{entity}.{what}`` — ``contact.created``,
``contact.updated``, ``contact.deleted``, ``contact.assigned``, ``contact.shared``,
``contact.unshared``, ``contact.restored`` — and plugins raise their own domain
events (``sales.opportunity.won``). Each passes through four stages, in order:

``validate``
    before the record service validates the input; a subscriber may change the
    input (:class:`Proposal`) or refuse it by raising an :class:`~xrm_core.errors.XRMError`.
``before``
    in the transaction, before the write.
``after``
    in the transaction, after the write; an exception rolls the whole operation back.
``committed``
    after commit, delivered asynchronously from the outbox by ``xrm worker``, at
    least once.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from xrm_core.declaring import name_problems, refuse
from xrm_core.errors import Problem, pointer

Stage = Literal["validate", "before", "after", "committed"]
STAGES: tuple[Stage, ...] = get_args(Stage)

#: Loops stop here: an event raised by a handler of an event ... eight deep.
MAX_DEPTH = 8


class Event(BaseModel):
    """One change (or domain event), as subscribers receive it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: uuid.UUID
    name: str
    entity: str | None
    record_id: uuid.UUID | None
    #: The user who caused it; None for the system context (see ``reason``).
    actor_id: uuid.UUID | None
    reason: str | None = None
    #: Fields whose value changed (for a create: every field given).
    changed: tuple[str, ...] = ()
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    #: A domain event's own payload.
    data: dict[str, Any] = {}
    correlation_id: str
    #: 0 for a change made by a caller; 1 for one made by a handler of that; ...
    depth: int = 0
    occurred_at: dt.datetime


@dataclass
class Proposal:
    """The input of a create or update, as ``validate`` subscribers see and may change it."""

    entity: str
    operation: Literal["create", "update"]
    #: The caller's input; a subscriber may change it in place.
    data: dict[str, Any]
    record_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    correlation_id: str
    depth: int = 0


#: Receives the event (or, at ``validate``, the :class:`Proposal`).
EventHandler = Callable[[Any], object]

_SEGMENT = r"(?:\*|[a-z][a-z0-9_]*)"
_EVENT_PATTERN = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")


@dataclass(frozen=True)
class Subscriber:
    """A handler the event pipeline calls for matching events.

    ``event`` is a pattern of dot-separated segments where ``*`` stands for one or
    more whole segments: ``contact.created``, ``contact.*``, ``*.created``,
    ``sales.opportunity.won``, ``*``. ``entity`` (optional) narrows it to one
    entity's records, and ``fields`` (only with ``entity``; kept as a frozenset)
    to changes of those fields. Within a stage, subscribers run by ascending
    ``order``, then by name, so that the order is explicit when it matters.
    ``owner`` is the plugin that declared it (or ``custom``).
    """

    name: str
    stage: Stage
    event: str
    handler: EventHandler
    entity: str | None = None
    fields: Collection[str] = frozenset()
    order: int = 0
    owner: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", frozenset(self.fields))
        problems = name_problems("/name", self.name, "subscriber name")
        if self.stage not in STAGES:
            problems.append(
                Problem("/stage", f"unknown stage {self.stage!r}; one of {', '.join(STAGES)}")
            )
        if not isinstance(self.event, str) or not _EVENT_PATTERN.fullmatch(self.event):
            problems.append(
                Problem(
                    "/event",
                    f"bad event pattern {self.event!r}: dot-separated snake_case names "
                    "or '*' (contact.*, *.created)",
                )
            )
        if not callable(self.handler):
            problems.append(Problem("/handler", "must be callable"))
        if self.entity is not None:
            problems += name_problems("/entity", self.entity, "entity name")
        elif self.fields:
            problems.append(Problem("/fields", "fields filter only with an entity"))
        for name in sorted(self.fields, key=str):
            problems += name_problems(pointer("fields", name), name, "field name")
        if isinstance(self.order, bool) or not isinstance(self.order, int):
            problems.append(Problem("/order", "must be an integer"))
        refuse(f"subscriber {self.name!r}", problems)

    def matches(self, event: str, entity: str | None = None) -> bool:
        """True when an event of that name (about ``entity``) matches this subscriber."""
        if self.entity is not None and self.entity != entity:
            return False
        return _event_regex(self.event).fullmatch(event) is not None

    def wants(self, changed: tuple[str, ...]) -> bool:
        """True when the changed fields concern this subscriber."""
        return not self.fields or any(name in self.fields for name in changed)


@cache
def _event_regex(pattern: str) -> re.Pattern[str]:
    """An event pattern as a regular expression (``*``: one or more whole segments)."""
    parts = (r"[^.]+(?:\.[^.]+)*" if s == "*" else re.escape(s) for s in pattern.split("."))
    return re.compile(r"\.".join(parts))


@dataclass
class Chain:
    """The events being handled in this context, outermost first (loop protection)."""

    links: list[tuple[str | None, uuid.UUID | None, str]] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """How deep the current handler runs."""
        return len(self.links)


def changed_fields(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """The keys whose values differ (system bookkeeping keys aside)."""
    if after is None:
        return tuple(k for k in (before or {}) if k not in _BOOKKEEPING)
    if before is None:
        return tuple(k for k, v in after.items() if v is not None and k not in _BOOKKEEPING)
    return tuple(k for k, v in after.items() if k not in _BOOKKEEPING and before.get(k) != v)


_BOOKKEEPING = frozenset({"id", "created_at", "created_by", "updated_at", "updated_by", "version"})
