"""Input types made from metadata (filters, sort orders, create and update data),
and their translation into what the record service takes.

A filter input mirrors the query language (docs/queries.md): one key per field
with that field's operators, ``and`` / ``or`` / ``not``, and for a lookup both
the operators on its own value and ``where``, conditions on the record it
points at (a path through the lookup: ``{account: {where: {industry: {eq:
"tech"}}}}`` is ``{"account.industry": {"eq": "tech"}}``). A sort order is a
list of objects, each naming fields (or lookups, nested) with a direction, in
the order given. Translation happens here; checking is the service's (so a
GraphQL filter gets the same errors, with pointers into the JSON form).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Any

import strawberry

from xrm_core.graphql.building import Draft, given, list_of, make_enum, plain
from xrm_core.graphql.names import entity_part, enum_values, field_part
from xrm_core.graphql.scalars import operator_filter, scalar, shared
from xrm_core.metadata.definition import EntityDefinition, FieldDefinition, Kind
from xrm_core.records.query import SYSTEM_FIELDS

#: Filter keys that combine conditions; no field filter may take these names.
COMBINATORS = ("and", "or", "not")
#: Kinds that cannot be sorted on.
UNSORTED = frozenset({Kind.JSON, Kind.MULTI_CHOICE})
_ROLE = "_xrm_role"  # class attribute telling translate() what an input object is


class Inputs:
    """The input types of every entity, and the enums of their choice fields."""

    def __init__(self, definitions: Sequence[EntityDefinition]) -> None:
        self.definitions = {d.name: d for d in definitions}
        self.filters = {d.name: Draft(entity_part(d.name, "Filter")) for d in definitions}
        self.orders = {d.name: Draft(entity_part(d.name, "Order")) for d in definitions}
        self.lookups = {d.name: Draft(entity_part(d.name, "Lookup")) for d in definitions}
        self.enums: dict[tuple[str, str], Any] = {}
        self.creates: dict[str, Draft] = {}
        self.updates: dict[str, Draft] = {}

    def build(self) -> None:
        """Fill in every input type's fields."""
        for d in self.definitions.values():
            self._filter(d)
            self._order(d)
            self._lookup(d)
            self.creates[d.name] = self._data(d, "Create", owner=True)
            self.updates[d.name] = self._data(d, "Update", owner=False)

    def finish(self) -> None:
        """Turn every draft into a Strawberry input type."""
        for group in (self.filters, self.orders, self.lookups, self.creates, self.updates):
            for draft in group.values():
                draft.finish(input=True)

    def choice_enum(self, entity: str, f: FieldDefinition) -> Any | None:
        """The enum of a choice field (None when its choices cannot be enum values)."""
        if not enum_values(f.choices):
            return None
        key = (entity, f.name)
        if key not in self.enums:
            name = field_part(entity, f.name, "Choice")
            try:
                made = make_enum(name, f.choices, f"Choices of {entity}.{f.name}")
            except ValueError:  # a choice Python's enums reserve ('mro'): a String field
                made = None
            self.enums[key] = made
        return self.enums[key]

    def value_type(self, entity: str, f: FieldDefinition) -> Any:
        """The GraphQL type of one field's value (output and input alike, but lookups)."""
        if f.kind in (Kind.CHOICE, Kind.MULTI_CHOICE):
            item = self.choice_enum(entity, f) or str
            return list_of(item) if f.kind is Kind.MULTI_CHOICE else item
        return scalar(f)

    # -- building --------------------------------------------------------

    def _filter(self, d: EntityDefinition) -> None:
        draft = self.filters[d.name]
        this = draft.cls
        draft.add("and", list_of(this) | None, description="every one holds")
        draft.add("or", list_of(this) | None, description="at least one holds")
        draft.add("not", this | None, description="does not hold")
        for f in (*SYSTEM_FIELDS.values(), *d.fields):
            if f.name in COMBINATORS:
                continue
            draft.add(f.name, self._field_filter(d.name, f) | None, description=f.label)

    def _field_filter(self, entity: str, f: FieldDefinition) -> Any:
        if f.kind is Kind.LOOKUP and f.target in self.lookups:
            return self.lookups[f.target].cls
        if f.kind is Kind.POLYMORPHIC_LOOKUP:
            return shared()["ReferenceFilter"]
        choices = (
            self.choice_enum(entity, f) if f.kind in (Kind.CHOICE, Kind.MULTI_CHOICE) else None
        )
        if choices is None:
            return operator_filter(f)
        key = "ChoicesFilter" if f.kind is Kind.MULTI_CHOICE else "ChoiceFilter"
        draft = Draft(field_part(entity, f.name, key), f"Conditions on {entity}.{f.name}")
        if f.kind is Kind.MULTI_CHOICE:
            draft.add("contains", choices | None, description="has this choice")
        else:
            draft.add("eq", choices | None)
            draft.add("ne", choices | None)
            draft.add("in", list_of(choices) | None)
            draft.add("not_in", list_of(choices) | None)
        draft.add("is_null", bool | None)
        return draft.finish(input=True)

    def _lookup(self, d: EntityDefinition) -> None:
        draft = self.lookups[d.name]
        ids = strawberry.ID
        draft.description = f"Conditions on a lookup to {d.name}"
        draft.add("eq", ids | None, description="points at this record")
        draft.add("ne", ids | None)
        draft.add("in", list_of(ids) | None)
        draft.add("not_in", list_of(ids) | None)
        draft.add("is_null", bool | None)
        where = self.filters[d.name].cls
        draft.add("where", where | None, description=f"conditions on the {d.name} it points at")
        setattr(draft.cls, _ROLE, "lookup")

    def _order(self, d: EntityDefinition) -> None:
        draft = self.orders[d.name]
        draft.description = f"Sort keys of {d.name}, in the order given"
        direction = shared()["SortDirection"]
        for f in (*SYSTEM_FIELDS.values(), *d.fields):
            if f.kind in UNSORTED:
                continue
            if f.kind is Kind.POLYMORPHIC_LOOKUP:
                draft.add(f.name, shared()["ReferenceOrder"] | None)
            elif f.kind is Kind.LOOKUP and f.target in self.orders and f.name not in SYSTEM_FIELDS:
                draft.add(f.name, self.orders[f.target].cls | None, description="by its fields")
            else:
                draft.add(f.name, direction | None, description=f.label)

    def _data(self, d: EntityDefinition, word: str, *, owner: bool) -> Draft:
        draft = Draft(entity_part(d.name, word), f"A {d.name}'s fields ({word.lower()})")
        for f in d.fields:
            if f.kind is Kind.POLYMORPHIC_LOOKUP:
                kind: Any = shared()["ReferenceInput"]
            elif f.kind is Kind.LOOKUP:
                kind = strawberry.ID
            else:
                kind = self.value_type(d.name, f)
            # Nullable: the record service checks required fields and reports them all.
            draft.add(f.name, kind | None, description=f.label)
        if owner:
            draft.add("owner_id", strawberry.ID | None, description="another owner (user or team)")
            draft.add("owner_type", str | None, description="'user' (default) or 'team'")
        if draft.fields == 0:
            draft.add("_", bool | None, description="(no fields)")
        return draft


