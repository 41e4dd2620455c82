"""How a record is named on screen, and the search behind a lookup's search-as-you-type.

A record's label is the values of its entity's ``x-xrm.title_field`` (joined by
a space) when the definition declares one. Otherwise it comes from the first
field that reads as its name (``name``, ``title``, ``subject`` ...), else first
and last name, else its first text field, else its id. The same fields are what
a lookup's search box matches (``contains``, case-insensitive).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from xrm_core.errors import AccessDenied, UnknownEntity, XRMError
from xrm_core.metadata.definition import EntityDefinition, Kind
from xrm_core.xrm import XRM

#: Field names that read as a record's name, in order of preference.
NAME_FIELDS = ("name", "full_name", "title", "subject", "username", "label", "code")
_NAMING_KINDS = frozenset({Kind.STRING, Kind.EMAIL, Kind.CHOICE})
#: How many matches a lookup's list offers.
OFFERED = 10


def title_fields(definition: EntityDefinition) -> tuple[str, ...]:
    """The fields that name a record of ``definition`` (empty: only its id does).

    Its declared ``x-xrm.title_field`` when it has one, else a guess from the field names.
    """
    if definition.title_fields:
        return definition.title_fields
    naming = [f.name for f in definition.fields if f.kind in _NAMING_KINDS]
    for name in NAME_FIELDS:
        if name in naming:
            return (name,)
    if "first_name" in naming and "last_name" in naming:
        return ("first_name", "last_name")
    texts = [f.name for f in definition.fields if f.kind is Kind.STRING]
    return (texts[0],) if texts else ()


def label_of(definition: EntityDefinition, record: Mapping[str, Any]) -> str:
    """A record's label: its name fields' values, else the start of its id."""
    parts = [str(record[n]) for n in title_fields(definition) if record.get(n) not in (None, "")]
    return " ".join(parts) if parts else f"{definition.label} {str(record.get('id', ''))[:8]}"


def search(xrm: XRM, entity: str, text: str, limit: int = OFFERED) -> list[tuple[str, str]]:
    """Records of ``entity`` whose name contains ``text`` (or whose id it is): (id, label).

    Only records the caller may read; none when they may read no record of it.
    """
    definition = xrm.metadata.get(entity)
    names = title_fields(definition)
    text = text.strip()
    conditions: list[Any] = [{name: {"contains": text}} for name in names] if text else []
    with contextlib.suppress(ValueError):  # a pasted id finds its record too
        conditions.append({"id": str(uuid.UUID(text))})
    query: dict[str, Any] = {"limit": limit, "order": [*names, "id"]}
    if text:
        query["filter"] = {"or": conditions}
    try:
        page = xrm.records(entity).query(**query)
    except AccessDenied:
        return []
    return [(str(r["id"]), label_of(definition, r)) for r in page]


def labels_of(xrm: XRM, entity: str, ids: Iterable[Any]) -> dict[str, str]:
    """Labels of the records of ``entity`` with ``ids`` the caller may read (id → label)."""
    wanted = sorted({str(i) for i in ids if i is not None})
    if not wanted:
        return {}
    try:
        definition = xrm.metadata.get(entity)
        page = xrm.records(entity).query(filter={"id": {"in": wanted}}, limit=len(wanted))
    except (AccessDenied, UnknownEntity):
        return {}
    return {str(r["id"]): label_of(definition, r) for r in page}


def reference_labels(
    xrm: XRM, definition: EntityDefinition, record: Mapping[str, Any]
) -> dict[str, str]:
    """Field name → the label of the record each lookup of ``record`` points at."""
    found: dict[str, str] = {}
    for f in definition.fields:
        value = record.get(f.name)
        if value is None or not f.is_reference:
            continue
        if f.kind is Kind.LOOKUP and f.target:
            entity, rid = f.target, str(value)
        elif isinstance(value, Mapping):
            entity, rid = str(value.get("entity")), str(value.get("id"))
        else:
            continue
        found[f.name] = labels_of(xrm, entity, [rid]).get(rid, rid)
    return found


def record_label(xrm: XRM, entity: str, record_id: Any) -> str:
    """The label of one record, or its id when the caller cannot read it."""
    try:
        definition = xrm.metadata.get(entity)
        return label_of(definition, xrm.records(entity).get(record_id))
    except XRMError:  # not found, not readable, or an entity since dropped
        return str(record_id)


def resolve(xrm: XRM, entity: str, text: str) -> list[tuple[str, str]]:
    """The records typed ``text`` stands for: those labelled exactly so, else every match."""
    try:
        matches = search(xrm, entity, text)
    except UnknownEntity:
        return []
    exact = [m for m in matches if m[1].casefold() == text.strip().casefold()]
    return exact or matches
