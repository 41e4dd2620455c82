"""The security layer's own tables: record shares and settings.

Principals and roles are entities (``schemas/core``); shares are not, because
a share is a property of one record of any entity, written only by
:meth:`RecordService.share`, and read by every permission predicate.
"""

from __future__ import annotations

import sqlalchemy as sa

from xrm_core.storage.tables import core_metadata
from xrm_core.storage.types import DocumentType, UTCDateTime

share_table = sa.Table(
    "xrm_share",
    core_metadata,
    sa.Column("entity", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.Uuid, primary_key=True),
    sa.Column("principal_id", sa.Uuid, primary_key=True),
    sa.Column("principal_type", sa.String(16), nullable=False),
    sa.Column("can_read", sa.Boolean, nullable=False),
    sa.Column("can_update", sa.Boolean, nullable=False),
    sa.Column("can_delete", sa.Boolean, nullable=False),
    sa.Column("can_assign", sa.Boolean, nullable=False),
    sa.Column("can_share", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Uuid, nullable=True),
    # Serves the predicate "shared with me or my teams": entity and principal
    # first, the record id read from the index alone.
    sa.Index("ix_xrm_share_principal", "entity", "principal_id", "record_id"),
)

setting_table = sa.Table(
    "xrm_setting",
    core_metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", DocumentType, nullable=False),
)

#: Privileges a share can carry (create is not one: a share is of a record).
SHARE_PRIVILEGES = ("read", "update", "delete", "assign", "share")
