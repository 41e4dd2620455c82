"""Filter rows of a record list and the query-language conditions they stand for.

A row is one field, an operator and one or two values, as typed in the form (or
in the URL: ``f1=name&op1=contains&v1=acme``). :func:`condition` turns a row into
one condition of the query language; the rows of a list are combined with AND.
:func:`rows_of` goes back from a saved filter to rows, for the parts that a row
could have made (checked by making the row's condition again); the rest stays
a query-language filter of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xrm_core.metadata.definition import (
    NUMBER_KINDS,
    TEXT_KINDS,
    EntityDefinition,
    FieldDefinition,
    Kind,
)

#: Gives the fields that name a record of an entity (to find lookups by name).
NameOf = Callable[[str], tuple[str, ...]]


@dataclass(frozen=True)
class Operator:
    """An operator of the filter form: its URL value, its label, how many values it takes."""

    name: str
    label: str
    values: int = 1


EMPTY = Operator("empty", "is empty", 0)
FILLED = Operator("filled", "is not empty", 0)
_TEXT = (
    Operator("contains", "contains"),
    Operator("eq", "is"),
    Operator("starts_with", "starts with"),
)
_RANGE = (Operator("between", "between", 2), Operator("eq", "is"))
_DAYS = (Operator("between", "between", 2), Operator("on", "on"))


def operators(f: FieldDefinition) -> tuple[Operator, ...]:
    """The operators the form offers for field ``f``, the default first."""
    kind = f.kind
    if kind is Kind.CHOICE:
        found: tuple[Operator, ...] = (Operator("eq", "is"), Operator("ne", "is not"))
    elif kind in TEXT_KINDS:
        found = _TEXT
    elif kind in NUMBER_KINDS:
        found = _RANGE
    elif kind in (Kind.DATE, Kind.DATETIME):
        found = _DAYS
    elif kind is Kind.BOOLEAN:
        found = (Operator("eq", "is"),)
    elif kind is Kind.MULTI_CHOICE:
        found = (Operator("has", "has"),)
    elif kind is Kind.LOOKUP:
        found = (Operator("is", "is (id or name)"),)
    elif kind is Kind.POLYMORPHIC_LOOKUP:
        found = (Operator("is", "is (id)"), Operator("entity", "points at a"))
    else:
        found = ()
    return (*found, EMPTY, FILLED)


def operator(f: FieldDefinition, name: str) -> Operator | None:
    """The operator called ``name`` for ``f``; None when it does not apply."""
    return next((o for o in operators(f) if o.name == name), None)


def input_kind(f: FieldDefinition, op: Operator) -> str:
    """How the form asks for the value: ``text``, ``number``, ``date`` or ``select``."""
    if f.kind in (Kind.CHOICE, Kind.MULTI_CHOICE, Kind.BOOLEAN):
        return "select"
    if op.name == "entity":
        return "select"
    if f.kind in NUMBER_KINDS:
        return "number"
    if f.kind in (Kind.DATE, Kind.DATETIME):
        return "date"
    return "text"


def options(
    f: FieldDefinition, op: Operator, entities: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """``(value, label)`` pairs of a select input.

    ``entities`` are the names a polymorphic lookup to any entity may point at
    (its targets are ``"*"``, decision 0031): the entities that exist now.
    """
    if f.kind is Kind.BOOLEAN:
        return [("true", "Yes"), ("false", "No")]
    if op.name == "entity":
        return [(t, t) for t in (sorted(entities) if f.any_entity else f.targets)]
    return [(c, c) for c in f.choices]


@dataclass
class FilterRow:
    """One row of the filter form, as submitted; ``error`` is said next to it."""

    field: str
    op: str
    value: str = ""
    to: str = ""
    error: str | None = None


class RowError(ValueError):
    """A row the form cannot turn into a condition; the message is for the user."""


def condition(
    definition: EntityDefinition, f: FieldDefinition, row: FilterRow, name_of: NameOf
) -> dict[str, Any] | None:
    """The query-language condition of ``row`` on field ``f``; None when the row is blank.

    Raises :class:`RowError` for what the form itself can tell is wrong; values
    are otherwise passed on as typed, for the record service to check.
    """
    op = operator(f, row.op)
    if op is None:
        raise RowError(f"choose an operator for {f.label}")
    if op.values == 0:
        return {f.name: {"is_null": op is EMPTY}}
    value, to = row.value.strip(), row.to.strip() if op.values == 2 else ""
    if not value and not to:
        return None
    if op.name == "between":
        return _between(f, value, to)
    if op.name == "on" and f.kind is Kind.DATETIME:
        start = _day(value)
        if start is None:
            return {f.name: {"eq": value}}  # the service says what is wrong with it
        return {f.name: {"ge": _iso(start), "lt": _iso(start + dt.timedelta(days=1))}}
    if op.name == "on":
        return {f.name: {"eq": value}}
    if f.kind is Kind.BOOLEAN:
        if value not in ("true", "false"):
            raise RowError("choose Yes or No")
        return {f.name: {"eq": value == "true"}}
    if op.name == "has":
        return {f.name: {"contains": value}}
    if op.name == "entity":
        return {f"{f.name}.entity": {"eq": value}}
    if f.kind is Kind.POLYMORPHIC_LOOKUP:
        return {f"{f.name}.id": {"eq": value}}
    if f.kind is Kind.LOOKUP:
        return _lookup(f, value, name_of)
    return {f.name: {op.name: value}}


def _between(f: FieldDefinition, low: str, high: str) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    if f.kind is Kind.DATETIME:
        # A date means the whole day (UTC): from its start, to the end of the last day.
        start, end = _day(low), _day(high)
        if low:
            ops["ge"] = _iso(start) if start is not None else low
        if high:
            ops["lt" if end is not None else "le"] = (
                _iso(end + dt.timedelta(days=1)) if end is not None else high
            )
        return {f.name: ops}
    if low:
        ops["ge"] = low
    if high:
        ops["le"] = high
    return {f.name: ops}


def _lookup(f: FieldDefinition, value: str, name_of: NameOf) -> dict[str, Any]:
    try:
        return {f.name: {"eq": str(uuid.UUID(value))}}
    except ValueError:
        pass
    named = name_of(f.target) if f.target else ()
    if not named:
        raise RowError(f"give the id of a {f.target} (it has no name to search by)")
    found = [{f"{f.name}.{n}": {"contains": value}} for n in named]
    return found[0] if len(found) == 1 else {"or": found}


def _day(text: str) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


# -- from a saved filter back to rows -----------------------------------


def rows_of(
    definition: EntityDefinition,
    fields: Mapping[str, FieldDefinition],
    saved: Any,
    name_of: NameOf,
) -> tuple[list[FilterRow], list[Any]]:
    """The rows that make up ``saved`` (an AND of conditions), and the parts no row makes."""
    if saved is None or saved == {}:
        return [], []
    parts = saved["and"] if isinstance(saved, dict) and list(saved) == ["and"] else [saved]
    if not isinstance(parts, list):
        return [], [saved]
    rows: list[FilterRow] = []
    rest: list[Any] = []
    for part in parts:
        row = _row_of(definition, fields, part, name_of)
        if row is None:
            rest.append(part)
        else:
            rows.append(row)
    return rows, rest


def _row_of(
    definition: EntityDefinition,
    fields: Mapping[str, FieldDefinition],
    part: Any,
    name_of: NameOf,
) -> FilterRow | None:
    if not isinstance(part, dict) or len(part) != 1:
        return None
    [(path, ops)] = part.items()
    if path == "or" and isinstance(ops, list) and ops and isinstance(ops[0], dict):
        # A lookup found by a name of several fields (first or last name).
        [(path, ops)] = list(ops[0].items())[:1] or [("", None)]
    if not isinstance(path, str) or not isinstance(ops, dict):
        return None
    f = fields.get(path.partition(".")[0])
    if f is None:
        return None
    for row in _guesses(f, ops):
        try:
            if condition(definition, f, row, name_of) == part:
                return row
        except RowError:
            continue
    return None


def _guesses(f: FieldDefinition, ops: dict[str, Any]) -> list[FilterRow]:
    """Rows that might make ``ops``; :func:`_row_of` keeps the one that does."""
    name, guesses = f.name, []
    if set(ops) == {"is_null"}:
        return [FilterRow(name, "empty" if ops["is_null"] is True else "filled")]
    values = [v for v in ops.values() if isinstance(v, str | int | float | bool)]
    if len(values) != len(ops):
        return []
    text = ["true" if v is True else "false" if v is False else str(v) for v in values]
    first = text[0]
    for op in operators(f):
        guesses.append(FilterRow(name, op.name, first))
    low, high = str(ops.get("ge", "")), str(ops.get("le", ops.get("lt", "")))
    if f.kind is Kind.DATETIME:
        low = str(_date_of(low) or low)
        lt = _date_of(str(ops.get("lt", "")))
        high = (lt - dt.timedelta(days=1)).isoformat() if lt else high
    guesses.append(FilterRow(name, "between", low, high))
    if f.kind is Kind.DATETIME:
        guesses.append(FilterRow(name, "on", low))
    return guesses


def _date_of(text: str) -> dt.date | None:
    """The day of a datetime our form made (midnight UTC), None for anything else."""
    day = _day(text[:10])
    return day.date() if day is not None and text == _iso(day) else None


# -- the rows of a list, together --------------------------------------


@dataclass
class Combined:
    """The filter of a list's rows and query: the AND of their conditions.

    ``owners[i]`` says which row the ``i``-th condition came from (None for the
    query-language filter), so that a problem the service finds at
    ``/filter/and/i`` is said next to that row.
    """

    filter: dict[str, Any] | None
    owners: list[int | None]
    #: What is wrong with the query-language filter, said next to it.
    query_error: str | None = None

    @property
    def valid(self) -> bool:
        """True when no row and no query had a problem the form could see."""
        return self.query_error is None


def combine(
    definition: EntityDefinition,
    fields: Mapping[str, FieldDefinition],
    rows: list[FilterRow],
    query: str,
    name_of: NameOf,
) -> Combined:
    """The conditions of ``rows`` and ``query`` ANDed; rows' own problems go in ``row.error``."""
    parts: list[Any] = []
    owners: list[int | None] = []
    for i, row in enumerate(rows):
        f = fields.get(row.field)
        if f is None:
            row.error = f"{definition.label} has no field {row.field!r} to filter by"
            continue
        try:
            made = condition(definition, f, row, name_of)
        except RowError as error:
            row.error = str(error)
            continue
        if made is not None:
            parts.append(made)
            owners.append(i)
    combined = Combined(None, owners)
    if query:
        try:
            parts.append(json.loads(query))
            owners.append(None)
        except (ValueError, RecursionError) as error:
            combined.query_error = f"not valid JSON: {error}"
    combined.filter = {"and": parts} if parts else None
    return combined


def row_of_problem(pointer: str, owners: list[int | None]) -> tuple[bool, int | None]:
    """Whether a problem at ``pointer`` concerns the filter, and which row (None: the query)."""
    parts = pointer.split("/")
    if len(parts) < 4 or parts[1:3] != ["filter", "and"] or not parts[3].isdigit():
        return pointer.startswith("/filter"), None
    index = int(parts[3])
    return True, owners[index] if index < len(owners) else None
