"""Compiling the query language to SQLAlchemy: paths, conditions, sorting, cursors.

Every identifier is looked up in metadata before it touches SQL; values travel
as bound parameters. NULL sorts as the smallest value on both databases
(SQLite's native order; PostgreSQL indexes are built to match).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pydantic
import sqlalchemy as sa
from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python
from sqlalchemy.dialects import postgresql

from xrm_core.errors import AccessDenied, Problem, QueryError, pointer, shown
from xrm_core.metadata.definition import (
    NUMBER_KINDS,
    TEMPORAL_KINDS,
    TEXT_KINDS,
    EntityDefinition,
    FieldDefinition,
    Kind,
)
from xrm_core.metadata.models import value_type
from xrm_core.records.filters import (
    MAX_CONDITIONS,
    MAX_VALUES,
    And,
    Condition,
    Not,
    Or,
    as_part,
    check_depth,
    check_operand,
    parse_filter,
)
from xrm_core.security.predicates import Access
from xrm_core.storage.ddl import Catalog

#: System columns as fields: what they hold, for filtering and sorting.
SYSTEM_FIELDS = {
    f.name: f
    for f in (
        FieldDefinition("id", Kind.LOOKUP, "Id"),
        FieldDefinition("created_at", Kind.DATETIME, "Created at"),
        FieldDefinition("created_by", Kind.LOOKUP, "Created by"),
        FieldDefinition("updated_at", Kind.DATETIME, "Updated at"),
        FieldDefinition("updated_by", Kind.LOOKUP, "Updated by"),
        FieldDefinition("owner_id", Kind.LOOKUP, "Owner"),
        FieldDefinition("owner_type", Kind.STRING, "Owner type"),
        FieldDefinition("business_unit_id", Kind.LOOKUP, "Business unit"),
        FieldDefinition("version", Kind.INTEGER, "Version"),
    )
}
#: Sort keys of one query (SQLite takes a few thousand ORDER BY terms at most).
MAX_SORT_KEYS = 32
NOT_NULL_SYSTEM = frozenset({"id", "created_at", "updated_at", "version"})
_BIGINT = sa.BigInteger()

_ORDERED = NUMBER_KINDS | TEMPORAL_KINDS | TEXT_KINDS | {Kind.LOOKUP}
_ALLOWED_OPS: dict[str, frozenset[Kind]] = {
    "eq": frozenset(Kind) - {Kind.JSON, Kind.MULTI_CHOICE, Kind.POLYMORPHIC_LOOKUP},
    "lt": _ORDERED,
    "contains": TEXT_KINDS | {Kind.MULTI_CHOICE},
    "starts_with": TEXT_KINDS,
    "is_null": frozenset(Kind),
}
_ALLOWED_OPS |= {
    "ne": _ALLOWED_OPS["eq"],
    "in": _ALLOWED_OPS["eq"],
    "not_in": _ALLOWED_OPS["eq"],
    "le": _ALLOWED_OPS["lt"],
    "gt": _ALLOWED_OPS["lt"],
    "ge": _ALLOWED_OPS["lt"],
}


@dataclass(frozen=True)
class Resolved:
    """A path resolved to a column: its field, SQL expression and nullability."""

    path: str
    field: FieldDefinition
    column: sa.ColumnElement[Any]
    nullable: bool


class QueryBuilder:
    """Resolves paths for one entity and collects the joins they need."""

    def __init__(self, catalog: Catalog, entity: str) -> None:
        self.catalog = catalog
        self.definition = catalog.definitions[entity]
        self.table = catalog.table(entity)
        self._joins: dict[str, tuple[sa.FromClause, sa.ColumnElement[bool]]] = {}
        self._aliases: dict[str, tuple[EntityDefinition, sa.FromClause]] = {
            "": (self.definition, self.table)
        }
        #: Values of the bound parameters, by name, in the order they appear.
        self.params: dict[str, Any] = {}
        #: What the SQL depends on besides the values: the cache key of a statement.
        self.shape: list[Any] = []
        self._emit = True
        self._conditions = 0
        self._values = 0
        #: Says whether a field of an entity is secured from the caller (field security).
        self.hidden: Callable[[str, str], bool] | None = None
        #: The caller's read predicate over a joined entity: a related record one may
        #: not read joins as if absent, so paths through it reveal nothing.
        self.join_access: Callable[[EntityDefinition, sa.FromClause], Access] | None = None
        #: Values of the join predicates' parameters, and their shapes (cache keys).
        self.scope_params: dict[str, Any] = {}
        self.scope_keys: list[Any] = []

    def from_clause(self) -> sa.FromClause:
        """The entity's table left-joined to every table a resolved path reached."""
        clause: sa.FromClause = self.table
        for alias, on in self._joins.values():
            clause = clause.outerjoin(alias, on)
        return clause

    def resolve(self, path: str, at: str) -> Resolved:
        """Resolve ``account.industry`` to a column, joining as needed."""
        if not isinstance(path, str):
            raise _error(at, "a field path is a string such as 'account.industry'")
        parts = path.split(".")
        prefix = ""
        definition, table = self._aliases[""]
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            field = self._field(definition, name, path, at)
            if field.kind is Kind.POLYMORPHIC_LOOKUP and i == len(parts) - 2:
                return self._polymorphic_part(field, table, parts[-1], path, at, prefix)
            if last:
                nullable = bool(prefix) or name not in NOT_NULL_SYSTEM
                return Resolved(path, field, table.c[field.columns[0]], nullable)
            if field.kind is not Kind.LOOKUP or field.target is None:
                raise _error(
                    at, f"{shown(name)} in {shown(path)} is not a lookup, so it has no fields"
                )
            step = f"{prefix}.{name}" if prefix else name
            if step not in self._aliases:
                target = self.catalog.definitions[field.target]
                alias = self.catalog.table(field.target).alias(f"j{len(self._aliases)}")
                self._aliases[step] = (target, alias)
                on = alias.c.id == table.c[field.name]
                if self.join_access is not None:
                    allowed = self.join_access(target, alias)
                    if allowed.where is not None:
                        on = sa.and_(on, allowed.where)
                    self.scope_params.update(allowed.params)
                    self.scope_keys.append((step, allowed.key))
                self._joins[step] = (alias, on)
            definition, table = self._aliases[step]
            prefix = step
        raise AssertionError("unreachable")  # pragma: no cover

    def _polymorphic_part(
        self,
        field: FieldDefinition,
        table: sa.FromClause,
        part: str,
        path: str,
        at: str,
        prefix: str,
    ) -> Resolved:
        entity_col, id_col = field.columns
        if part == "entity":
            # Any entity's name is text; listed targets are the choices.
            kind = Kind.STRING if field.any_entity else Kind.CHOICE
            pseudo = FieldDefinition(field.name, kind, field.label, choices=field.targets)
            return Resolved(path, pseudo, table.c[entity_col], True)
        if part == "id":
            pseudo = FieldDefinition(field.name, Kind.LOOKUP, field.label)
            return Resolved(path, pseudo, table.c[id_col], True)
        raise _error(at, f"a polymorphic lookup has only 'entity' and 'id', not {shown(part)}")

    def _field(
        self, definition: EntityDefinition, name: str, path: str, at: str
    ) -> FieldDefinition:
        if name in SYSTEM_FIELDS:
            return SYSTEM_FIELDS[name]
        if definition.has_field(name):
            if self.hidden is not None and self.hidden(definition.name, name):
                raise AccessDenied(
                    f"you may not read the secured field {name!r} of {definition.name!r}",
                    [Problem(at, f"{shown(path)}: secured, no permission to read")],
                )
            return definition.field(name)
        raise _error(
            at, f"unknown field {shown(name)} in {shown(path)} (entity {definition.name!r})"
        )

    # -- filters ---------------------------------------------------------

    def where(self, raw: Any) -> sa.ColumnElement[bool] | None:
        """The WHERE clause of a filter (None for no filter); values become bound parameters."""
        if raw is None:
            return None
        compiled: sa.ColumnElement[bool] = self._compile(parse_filter(raw), "", guard=False)
        return compiled

    def check(self, raw: Any) -> None:
        """Check a filter and collect its :attr:`params` and :attr:`shape`, building no SQL.

        Two filters of the same shape compile to the same statement with the
        same parameter names, so a statement built once serves both.
        """
        self._emit = False
        try:
            if raw is not None:
                self._compile(parse_filter(raw), "", guard=False)
        finally:
            self._emit = True

    def check_after(self, keys: list[tuple[Resolved, bool]], values: list[Any]) -> None:
        """:meth:`after` for :meth:`check`: parameters and shape only."""
        self._emit = False
        try:
            self.after(keys, values)
        finally:
            self._emit = True

    def _bind(
        self, col: sa.ColumnElement[Any], value: Any, expanding: bool = False, array: bool = False
    ) -> Any:
        name = f"p{len(self.params)}"
        self.params[name] = value
        if not self._emit:
            return None
        # An INTEGER column (version) compares with any 64-bit value: bound as
        # BIGINT, a value beyond 32 bits matches nothing instead of failing.
        type_: Any = _BIGINT if isinstance(col.type, sa.Integer) else col.type
        if array:
            type_ = postgresql.ARRAY(type_)
        return sa.bindparam(name, value, type_=type_, expanding=expanding)

    def _compile(self, node: Any, at: str, guard: bool, depth: int = 0) -> Any:
        # ``at`` points below /filter; trees built in Python (which may hold
        # JSON parts) get the pointer of the equivalent JSON form.
        check_depth(depth, at)
        node = parse_filter(node, at, depth=depth)
        if isinstance(node, And | Or):
            key = "and" if isinstance(node, And) else "or"
            if not isinstance(node.items, Sequence):
                raise _error(f"/filter{at}/{key}", f"'{key}' takes a list of filters")
            self.shape.append((key, len(node.items)))
            parts = [
                self._compile(n, f"{at}/{key}/{i}", guard, depth + 1)
                for i, n in enumerate(node.items)
            ]
            if not self._emit:
                return None
            return sa.and_(sa.true(), *parts) if key == "and" else sa.or_(sa.false(), *parts)
        if isinstance(node, Not):
            # Under NOT, a comparison with an empty value must read as false, not
            # unknown, so that NOT gives the complement of what it wraps.
            self.shape.append("not")
            inner = self._compile(node.item, f"{at}/not", True, depth + 1)
            return sa.not_(inner) if self._emit else None
        return self._condition(node, at, guard)

    # Condition compilers return None when only checking (see :meth:`check`).
    def _condition(self, cond: Condition, at: str, guard: bool) -> Any:
        key_at = cond.at if cond.at is not None else at + pointer(as_part(cond.path))
        op_at = key_at if cond.implicit else key_at + pointer(as_part(cond.op))
        check_operand(cond.op, cond.value, op_at)
        self._conditions += 1
        self._values += len(cond.value) if cond.op in ("in", "not_in") else 1
        if self._conditions > MAX_CONDITIONS or self._values > MAX_VALUES:
            raise _error(
                "/filter" + key_at,
                f"a filter holds at most {MAX_CONDITIONS} conditions and {MAX_VALUES} values",
            )
        if cond.value is None and cond.op in ("eq", "ne"):
            # As in the JSON form: ``eq None`` asks for no value (a Python-built Condition).
            cond = dataclasses.replace(cond, op="is_null", value=cond.op == "eq")
        at = "/filter" + op_at
        resolved = self.resolve(cond.path, "/filter" + key_at)
        field, col = resolved.field, resolved.column
        if field.kind not in _ALLOWED_OPS[cond.op]:
            raise _error(at, f"operator {cond.op!r} does not apply to a {field.kind} field")
        self.shape.append((cond.path, cond.op, guard, cond.value if cond.op == "is_null" else None))
        if cond.op == "is_null":
            empty = _is_empty(col, field, self.catalog.dialect)
            return empty if cond.value else sa.not_(empty)
        expr = self._comparison(cond, resolved, at)
        if not self._emit:
            return None
        if cond.op in ("ne", "not_in"):
            return sa.or_(expr, col.is_(None)) if resolved.nullable else expr
        if guard and resolved.nullable:
            return sa.and_(expr, col.is_not(None))
        return expr

    def _comparison(self, cond: Condition, resolved: Resolved, at: str) -> Any:
        field, col, op = resolved.field, resolved.column, cond.op
        if op in ("in", "not_in"):
            values = [coerce(field, v, f"{at}/{i}") for i, v in enumerate(cond.value)]
            if self.catalog.dialect == "postgresql":
                # One array, not an IN list: the same SQL text for any number of values,
                # which psycopg converts once (see records._reading._ids_statement).
                bound = self._bind(col, values, array=True)
                if not self._emit:
                    return None
                return col == sa.any_(bound) if op == "in" else col != sa.all_(bound)
            bound = self._bind(col, values, expanding=True)
            if not self._emit:
                return None
            return col.in_(bound) if op == "in" else col.not_in(bound)
        if field.kind is Kind.MULTI_CHOICE:
            choice = coerce(_element(field), cond.value, at)
            return self._has_choice(col, self._bind(sa.literal(""), choice))
        if op in ("contains", "starts_with"):
            if not isinstance(cond.value, str) or not cond.value:
                raise _error(at, f"{op!r} takes a non-empty string")
            pattern = _escape_like(cond.value)
            pattern = f"%{pattern}%" if op == "contains" else f"{pattern}%"
            return _like(col, self._bind(col, pattern), self.catalog.dialect)
        value = self._bind(col, coerce(field, cond.value, at))
        if not self._emit:
            return None
        compare: dict[str, Callable[[Any], sa.ColumnElement[bool]]] = {
            "eq": col.__eq__,
            "ne": col.__ne__,
            "lt": col.__lt__,
            "le": col.__le__,
            "gt": col.__gt__,
            "ge": col.__ge__,
        }
        return compare[op](value)

    def _has_choice(self, col: sa.ColumnElement[Any], value: Any) -> Any:
        if not self._emit:
            return None
        if self.catalog.dialect == "postgresql":
            return col.op("@>")(sa.func.jsonb_build_array(value))
        items = sa.func.json_each(col).table_valued("value")
        return sa.exists(sa.select(1).select_from(items).where(items.c.value == value))

    # -- sorting and cursors --------------------------------------------

    def order(self, order: Sequence[str] | None) -> list[tuple[Resolved, bool]]:
        """Resolve sort keys (``-name`` is descending); ``id`` is always last."""
        keys: list[tuple[Resolved, bool]] = []
        if order is not None and len(order) > MAX_SORT_KEYS:
            raise _error("/order", f"sort on at most {MAX_SORT_KEYS} keys")
        for i, spec in enumerate(order or ()):
            if not isinstance(spec, str) or spec in ("", "-"):
                raise _error(f"/order/{i}", "a sort key is a field path, '-' first for descending")
            desc = spec.startswith("-")
            resolved = self.resolve(spec.lstrip("-"), f"/order/{i}")
            if resolved.field.kind in (Kind.JSON, Kind.MULTI_CHOICE, Kind.POLYMORPHIC_LOOKUP):
                raise _error(f"/order/{i}", f"cannot sort on a {resolved.field.kind} field")
            keys.append((resolved, desc))
        if not any(r.path == "id" for r, _ in keys):
            keys.append((self.resolve("id", "/order"), False))
        return keys

    def order_by(self, keys: list[tuple[Resolved, bool]]) -> list[sa.ColumnElement[Any]]:
        """ORDER BY terms: NULL smallest (explicit on PostgreSQL, native on SQLite)."""
        terms: list[sa.ColumnElement[Any]] = []
        for resolved, desc in keys:
            term = resolved.column.desc() if desc else resolved.column.asc()
            if resolved.nullable and self.catalog.dialect == "postgresql":
                term = term.nulls_last() if desc else term.nulls_first()
            terms.append(term)
        return terms

    def after(self, keys: list[tuple[Resolved, bool]], values: list[Any]) -> Any:
        """Rows strictly after ``values`` in the order of ``keys`` (keyset pagination).

        Which values are NULL shapes the SQL; the others are bound parameters.
        """
        self.shape.append(("after", tuple(v is None for v in values)))
        bound = [
            None if v is None else self._bind(r.column, v)
            for (r, _), v in zip(keys, values, strict=True)
        ]
        if not self._emit:
            return None
        alternatives = []
        for i, (resolved, desc) in enumerate(keys):
            equal = [_same(r.column, b) for (r, _), b in zip(keys[:i], bound[:i], strict=True)]
            alternatives.append(sa.and_(*equal, _beyond(resolved.column, bound[i], desc)))
        return sa.or_(*alternatives)