def to_filter(value: Any, prefix: str = "") -> dict[str, Any]:
    """A filter input object as the query language's JSON form."""
    parts: list[dict[str, Any]] = []
    for name, item in given(value).items():
        if item is None:
            continue
        if name in ("and", "or"):
            parts.append({name: [to_filter(x, prefix) for x in item]})
        elif name == "not":
            parts.append({"not": to_filter(item, prefix)})
        else:
            parts.extend(_conditions(prefix + name, item))
    return parts[0] if len(parts) == 1 else {"and": parts}


def _conditions(path: str, item: Any) -> list[dict[str, Any]]:
    ops = {op: plain(v) for op, v in given(item).items()}
    role = getattr(type(item), _ROLE, None)
    found: list[dict[str, Any]] = []
    if role == "lookup":
        where = ops.pop("where", None)
        if where is not None:
            found.append(to_filter(where, path + "."))
    elif set(ops) & {"entity", "id"}:  # a polymorphic lookup's parts
        for part in ("entity", "id"):
            if ops.get(part) is not None:
                inner = {op: plain(v) for op, v in given(ops.pop(part)).items()}
                found.append({f"{path}.{part}": inner})
            ops.pop(part, None)
    if ops:
        found.append({path: ops})
    return found


def to_order(items: Sequence[Any] | None, prefix: str = "") -> list[str]:
    """Sort order inputs as the service's list (``["-amount", "account.name"]``)."""
    keys: list[str] = []
    for item in items or ():
        for name, value in given(item).items():
            if value is None:
                continue
            if isinstance(value, enum.Enum):
                keys.append(("-" if value.value == "DESC" else "") + prefix + name)
            else:
                keys.extend(to_order([value], f"{prefix}{name}."))
    return keys


def to_values(value: Any) -> dict[str, Any]:
    """Create or update data as the record service's dict (unset fields left out)."""
    values: dict[str, Any] = {}
    for name, item in given(value).items():
        if name == "_":
            continue
        # A polymorphic lookup's value arrives as an input object.
        values[name] = given(item) if dataclasses.is_dataclass(item) else plain(item)
    return values
