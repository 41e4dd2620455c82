"""Who owns a record and who it is shared with: assigning, sharing, and the owner of new rows.

Only user-owned entities have owners and shares: assigning or sharing a record
of an organization-owned entity is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm_core.errors import BrokenReference, Problem, RecordNotFound, RecordValidationError, shown
from xrm_core.ids import as_uuid
from xrm_core.metadata.definition import Ownership
from xrm_core.records._arguments import now
from xrm_core.records.results import Record
from xrm_core.security.tables import SHARE_PRIVILEGES, share_table

if TYPE_CHECKING:
    from xrm_core.records.service import RecordService

_OWNER_TYPES = ("user", "team")


def assign(
    service: RecordService, record_id: uuid.UUID | str, owner_id: uuid.UUID | str, owner_type: str
) -> Record:
    """See :meth:`RecordService.assign`."""
    rid = as_uuid(record_id)
    owner = as_uuid(owner_id, "/owner_id")
    _require_owned(service)
    with service.db.transaction() as conn:
        service.authorize(conn, [rid], "assign")
        unit = _owner_unit(service, conn, owner_type, owner)
        service.security.check_owner_change(service.caller, service.definition, owner, unit)
        before = service._row(conn, rid)
        if before is None:
            raise RecordNotFound(f"no {service.entity} with id {rid}", details={"id": str(rid)})
        moved = {"owner_id": owner, "owner_type": owner_type, "business_unit_id": unit}
        service.changes.before(
            conn, service.definition, "assign", [(rid, before, {**before, **moved})]
        )
        table = service.table()
        row = (
            conn.execute(
                table.update()
                .where(table.c.id == rid)
                .values(
                    owner_id=owner,
                    owner_type=owner_type,
                    business_unit_id=unit,
                    version=table.c.version + 1,
                    updated_at=now(),
                    updated_by=service.caller.user_id,
                )
                .returning(*table.c)
            )
            .mappings()
            .one()
        )
        after = service.to_record(row)
        service._audit(conn, "assign", [(rid, before, after)])
    return service._hide(after)


def share(
    service: RecordService,
    record_id: uuid.UUID | str,
    principal_id: uuid.UUID | str,
    principal_type: str,
    privileges: Sequence[str],
) -> dict[str, Any]:
    """See :meth:`RecordService.share`."""
    rid = as_uuid(record_id)
    principal = as_uuid(principal_id, "/principal_id")
    _require_owned(service)
    wanted = _share_privileges(privileges)
    with service.db.transaction() as conn:
        service.authorize(conn, [rid], "share")
        for privilege in wanted:
            service.authorize(conn, [rid], privilege)
        _owner_unit(service, conn, principal_type, principal, "/principal_id")
        match = _share_match(service, rid, principal)
        before = conn.execute(sa.select(share_table).where(*match)).mappings().first()
        granted = {f"can_{p}": p in wanted for p in SHARE_PRIVILEGES}
        values = {"principal_type": principal_type, **granted}
        after = _share_record({**values, "principal_id": principal})
        change = [(rid, _share_record(before) if before else None, after)]
        service.changes.before(conn, service.definition, "share", change)
        if before is None:
            conn.execute(
                share_table.insert().values(
                    entity=service.entity,
                    record_id=rid,
                    principal_id=principal,
                    created_at=now(),
                    created_by=service.caller.user_id,
                    **values,
                )
            )
        else:  # sharing again changes the privileges; who shared first, and when, stays
            conn.execute(share_table.update().where(*match).values(**values))
        service._audit(conn, "share", change)
    return after


def unshare(
    service: RecordService, record_id: uuid.UUID | str, principal_id: uuid.UUID | str
) -> bool:
    """See :meth:`RecordService.unshare`."""
    rid = as_uuid(record_id)
    principal = as_uuid(principal_id, "/principal_id")
    _require_owned(service)
    with service.db.transaction() as conn:
        service.authorize(conn, [rid], "share")
        match = _share_match(service, rid, principal)
        before = conn.execute(sa.select(share_table).where(*match)).mappings().first()
        if before is None:
            return False
        change = [(rid, _share_record(before), None)]
        service.changes.before(conn, service.definition, "unshare", change)
        conn.execute(share_table.delete().where(*match))
        service._audit(conn, "unshare", change)
    return True


def shares(service: RecordService, record_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """See :meth:`RecordService.shares`."""
    rid = as_uuid(record_id)
    with service.db.transaction(write=False) as conn:
        service.authorize(conn, [rid], "read")
        rows = conn.execute(
            sa.select(share_table)
            .where(share_table.c.entity == service.entity, share_table.c.record_id == rid)
            .order_by(share_table.c.created_at, share_table.c.principal_id)
        ).mappings()
        return [_share_record(r) for r in rows]


def owner_of(service: RecordService, given: Mapping[str, Any]) -> dict[str, Any]:
    """The ``owner_id`` / ``owner_type`` a new record's data names, checked for form only.

    Whether the owner exists and the create scope reaches it is checked when
    the row is inserted (:func:`fill_owners`, then the security service).
    """
    if service.definition.ownership is Ownership.ORGANIZATION:
        raise RecordValidationError(
            f"{service.entity!r} records are organization-owned and have no owner",
            [Problem("/owner_id", "not allowed")],
        )
    owner_type = given.get("owner_type", "user")
    if owner_type not in _OWNER_TYPES:
        raise RecordValidationError(
            "an owner is a user or a team", [Problem("/owner_type", "must be user or team")]
        )
    try:
        owner = uuid.UUID(str(given.get("owner_id")))
    except ValueError:
        raise RecordValidationError(
            "an owner is given by its id", [Problem("/owner_id", "not a valid id")]
        ) from None
    return {"owner_id": owner, "owner_type": owner_type}


def fill_owners(service: RecordService, conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Fill who created the rows and who owns them; the owner's unit comes with it."""
    user = service.caller.user_id
    owners: set[tuple[str, uuid.UUID]] = set()
    owned = service.definition.ownership is Ownership.USER
    for row in rows:
        if row["created_by"] is None:
            row["created_by"] = user
        row["updated_by"] = user
        if not owned:
            continue
        if row["owner_id"] is None and user is not None:
            row["owner_id"], row["owner_type"] = user, "user"
        if row["owner_id"] is not None:
            owners.add((row["owner_type"] or "user", row["owner_id"]))
    if not owners:
        return
    units = service.security.owner_units(conn, owners)
    for row in rows:
        owner = row["owner_id"]
        if owner is None:
            continue
        if owner not in units:
            raise BrokenReference(
                f"no {row['owner_type']} with id {owner} to own the record",
                [Problem("/owner_id", "no such user or team")],
            )
        row["owner_type"] = row["owner_type"] or "user"
        row["business_unit_id"] = units[owner]


