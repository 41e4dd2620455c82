"""Record identifiers: time-ordered UUIDs (version 7, RFC 9562).

Time ordering keeps B-tree inserts at the right edge of the index, which matters
for bulk loads and for Citus-style distribution by id.
"""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7

from xrm_core.errors import Problem, RecordNotFound, shown


def new_id() -> uuid.UUID:
    """Return a new time-ordered UUID as a standard :class:`uuid.UUID`."""
    return uuid7()


def as_uuid(value: uuid.UUID | str, at: str = "/id") -> uuid.UUID:
    """``value`` as a record id; raises :class:`RecordNotFound` when it is none."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        # No record can have such an id: "not found" is what the caller needs to hear.
        raise RecordNotFound(
            f"{shown(value)} is not a record id", [Problem(at, "not a valid id")]
        ) from None
