"""Domain events: what a plugin raises itself (``sales.opportunity.won``).

They go through the same stages as record changes, after validation: ``after``
subscribers run in the raiser's transaction (an error rolls it back) and
``committed`` ones get them from the outbox.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from xrm_core.context import correlation_id
from xrm_core.errors import Problem, RecordValidationError
from xrm_core.events.bus import EventBus
from xrm_core.events.model import Event
from xrm_core.events.outbox import Outbox
from xrm_core.ids import new_id
from xrm_core.security.caller import Caller
from xrm_core.storage.database import Database

_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


def raise_event(
    db: Database,
    bus: EventBus,
    outbox: Outbox,
    caller: Caller,
    name: str,
    *,
    data: Mapping[str, Any] | None = None,
    entity: str | None = None,
    record_id: uuid.UUID | None = None,
    reserved: Callable[[str], bool] = lambda _: False,
) -> Event:
    """Raise the domain event ``name``; ``reserved(name)`` says it names a record change."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or reserved(name):
        raise RecordValidationError(
            f"{name!r} is not a domain event name: dot-separated snake_case, at least two "
            "parts, and not a record change such as 'contact.created'",
            [Problem("/name", "not a domain event name")],
        )
    with db.transaction() as conn:
        event = Event(
            id=new_id(),
            name=name,
            entity=entity,
            record_id=record_id,
            actor_id=caller.user_id,
            reason=caller.audit_reason,
            data=dict(data or {}),
            correlation_id=correlation_id() or "",
            depth=bus.depth,
            occurred_at=dt.datetime.now(dt.UTC),
        )
        bus.run("after", event, bypass=bool(caller.bypass))
        outbox.enqueue(conn, [event])
    return event
