"""Record identifiers: time-ordered UUIDs (version 7, RFC 9562).

Time ordering keeps B-tree inserts at the right edge of the index, which matters
for bulk loads and for Citus-style distribution by id.
"""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    """Return a new time-ordered UUID as a standard :class:`uuid.UUID`."""
    return uuid7()
