"""The filter language: a small tree of conditions, written as JSON or built in Python.

JSON form (the same in REST, GraphQL variables, saved views and Python)::

    {"name": {"starts_with": "Ad"}}                    # one condition
    {"status": "open", "amount": {"ge": 100}}          # several keys: all must hold
    {"or": [{"status": "open"}, {"account.industry": {"in": ["retail", "food"]}}]}
    {"not": {"email": {"is_null": true}}}

A bare value is ``eq``; ``null`` is ``is_null``. Paths follow lookups with dots
(``account.industry``). Python form: :class:`Condition`, :class:`And`,
:class:`Or`, :class:`Not`, or the helper :func:`where`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from xrm_core.errors import Problem, QueryError, pointer, shown

OPERATORS = (
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "is_null",
)

# Bounds that keep every filter within what both databases accept: SQLite
# parses about 45 nested NOTs and expression trees 1,000 deep, PostgreSQL
# takes 65,535 parameters per statement.
#: Levels of and / or / not.
MAX_DEPTH = 32
#: Conditions in one filter.
MAX_CONDITIONS = 256
#: Values in one filter, each item of an ``in`` list counting as one.
MAX_VALUES = 10_000


@dataclass(frozen=True)
class Condition:
    """``path op value``: for example ``Condition("amount", "ge", 100)``."""

    path: str
    op: str
    value: Any = None
    #: Where the field's key was written in a JSON filter (a JSON pointer below
    #: ``/filter``), so errors point there; None for a condition built in Python.
    at: str | None = field(default=None, compare=False, repr=False)
    #: The operator was implied by a bare value, so errors point at the key, not at ``/eq``.
    implicit: bool = field(default=False, compare=False, repr=False)


@dataclass(frozen=True)
class And:
    """All of ``items`` hold (true when empty)."""

    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    """At least one of ``items`` holds (false when empty)."""

    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    """``item`` does not hold; a record with an empty value counts as not matching."""

    item: Filter


Filter: TypeAlias = Condition | And | Or | Not


def where(path: str, **ops: Any) -> Filter:
    """Python shorthand: ``where("amount", ge=100, lt=500)``; ``in_=[...]`` for ``in``."""
    # ``in`` is a Python keyword, so it cannot be a keyword argument.
    return parse_filter({path: {("in" if op == "in_" else op): v for op, v in ops.items()}})


def parse_filter(raw: Any, at: str = "", *, depth: int = 0) -> Filter:
    """Parse the JSON form (or pass a tree through); raise :class:`QueryError`.

    ``depth`` is how deep ``raw`` sits in the whole filter (see :data:`MAX_DEPTH`).
    """
    if isinstance(raw, Condition | And | Or | Not):
        return raw
    if not isinstance(raw, Mapping):
        raise _error(at, "a filter is a JSON object")
    check_depth(depth, at)
    items: list[Filter] = []
    for key, value in raw.items():
        here = at + pointer(as_part(key))
        if key in ("and", "or"):
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise _error(here, f"'{key}' takes a list of filters")
            parts = tuple(
                parse_filter(v, here + pointer(i), depth=depth + 1) for i, v in enumerate(value)
            )
            items.append(And(parts) if key == "and" else Or(parts))
        elif key == "not":
            items.append(Not(parse_filter(value, here, depth=depth + 1)))
        elif not isinstance(key, str) or not key:
            raise _error(here, "a field path must be a non-empty string")
        else:
            items.extend(_conditions(key, value, here))
    return items[0] if len(items) == 1 else And(tuple(items))


def _conditions(path: str, value: Any, at: str) -> list[Filter]:
    if not isinstance(value, Mapping):
        return [_condition(path, "eq", value, at, implicit=True)]
    if not value:
        raise _error(at, "give at least one operator")
    found: list[Filter] = []
    for op, operand in value.items():
        check_operand(op, operand, at + pointer(as_part(op)))
        found.append(_condition(path, op, operand, at))
    return found


def as_part(key: Any) -> str:
    """A key of the caller's filter as a JSON pointer part (a key that is not text, shown)."""
    return key if isinstance(key, str) else shown(key)


def check_depth(depth: int, at: str) -> None:
    """Refuse a filter nested deeper than :data:`MAX_DEPTH` (``at`` is below ``/filter``)."""
    if depth > MAX_DEPTH:
        raise _error(at, f"a filter nests and / or / not at most {MAX_DEPTH} levels deep")


def check_operand(op: Any, operand: Any, at: str) -> None:
    """Check an operator and the shape of its operand; raise :class:`QueryError` at ``at``."""
    if op not in OPERATORS:
        raise _error(at, f"unknown operator {shown(op)}; use one of {', '.join(OPERATORS)}")
    if op in ("in", "not_in") and (
        not isinstance(operand, Sequence | AbstractSet) or isinstance(operand, str | bytes)
    ):
        raise _error(at, f"'{op}' takes a list of values")
    if op == "is_null" and not isinstance(operand, bool):
        raise _error(at, "'is_null' takes true or false")


def _condition(path: str, op: str, value: Any, at: str, implicit: bool = False) -> Condition:
    if value is None and op == "eq":
        return Condition(path, "is_null", True, at, implicit)
    if value is None and op == "ne":
        return Condition(path, "is_null", False, at, implicit)
    if isinstance(value, list | AbstractSet):
        value = tuple(value)
    return Condition(path, op, value, at, implicit)


def _error(at: str, message: str) -> QueryError:
    return QueryError("the filter is not valid", [Problem("/filter" + at, message)])