def _is_empty(
    col: sa.ColumnElement[Any], field: FieldDefinition, dialect: str
) -> sa.ColumnElement[bool]:
    """``col`` holds no value; a JSON ``null`` in a JSON column reads back as None, so it counts."""
    if field.kind not in (Kind.JSON, Kind.MULTI_CHOICE):
        return col.is_(None)
    json_type = sa.func.jsonb_typeof(col) if dialect == "postgresql" else sa.func.json_type(col)
    return sa.or_(col.is_(None), json_type == "null")


def _same(col: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    return col.is_(None) if value is None else col == value


def _beyond(col: sa.ColumnElement[Any], value: Any, desc: bool) -> sa.ColumnElement[bool]:
    """``col`` comes after ``value`` (a bound parameter, or None) when NULL is smallest."""
    if desc:
        return sa.false() if value is None else sa.or_(col < value, col.is_(None))
    return col.is_not(None) if value is None else col > value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(col: sa.ColumnElement[Any], pattern: Any, dialect: str) -> Any:
    # Case-insensitive on both: SQLite's LIKE already is (for ASCII letters).
    if pattern is None:  # checking only, no SQL
        return None
    if dialect == "postgresql":
        return col.ilike(pattern, escape="\\")
    return col.like(pattern, escape="\\")


def _element(field: FieldDefinition) -> FieldDefinition:
    return dataclasses.replace(field, kind=Kind.CHOICE)


@lru_cache(maxsize=1024)
def _filter_adapter(
    kind: Kind, choices: tuple[str, ...], precision: int | None
) -> TypeAdapter[Any]:
    # Filter values follow the field's type but not its rules: a filter may ask
    # for a value longer than maxLength, or outside minimum/maximum.
    loose = FieldDefinition("value", kind, "", choices=choices, precision=None, scale=None)
    return TypeAdapter(value_type(loose))


def coerce(field: FieldDefinition, value: Any, at: str) -> Any:
    """Convert a JSON value to the field's Python type; raise :class:`QueryError`."""
    if value is None:
        raise _error(at, "null is not a value here; use is_null")
    if isinstance(value, bool) and field.kind in NUMBER_KINDS:
        # pydantic would read true as 1; in a filter that is a mistake, not a number.
        raise _error(at, f"{shown(value)} is not a valid {field.kind} value: give a number")
    try:
        return _filter_adapter(field.kind, field.choices, field.precision).validate_python(value)
    except pydantic.ValidationError as exc:
        message = exc.errors(include_url=False)[0]["msg"]
        raise _error(at, f"{shown(value)} is not a valid {field.kind} value: {message}") from None


def encode_cursor(order: Sequence[str], values: Sequence[Any]) -> str:
    """An opaque cursor: the sort values of the last row, tied to the sort order."""
    payload = {"o": _order_tag(order), "v": to_jsonable_python(list(values))}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, order: Sequence[str], keys: list[tuple[Resolved, bool]]
) -> list[Any]:
    """The sort values inside ``cursor``; raise :class:`QueryError` when it does not fit."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        values = payload["v"]
        tag = payload["o"]
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
        raise _error("/cursor", "not a cursor this service issued") from None
    if tag != _order_tag(order) or not isinstance(values, list) or len(values) != len(keys):
        raise _error("/cursor", "the cursor belongs to a different sort order")
    return [
        None if v is None else coerce(r.field, v, "/cursor")
        for (r, _), v in zip(keys, values, strict=True)
    ]


def _order_tag(order: Sequence[str]) -> str:
    return hashlib.sha1("|".join(order).encode()).hexdigest()[:8]


def _error(at: str, message: str) -> QueryError:
    return QueryError("the query is not valid", [Problem(at, message)])
