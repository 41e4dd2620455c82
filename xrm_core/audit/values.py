"""Audited values: JSON on the way in, Python values again on the way out.

The log keeps values as JSON (UUIDs, dates and decimals as text) so that an
entry outlives the definition it was written under. Reading turns them back
with the definition in force where the field still exists and the text still
fits its kind; anything else is returned as stored.

Writing converts nothing in Python: :func:`dumps` hands values to orjson,
which calls back only for the few it has no type for (decimals). A bulk
create audits every record it writes, so this is where its cost is.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from xrm_core.metadata.definition import EntityDefinition, Kind

#: How ``changes`` are stored: ``{"old": {key: value}, "new": {key: value}}``, a side
#: left out when it has nothing (a create has no old values, a delete no new ones).
#: Two flat maps are about half the JSON of one ``{"old", "new"}`` pair per key,
#: which matters for bulk creates; :func:`expand` gives the pair-per-key form.
Stored = dict[str, dict[str, Any]]

#: Who owns a record: audited as fields, for creates, assigns and deletes.
OWNER_KEYS = ("owner_id", "owner_type", "business_unit_id")
#: What a delete keeps besides the fields, so that a restore can rebuild the record.
IMAGE_KEYS = ("id", "created_at", "created_by", *OWNER_KEYS)


def plain(value: Any) -> Any:
    """A value JSON has no type for, as JSON: UUIDs and decimals as text, dates in ISO."""
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (UTF-8, not escaped to ASCII).

    orjson encodes UUIDs and datetimes itself, five times faster than the
    standard library's encoder, and calls :func:`plain` for the rest.
    """
    try:
        return orjson.dumps(value, default=plain).decode()
    except TypeError:
        # A whole number past 64 bits (a JSON field may hold one): the standard
        # encoder writes it exactly, as JSON allows.
        return json.dumps(value, default=plain, ensure_ascii=False, separators=(",", ":"))


_SYSTEM_KINDS: dict[str, Kind | None] = {
    "id": Kind.LOOKUP,
    "created_at": Kind.DATETIME,
    "created_by": Kind.LOOKUP,
    "updated_at": Kind.DATETIME,
    "updated_by": Kind.LOOKUP,
    "owner_id": Kind.LOOKUP,
    "owner_type": Kind.STRING,
    "business_unit_id": Kind.LOOKUP,
}


@dataclass(frozen=True)
class AuditShape:
    """What the log keeps of one definition's records, computed once per version.

    The methods return the stored form of ``changes`` (see :func:`expand`),
    with values as the record has them: :func:`dumps` makes them JSON.
    """

    compared: tuple[str, ...]
    image: tuple[str, ...]

    @classmethod
    def of(cls, definition: EntityDefinition) -> AuditShape:
        """The shape of ``definition``: its audited fields, with the owner keys."""
        fields = tuple(f.name for f in definition.fields if f.audited)
        return cls(compared=fields + OWNER_KEYS, image=IMAGE_KEYS + fields)

    def created(self, after: Mapping[str, Any]) -> Stored:
        """A create (or restore): every value given, from nothing."""
        get = after.get
        return {"new": {k: v for k in self.compared if (v := get(k)) is not None}}

    def updated(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> Stored | None:
        """An update (or assign): the values ``after`` gives that differ from ``before``.

        None when nothing audited changed.
        """
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for key in self.compared:
            if key in after and before.get(key) != after[key]:
                old[key], new[key] = before.get(key), after[key]
        return {"old": old, "new": new} if new else None

    def deleted(self, before: Mapping[str, Any]) -> Stored:
        """A delete: the whole before image, what a restore needs."""
        get = before.get
        return {"old": {k: get(k) for k in self.image}}


def documents(key: str, before: Any, after: Any) -> Stored:
    """The stored form of one key's change (a share, a definition)."""
    return {"old": {key: before}, "new": {key: after}}


def _reference(value: Any) -> Any:
    return {"entity": value["entity"], "id": uuid.UUID(value["id"])}


_DECODERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.LOOKUP: uuid.UUID,
    Kind.DATE: dt.date.fromisoformat,
    Kind.DATETIME: dt.datetime.fromisoformat,
    Kind.DECIMAL: decimal.Decimal,
    Kind.MONEY: decimal.Decimal,
    Kind.POLYMORPHIC_LOOKUP: _reference,
}


def _share(value: Any) -> Any:
    return {**value, "principal_id": uuid.UUID(value["principal_id"])}


def decoders(definition: EntityDefinition | None) -> dict[str, Callable[[Any], Any]]:
    """Per key, how its stored JSON becomes a Python value again (system keys too)."""
    kinds: dict[str, Kind | None] = dict(_SYSTEM_KINDS)
    if definition is not None:
        kinds.update((f.name, f.kind) for f in definition.fields)
    found: dict[str, Callable[[Any], Any]] = {"share": _share}
    found.update((k, _DECODERS[kind]) for k, kind in kinds.items() if kind in _DECODERS)
    return found


def decode(value: Any, decoder: Callable[[Any], Any] | None) -> Any:
    """``value`` read back by ``decoder``; as stored when it no longer fits (a changed kind)."""
    if value is None or decoder is None:
        return value
    try:
        return decoder(value)
    except (ValueError, TypeError, KeyError, ArithmeticError):
        return value


def expand(stored: Mapping[str, Any], found: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """``{key: {"old": value, "new": value}}`` from the stored form, values read back."""
    old: Mapping[str, Any] = stored.get("old") or {}
    new: Mapping[str, Any] = stored.get("new") or {}
    out: dict[str, Any] = {}
    for key in dict.fromkeys([*old, *new]):
        decoder = found.get(key)
        out[key] = {"old": decode(old.get(key), decoder), "new": decode(new.get(key), decoder)}
    return out
