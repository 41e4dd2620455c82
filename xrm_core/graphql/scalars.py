"""The types every schema shares: scalars per field kind, operator filters, page info.

Field kinds map to GraphQL types as follows (see docs/graphql.md): text kinds →
``String``; integers → ``Int`` when the definition bounds them to 32 bits,
else ``BigInt`` (a JSON integer; GraphQL's ``Int`` stops at 2³¹); decimal and
money → ``Decimal`` (a string, so no client loses a cent to a double); booleans
→ ``Boolean``; dates → ``Date`` and ``DateTime`` (ISO 8601); choices → an enum
when every choice is a valid enum value name, else ``String``; JSON → ``JSON``;
ids and lookups' own values → ``ID``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON
from strawberry.types.scalar import ScalarDefinition

from xrm_core.graphql.building import Draft, list_of, make_enum
from xrm_core.metadata.definition import TEXT_KINDS, FieldDefinition, Kind

BigInt = NewType("BigInt", int)

_INT32 = (-(2**31), 2**31 - 1)


def _big_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"BigInt cannot represent {value!r}: give a whole number")
    return int(value)


#: Scalars that are not Strawberry's own, for ``StrawberryConfig.scalar_map``.
SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="A whole number of up to 64 bits (sent as a JSON number)",
        serialize=int,
        parse_value=_big_int,
    )
}


def is_int32(field: FieldDefinition) -> bool:
    """True when an integer field's bounds keep it within GraphQL's ``Int``."""
    low, high = field.minimum, field.maximum
    return low is not None and high is not None and _INT32[0] <= low and high <= _INT32[1]


def scalar(field: FieldDefinition) -> Any:
    """The GraphQL scalar of a field that is neither a choice, a lookup nor a list."""
    kind = field.kind
    if kind is Kind.INTEGER:
        return int if is_int32(field) else BigInt
    return {
        Kind.DECIMAL: decimal.Decimal,
        Kind.MONEY: decimal.Decimal,
        Kind.BOOLEAN: bool,
        Kind.DATE: dt.date,
        Kind.DATETIME: dt.datetime,
        Kind.JSON: JSON,
        Kind.LOOKUP: strawberry.ID,
    }.get(kind, str)


def _operator_filter(
    name: str, value: Any, ordered: bool = True, text: bool = False, equal: bool = True
) -> Any:
    draft = Draft(name, "Conditions on one value; every condition given must hold")
    if equal:
        draft.add("eq", value | None, description="equal")
        draft.add("ne", value | None, description="not equal (empty values match)")
    if ordered:
        for op in ("lt", "le", "gt", "ge"):
            draft.add(op, value | None)
    if equal:
        draft.add("in", list_of(value) | None, description="one of")
        draft.add("not_in", list_of(value) | None, description="none of (empty values match)")
    if text:
        draft.add("contains", str | None, description="contains (case-insensitive)")
        draft.add("starts_with", str | None, description="starts with (case-insensitive)")
    draft.add("is_null", bool | None, description="true: empty; false: not empty")
    return draft.finish(input=True)


@functools.cache
def shared() -> dict[str, Any]:
    """The shared types, made once per process (every schema may use them)."""
    types: dict[str, Any] = {
        "StringFilter": _operator_filter("StringFilter", str, text=True),
        "IntFilter": _operator_filter("IntFilter", int),
        "BigIntFilter": _operator_filter("BigIntFilter", BigInt),
        "DecimalFilter": _operator_filter("DecimalFilter", decimal.Decimal),
        "BooleanFilter": _operator_filter("BooleanFilter", bool, ordered=False),
        "DateFilter": _operator_filter("DateFilter", dt.date),
        "DateTimeFilter": _operator_filter("DateTimeFilter", dt.datetime),
        "IDFilter": _operator_filter("IDFilter", strawberry.ID),
        "JSONFilter": _operator_filter("JSONFilter", JSON, ordered=False, equal=False),
    }
    choices = Draft("MultiChoiceFilter", "Conditions on a multi-choice field")
    choices.add("contains", str | None, description="has this choice")
    choices.add("is_null", bool | None, description="true: empty; false: not empty")
    types["MultiChoiceFilter"] = choices.finish(input=True)
    types["SortDirection"] = make_enum("SortDirection", ("ASC", "DESC"), "Sort order")
    reference = Draft("Reference", "A polymorphic lookup's value: which entity, which record")
    reference.add("entity", str, description="the entity's name (any entity's, for targets '*')")
    reference.add("id", strawberry.ID)
    types["Reference"] = reference.finish()
    given = Draft("ReferenceInput", "A polymorphic lookup's value")
    given.add("entity", str)
    given.add("id", strawberry.ID)
    types["ReferenceInput"] = given.finish(input=True)
    where = Draft("ReferenceFilter", "Conditions on a polymorphic lookup")
    where.add("entity", types["StringFilter"] | None)
    where.add("id", types["IDFilter"] | None)
    where.add("is_null", bool | None)
    types["ReferenceFilter"] = where.finish(input=True)
    order = Draft("ReferenceOrder", "Sorting by a polymorphic lookup's parts")
    order.add("entity", types["SortDirection"] | None)
    order.add("id", types["SortDirection"] | None)
    types["ReferenceOrder"] = order.finish(input=True)
    page = Draft("PageInfo", "Where a page stands (cursor pagination)")
    page.add("hasNextPage", bool)
    page.add("hasPreviousPage", bool, description="always false: pages go forward")
    page.add("startCursor", str | None)
    page.add("endCursor", str | None, description="pass as `after` for the next page")
    types["PageInfo"] = page.finish()
    deleted = Draft("DeleteResult", "What a delete removed (or, in a dry run, would remove)")
    deleted.add("id", strawberry.ID)
    deleted.add("dryRun", bool)
    deleted.add("deleted", JSON, description="records deleted per entity")
    deleted.add("cleared", JSON, description="lookups set to null per entity.field")
    deleted.add("unlinked", JSON, description="many-to-many links removed per link table")
    types["DeleteResult"] = deleted.finish()
    return types


def operator_filter(field: FieldDefinition) -> Any:
    """The shared operator filter of a field that is neither a choice nor a lookup."""
    kind = field.kind
    if kind in TEXT_KINDS:
        return shared()["StringFilter"]
    if kind is Kind.INTEGER:
        return shared()["IntFilter" if is_int32(field) else "BigIntFilter"]
    name = {
        Kind.DECIMAL: "DecimalFilter",
        Kind.MONEY: "DecimalFilter",
        Kind.BOOLEAN: "BooleanFilter",
        Kind.DATE: "DateFilter",
        Kind.DATETIME: "DateTimeFilter",
        Kind.LOOKUP: "IDFilter",
        Kind.MULTI_CHOICE: "MultiChoiceFilter",
    }.get(kind, "JSONFilter")
    return shared()[name]
