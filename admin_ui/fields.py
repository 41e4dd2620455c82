"""Per-kind helpers for showing fields in lists: columns, values as text, record names.

Shared by the record list and the record page. Nothing here reads the database:
callers pass what the services returned.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from admin_ui.record_form_lookup import title_fields
from xrm_core.errors import UnknownEntity
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind
from xrm_core.xrm import XRM

#: How many columns a list shows when nobody chose.
DEFAULT_COLUMNS = 6
#: Kinds that make poor columns by default (long or structured values).
_WIDE = frozenset({Kind.TEXT, Kind.JSON})
#: Longest text a list cell shows before cutting it short.
CELL_CHARS = 80

#: System columns a list can show, filter and sort besides the entity's fields.
SYSTEM_COLUMNS: tuple[FieldDefinition, ...] = (
    FieldDefinition("created_at", Kind.DATETIME, "Created at"),
    FieldDefinition("updated_at", Kind.DATETIME, "Updated at"),
)


def columns(definition: EntityDefinition) -> list[FieldDefinition]:
    """Every field a list may show: the entity's own, then the system columns."""
    return [*definition.fields, *SYSTEM_COLUMNS]


def column(definition: EntityDefinition, name: str) -> FieldDefinition | None:
    """The field or system column called ``name``; None when there is none."""
    return next((f for f in columns(definition) if f.name == name), None)


def default_columns(definition: EntityDefinition) -> list[str]:
    """The columns shown until the user chooses: the name first, then short fields."""
    first = list(title_fields(definition))
    names = first + [
        f.name for f in definition.fields if f.kind not in _WIDE and f.name not in first
    ]
    return names[:DEFAULT_COLUMNS] or ["created_at"]


def lookup_ids(records: Iterable[Mapping[str, Any]], f: FieldDefinition) -> dict[str, set[str]]:
    """The ids a lookup column of ``records`` points at, by target entity."""
    wanted: dict[str, set[str]] = {}
    for record in records:
        value = record.get(f.name)
        if isinstance(value, uuid.UUID | str) and f.target:
            wanted.setdefault(f.target, set()).add(str(value))
        elif isinstance(value, Mapping) and "entity" in value and "id" in value:
            wanted.setdefault(str(value["entity"]), set()).add(str(value["id"]))
    return wanted


def reference(value: Any, f: FieldDefinition) -> tuple[str, str] | None:
    """``(entity, id)`` of a lookup value, None when empty or not a lookup."""
    if isinstance(value, Mapping) and "entity" in value and "id" in value:
        return str(value["entity"]), str(value["id"])
    if isinstance(value, uuid.UUID | str) and f.target:
        return f.target, str(value)
    return None


def as_text(value: Any, f: FieldDefinition, names: Mapping[str, str] | None = None) -> str:
    """``value`` of field ``f`` as a person reads it; ``names`` gives lookups' names by id."""
    if value is None or value == [] or value == "":
        return ""
    if f.is_reference:
        ref = reference(value, f)
        if ref is None:
            return ""
        found = (names or {}).get(ref[1])
        return found if found else ref[1][:8] + "…"
    return _plain(value, f)


def _plain(value: Any, f: FieldDefinition) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        shown = value.astimezone(dt.UTC) if value.tzinfo else value
        return shown.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.tzinfo else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return f"{value:,.{f.scale if f.scale is not None else 2}f}"
    if f.kind is Kind.MULTI_CHOICE and isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if f.kind is Kind.JSON:
        return short(json.dumps(value, default=str, ensure_ascii=False))
    return short(str(value))


def short(text: str, limit: int = CELL_CHARS) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis saying so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def names_of(xrm: XRM) -> Callable[[str], tuple[str, ...]]:
    """Gives the fields that name a record of an entity (none for an unknown entity)."""

    def names(entity: str) -> tuple[str, ...]:
        try:
            return title_fields(xrm.metadata.get(entity))
        except UnknownEntity:
            return ()

    return names
