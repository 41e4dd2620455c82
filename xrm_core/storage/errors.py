"""Driver errors translated at the storage boundary into the core's own errors."""

from __future__ import annotations

import re

import sqlalchemy as sa

from xrm_core.errors import BrokenReference, DuplicateRecord, Problem, XRMError, pointer
from xrm_core.metadata.definition import EntityDefinition
from xrm_core.storage.tables import index_name

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def translate_integrity_error(exc: sa.exc.IntegrityError, definition: EntityDefinition) -> XRMError:
    """A clear error naming the fields involved, from a database integrity error."""
    message = str(exc.orig)
    fields = _unique_fields(exc, message, definition)
    if fields is not None:
        names = ", ".join(fields)
        return DuplicateRecord(
            f"another {definition.name} already has this {names}",
            [Problem(pointer(f), "is already used by another record") for f in fields],
            {"fields": list(fields)},
        )
    if "FOREIGN KEY" in message.upper():
        return BrokenReference("a lookup points at a record that does not exist")
    return XRMError(f"the database refused the change: {message.splitlines()[0]}")


def _unique_fields(
    exc: sa.exc.IntegrityError, message: str, definition: EntityDefinition
) -> tuple[str, ...] | None:
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    indexes = definition.all_indexes()
    if constraint is not None and sqlstate == "23505":
        for index in indexes:
            if index_name(definition.name, index) == constraint:
                return index.fields
        return ("id",) if constraint.endswith("_pkey") else None
    found = _SQLITE_UNIQUE.search(message)
    if found is None:
        return None
    columns = tuple(c.strip().split(".")[-1] for c in found.group(1).split(","))
    for index in indexes:
        if _columns(definition, index.fields) == columns:
            return index.fields
    return columns


def _columns(definition: EntityDefinition, fields: tuple[str, ...]) -> tuple[str, ...]:
    # A polymorphic lookup is stored in two columns (regarding_entity, regarding_id).
    return tuple(
        c
        for name in fields
        for c in (definition.field(name).columns if definition.has_field(name) else (name,))
    )
