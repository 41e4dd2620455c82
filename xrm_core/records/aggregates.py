"""Aggregates: count, sum, avg, min, max, grouped by fields or by day / month / year."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xrm_core.errors import Problem, QueryError, pointer, shown
from xrm_core.metadata.definition import NUMBER_KINDS, TEMPORAL_KINDS, Kind
from xrm_core.records.query import QueryBuilder

FUNCTIONS = ("count", "sum", "avg", "min", "max")
MAX_GROUPS = 32
MAX_MEASURES = 64
PERIODS = {
    # period: (SQLite strftime format, PostgreSQL to_char format)
    "day": ("%Y-%m-%d", "YYYY-MM-DD"),
    "month": ("%Y-%m", "YYYY-MM"),
    "year": ("%Y", "YYYY"),
}


class _WholeSum(sa.TypeDecorator[int]):
    """The sum of an integer column as a Python int, however large."""

    impl = sa.BigInteger
    cache_ok = True

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> int | None:
        return None if value is None else int(value)


@dataclass(frozen=True)
class Measure:
    """``function(field)``; ``field`` is None for a plain count of records."""

    function: str
    field: str | None = None


def parse_measure(name: str, spec: Any) -> Measure:
    """``"count"``, ``"sum:amount"`` or ``{"function": "sum", "field": "amount"}``."""
    at = "/measures" + pointer(name)
    if isinstance(spec, str):
        function, _, name_of_field = spec.partition(":")
        spec = {"function": function, "field": name_of_field or None}
    if not isinstance(spec, Mapping) or spec.get("function") not in FUNCTIONS:
        raise _error(at, f"a measure is one of {', '.join(FUNCTIONS)}, e.g. 'sum:amount'")
    field = spec.get("field")
    if field is None and spec["function"] != "count":
        raise _error(at, f"{spec['function']!r} needs a field, e.g. '{spec['function']}:amount'")
    if field is not None and (not isinstance(field, str) or not field):
        raise _error(at, "a measure's field is a field path such as 'amount'")
    return Measure(spec["function"], field)


def aggregate_query(
    builder: QueryBuilder,
    group_by: Sequence[str],
    measures: Mapping[str, Any],
    where: sa.ColumnElement[bool] | None,
) -> tuple[sa.Select[Any], list[str]]:
    """The SELECT for an aggregate and the names of its output columns."""
    if not measures:
        measures = {"count": "count"}
    # PostgreSQL returns at most 1,664 columns; SQLite 2,000.
    if len(group_by) > MAX_GROUPS:
        raise _error("/group_by", f"group by at most {MAX_GROUPS} fields")
    if len(measures) > MAX_MEASURES:
        raise _error("/measures", f"ask for at most {MAX_MEASURES} measures")
    groups: list[sa.ColumnElement[Any]] = []
    names: list[str] = []
    for i, spec in enumerate(group_by):
        if not isinstance(spec, str):
            raise _error(
                f"/group_by/{i}", "a group is a field path, optionally ':day', ':month' or ':year'"
            )
        groups.append(_group(builder, spec, f"/group_by/{i}").label(f"g{i}"))
        names.append(spec)
    columns: list[sa.ColumnElement[Any]] = []
    for j, (name, spec) in enumerate(measures.items()):
        if not isinstance(name, str) or not name:
            raise _error("/measures", "a measure's name is a non-empty string")
        columns.append(_measure(builder, parse_measure(name, spec), name).label(f"m{j}"))
        names.append(name)
    query = sa.select(*groups, *columns).select_from(builder.from_clause())
    if where is not None:
        query = query.where(where)
    if groups:
        # NULL is the smallest value, as in sorted queries (PostgreSQL puts it last by default).
        postgresql = builder.catalog.dialect == "postgresql"
        order = [g.asc().nulls_first() if postgresql else g.asc() for g in groups]
        query = query.group_by(*groups).order_by(*order)
    return query, names


def _group(builder: QueryBuilder, spec: str, at: str) -> sa.ColumnElement[Any]:
    path, _, period = spec.partition(":")
    resolved = builder.resolve(path, at)
    if not period:
        # A polymorphic lookup is two columns: group by its .entity and .id.
        if resolved.field.kind in (Kind.JSON, Kind.MULTI_CHOICE, Kind.POLYMORPHIC_LOOKUP):
            raise _error(at, f"cannot group by a {resolved.field.kind} field")
        return resolved.column
    if period not in PERIODS:
        raise _error(at, f"unknown period {shown(period)}; use day, month or year")
    if resolved.field.kind not in TEMPORAL_KINDS:
        raise _error(at, f"{shown(path)} is not a date or datetime, so it has no {period}")
    sqlite_format, pg_format = PERIODS[period]
    if builder.catalog.dialect == "postgresql":
        return sa.func.to_char(resolved.column, pg_format)
    return sa.func.strftime(sqlite_format, resolved.column)


def _measure(builder: QueryBuilder, measure: Measure, name: str) -> sa.ColumnElement[Any]:
    at = "/measures" + pointer(name)
    if measure.field is None:
        return sa.func.count()
    resolved = builder.resolve(measure.field, at)
    kind = resolved.field.kind
    if measure.function == "count":
        return sa.func.count(resolved.column)
    if measure.function in ("sum", "avg") and kind not in NUMBER_KINDS:
        raise _error(
            at, f"{measure.function!r} needs a number field; {shown(measure.field)} is {kind}"
        )
    # Ids have no order worth asking for (and PostgreSQL has no min(uuid)).
    if kind in (Kind.JSON, Kind.MULTI_CHOICE, Kind.BOOLEAN, Kind.POLYMORPHIC_LOOKUP, Kind.LOOKUP):
        raise _error(at, f"{measure.function!r} does not apply to a {kind} field")
    if measure.function == "avg":
        return sa.func.avg(resolved.column, type_=sa.Float())
    if measure.function == "sum" and kind is Kind.INTEGER:
        # PostgreSQL sums bigint as numeric, exactly; a cast back to bigint would overflow.
        return sa.func.sum(resolved.column, type_=_WholeSum())
    function = getattr(sa.func, measure.function)
    return function(resolved.column, type_=resolved.column.type)  # type: ignore[no-any-return]


def _error(at: str, message: str) -> QueryError:
    return QueryError("the aggregate is not valid", [Problem(at, message)])