def _owner_unit(
    service: RecordService, conn: Connection, kind: str, owner: uuid.UUID, at: str = "/owner_id"
) -> uuid.UUID | None:
    if kind not in _OWNER_TYPES:
        raise RecordValidationError(
            "an owner is a user or a team", [Problem(at, "must be a user or a team")]
        )
    units = service.security.owner_units(conn, [(kind, owner)])
    if owner not in units:
        raise RecordNotFound(f"no {kind} with id {owner}", [Problem(at, f"no such {kind}")])
    return units[owner]


def _require_owned(service: RecordService) -> None:
    if service.definition.ownership is Ownership.ORGANIZATION:
        raise RecordValidationError(
            f"{service.entity!r} records are organization-owned: they have no owner "
            "and are not shared",
            [Problem("", "organization-owned entity")],
        )


def _share_privileges(privileges: Any) -> list[str]:
    if isinstance(privileges, str) or not isinstance(privileges, Sequence) or not privileges:
        raise RecordValidationError(
            "share privileges are a non-empty list",
            [Problem("/privileges", f"choose among {', '.join(SHARE_PRIVILEGES)}")],
        )
    unknown = [p for p in privileges if p not in SHARE_PRIVILEGES]
    if unknown:
        raise RecordValidationError(
            f"a share grants only {', '.join(SHARE_PRIVILEGES)}",
            [Problem("/privileges", f"unknown privilege {shown(p)}") for p in unknown],
        )
    return list(dict.fromkeys(privileges))


def _share_match(
    service: RecordService, rid: uuid.UUID, principal: uuid.UUID
) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        share_table.c.entity == service.entity,
        share_table.c.record_id == rid,
        share_table.c.principal_id == principal,
    )


def _share_record(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "principal_type": row["principal_type"],
        "principal_id": row["principal_id"],
        "privileges": [p for p in SHARE_PRIVILEGES if row[f"can_{p}"]],
    }
