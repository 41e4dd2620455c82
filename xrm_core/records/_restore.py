"""Restoring a deleted record from the image its delete left in the audit log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.audit.log import AuditLog
from xrm_core.errors import Problem, RecordNotFound, RecordValidationError
from xrm_core.ids import as_uuid
from xrm_core.metadata.definition import EntityDefinition, Kind, Ownership
from xrm_core.metadata.models import InvalidRecord
from xrm_core.records.results import Record

if TYPE_CHECKING:
    from xrm_core.records.service import RecordService


@dataclass(frozen=True)
class RestoreReport:
    """A restored record, and the references it lost on the way back.

    ``cleared_lookups`` names the lookups set to null because the record they
    pointed at no longer exists, in field order; ``owner_id`` is among them
    when the owner no longer exists (the restoring user then owns the record).
    """

    record: Record
    cleared_lookups: list[str] = field(default_factory=list)


def restore(service: RecordService, record_id: uuid.UUID | str) -> RestoreReport:
    """Bring back a deleted record of ``service``'s entity, as it was when deleted.

    The record keeps its id, creation time, creator and owner; it starts again
    at version 1, updated now by the caller. Fields defined since take their
    default; fields dropped since are left out. Raises :class:`RecordNotFound`
    when the audit log holds no delete of the record or the record exists,
    :class:`RecordValidationError` when the image does not satisfy the
    definition in force (a required field added since, without a default).
    The insert checks the caller's create permission and is audited as ``restore``.
    """
    rid = as_uuid(record_id)
    entity = service.entity
    definition = service.definition
    log = service.audit
    if not isinstance(log, AuditLog):  # the log is where the deleted image is kept
        raise RecordNotFound(f"no audit log to restore {entity} {rid} from")
    with service.db.transaction() as conn:
        table = service.table()
        if conn.execute(sa.select(table.c.id).where(table.c.id == rid)).first() is not None:
            raise RecordNotFound(
                f"{entity} {rid} exists: only a deleted record can be restored",
                [Problem("/id", "the record exists")],
                {"id": str(rid)},
            )
        image = log.deleted_image(conn, entity, rid)
        if image is None:
            raise RecordNotFound(
                f"no deleted {entity} with id {rid} in the audit log",
                [Problem("/id", "no delete of this record was audited")],
                {"id": str(rid)},
            )
        values = {f.name: image[f.name] for f in definition.fields if f.name in image}
        cleared = _clear_missing_targets(service, conn, definition, rid, values)
        try:
            validated = service.metadata.validator(entity).validate_create({**values, "id": rid})
        except InvalidRecord as exc:
            raise RecordValidationError(
                f"the deleted {entity} record does not satisfy its definition as it is now",
                exc.problems,
                {"id": str(rid)},
            ) from None
        (row,) = service.new_rows([validated])
        row["created_at"] = image.get("created_at") or row["created_at"]
        row["created_by"] = image.get("created_by")
        if definition.ownership is Ownership.USER:
            owner = _owner(service, conn, image)
            if owner is None and image.get("owner_id") is not None:
                cleared.append("owner_id")
            row["owner_id"], row["owner_type"] = owner or (None, None)
        service.insert(conn, [row], operation="restore")
        record = service.to_record(row)
    hidden = service.security.unreadable_fields(service.caller, entity)
    return RestoreReport({k: v for k, v in record.items() if k not in hidden}, cleared)


def _clear_missing_targets(
    service: RecordService,
    conn: Connection,
    definition: EntityDefinition,
    rid: uuid.UUID,
    values: dict[str, Any],
) -> list[str]:
    """Set to null each lookup of ``values`` whose target is gone; their names."""
    metadata = service.metadata
    cleared = []
    for f in definition.fields:
        value = values.get(f.name)
        if value is None or not f.is_reference:
            continue
        if f.kind is Kind.POLYMORPHIC_LOOKUP:
            target = value.get("entity") if isinstance(value, dict) else None
            target_id = value.get("id") if isinstance(value, dict) else None
            known = f.any_entity or target in f.targets
        else:
            target, target_id, known = f.target, value, True
        if not isinstance(target_id, uuid.UUID) or not known or target is None:
            found = False
        elif target == definition.name and target_id == rid:
            found = True  # the record itself, back with this insert
        elif not metadata.exists(target):
            found = False
        else:
            table = metadata.catalog.table(target)
            query = sa.select(table.c.id).where(table.c.id == target_id)
            found = conn.execute(query).first() is not None
        if not found:
            values[f.name] = None
            cleared.append(f.name)
    return cleared


def _owner(
    service: RecordService, conn: Connection, image: dict[str, Any]
) -> tuple[uuid.UUID, str] | None:
    """The record's owner when deleted, if that user or team still exists."""
    owner, kind = image.get("owner_id"), image.get("owner_type") or "user"
    if not isinstance(owner, uuid.UUID):
        return None
    units = service.security.owner_units(conn, [(kind, owner)])
    return (owner, kind) if owner in units else None
